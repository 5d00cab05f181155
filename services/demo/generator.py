"""A seeded two-year history of the demo network: exactly 413 participants, 148 placed.

Deterministic: one seed always gives the same events with the same ids, so
publishing the history twice changes no count. Consents are part of the history;
contact details (in clear until `Publisher` seals them) only of `demo_network`,
for a publisher with the participants' data keys (`services/demo/privacy.py`).
`expected_summary` checks the counts by folding the history with the real outcome
rules, never by a side tally.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from collections.abc import Iterable

from refnet.events.catalogue import (
    ConsentGiven,
    ConsentWithdrawn,
    EnrolledData,
    EventModel,
    EventRetracted,
    ParticipantEnrolled,
    RetractedData,
)
from refnet.events.contact import ClearContactRecorded
from refnet.events.fields import REFUSED
from refnet.events.vocabulary import (
    PlacementKind,
)
from refnet.projections.audit.asof import count_outcomes
from refnet.projections.fold.batch import fold_batch
from refnet.projections.fold.derive import derive
from refnet.projections.fold.facts import Position, fact_of
from refnet.projections.fold.rows import ParticipantRows
from refnet.projections.fold.rules import ParticipantState
from refnet.services.demo.model import (
    DemoSummary,
    _Generator,
    _moment,
    _Person,
    _pick,
    _recorded,
    _site_of,
    _Traits,
)
from refnet.services.demo.network import (
    _AGES,
    _DOUBLE_REPORTED,
    _DUPLICATE_ENROLMENTS,
    _DUPLICATE_PUBLISHES,
    _EDUCATION,
    _EMPLOYMENT,
    _GENDERS,
    _GERMAN,
    _INTAKE_WEIGHTS,
    _LATE_OK,
    _MISTAKEN_DECLINES,
    _MISTYPED_PSEUDONYMS,
    _PERMISSIONS,
    _REFUSABLE,
    _SGB2_STATUSES,
    _SITE_WEIGHTS,
    _SPAN,
    _STATUSES,
    _TWO_PARTNER_ENROLMENTS,
    _WRONG_KIND,
    _WRONG_PLACEMENTS,
    DEMO_PARTICIPANTS,
    DEMO_PLACED,
    DEMO_SEED,
    HISTORY_END,
    HISTORY_START,
    PARTNER_SITES,
    PROGRAMME,
)
from refnet.services.demo.privacy import merged, privacy_events
from refnet.services.demo.steps import (
    _duplicate_enrolment,
    _leaving,
    _own_training,
    _placement,
    _referrals,
    _residence_change,
    _retracted_placement,
    _second_enrolment,
)

ConsentEvents = (ConsentGiven, ConsentWithdrawn)

# ------------------------------------------------------------------ public API


def demo_history(seed: int = DEMO_SEED) -> list[EventModel]:
    """The network's two-year history in log order, duplicates and consents included."""
    history = _outcome_history(seed)
    consents = [e for e in privacy_events(seed, history) if isinstance(e, ConsentEvents)]
    return [e for e in merged(history, consents) if not isinstance(e, ClearContactRecorded)]


def demo_network(seed: int = DEMO_SEED) -> list[EventModel | ClearContactRecorded]:
    """`demo_history` with most participants' contact details, to be sealed on publishing."""
    history = _outcome_history(seed)
    return merged(history, privacy_events(seed, history))


def _outcome_history(seed: int) -> list[EventModel]:
    gen = _Generator(seed)
    people = _plan_network(gen)
    events = [event for person in people for event in _materialise(gen, person)]
    return _as_logged(gen.rng, events)


def fold_rows(events: Iterable[EventModel]) -> dict[str, ParticipantRows]:
    """Fold `events` per participant with the real rules; offset = index in the list."""
    states: dict[str, ParticipantState] = {}
    facts = (
        (event.participant_id, fact_of(event, Position(0, offset)))
        for offset, event in enumerate(events)
    )
    fold_batch(states, facts)
    return {pid: derive(state) for pid, state in states.items()}


def expected_summary(events: Iterable[EventModel]) -> DemoSummary:
    """The counts a correct projection of `events` must show: the replay's own counter.

    `count_outcomes` is the in-memory twin of the read model's SQL, held equal to it
    on the whole demo network by tests/integration/test_audit_replay.py.
    """
    # Overdue is not part of the summary; any limit gives the same figures here.
    outcomes = count_outcomes(fold_rows(events).values(), dt.datetime.now(dt.UTC), 14)
    refs = outcomes.referrals
    return DemoSummary(
        participants=outcomes.participants,
        placed=outcomes.placed.total,
        apprenticeship=outcomes.placed.apprenticeship,
        employment=outcomes.placed.employment,
        referrals_sent=refs.sent,
        referrals_accepted=refs.accepted,
        referrals_declined=refs.declined,
        referrals_pending=refs.pending,
    )


# ------------------------------------------------------------------ the network


def _plan_network(gen: _Generator) -> list[_Person]:
    pids = _pseudonyms(gen.seed, DEMO_PARTICIPANTS + _MISTYPED_PSEUDONYMS)
    traits = _assign_traits(gen.rng)
    people = [_plan(gen, pids[i], traits[i]) for i in range(DEMO_PARTICIPANTS)]
    people += [_mistyped(gen, pid) for pid in pids[DEMO_PARTICIPANTS:]]
    return people


def _pseudonyms(seed: int, count: int) -> list[str]:
    """Distinct `p-` + 10 hex pseudonyms, a pure function of the seed."""
    found: list[str] = []
    seen: set[str] = set()
    n = 0
    while len(found) < count:
        digest = hashlib.sha256(f"refnet-demo:{seed}:{n}".encode()).hexdigest()
        n += 1
        if (pid := f"p-{digest[:10]}") not in seen:
            seen.add(pid)
            found.append(pid)
    return found


def _assign_traits(rng: random.Random) -> list[_Traits]:
    """Exactly 148 placed; the special cases spread over the others."""
    order = list(range(DEMO_PARTICIPANTS))
    rng.shuffle(order)
    placed, rest = order[:DEMO_PLACED], order[DEMO_PLACED:]
    flags: list[dict[str, bool]] = [{} for _ in order]
    marks = {
        "placed": placed,
        "double_reported": placed[:_DOUBLE_REPORTED],
        "wrong_kind": placed[_DOUBLE_REPORTED : _DOUBLE_REPORTED + _WRONG_KIND],
        "wrong_placement": rest[:_WRONG_PLACEMENTS],
        "second_enrolment": rng.sample(order, _TWO_PARTNER_ENROLMENTS),
        "duplicate_enrolment": rng.sample(order, _DUPLICATE_ENROLMENTS),
        "mistaken_decline": rng.sample(order, _MISTAKEN_DECLINES),
    }
    for name, indices in marks.items():
        for i in indices:
            flags[i][name] = True
    return [_Traits(**f) for f in flags]


def _plan(gen: _Generator, pid: str, traits: _Traits) -> _Person:
    """A story whose required events (enrolments, placements, corrections) fit the period."""
    for _ in range(100):
        person = _story(gen, pid, traits)
        last = max(step.day for step in person.steps if step.required)
        if last < _SPAN:
            person.start = _start_day(gen.rng, _SPAN - last, traits.placed)
            return person
    raise RuntimeError(f"no story for {pid} fits {HISTORY_START}..{HISTORY_END}")


def _start_day(rng: random.Random, latest: int, placed: bool) -> int:
    """Placed people need time before the end, so the others lean later: intake stays even."""
    if placed:
        return rng.randint(0, latest)
    if rng.random() < 0.5:
        return rng.randint(0, latest)
    return round(rng.triangular(0, latest, latest))


def _story(gen: _Generator, pid: str, traits: _Traits) -> _Person:
    person = _new_person(gen.rng, pid, traits)
    gen.add(person, 0, person.serving[0], ParticipantEnrolled, person.profile, required=True)
    if traits.duplicate_enrolment:
        _duplicate_enrolment(gen, person)
    _own_training(gen, person)
    if traits.second_enrolment:
        _second_enrolment(gen, person)
    _referrals(gen, person)
    if traits.placed:
        _placement(gen, person)
    elif traits.wrong_placement:
        partner = gen.rng.choice(person.serving)
        kind = gen.rng.choice(list(PlacementKind))
        _retracted_placement(gen, person, partner, kind, "recorded for the wrong participant")
    _residence_change(gen, person)
    _leaving(gen, person)
    return person


def _mistyped(gen: _Generator, pid: str) -> _Person:
    """An enrolment under a mistyped pseudonym, retracted by the partner that made it."""
    person = _new_person(gen.rng, pid, _Traits())
    intake = person.serving[0]
    wrong = gen.add(person, 0, intake, ParticipantEnrolled, person.profile, required=True)
    reason = "pseudonym mistyped; enrolled again under the right one"
    retraction = RetractedData(retracted_event_id=wrong, reason=reason)
    gen.add(person, gen.rng.randint(1, 4), intake, EventRetracted, retraction, required=True)
    person.start = gen.rng.randint(0, _SPAN - person.day)
    return person


def _new_person(rng: random.Random, pid: str, traits: _Traits) -> _Person:
    site = _pick(rng, _SITE_WEIGHTS)
    local = {p: w for p, w in _INTAKE_WEIGHTS.items() if site in PARTNER_SITES[p]}
    profile = _profile(rng, must_consent=traits.mistaken_decline)
    return _Person(pid, site, profile, traits, [_pick(rng, local)])


def _profile(rng: random.Random, must_consent: bool) -> EnrolledData:
    status = _pick(rng, _STATUSES)
    values: dict[str, object] = {
        "programme": PROGRAMME,
        "residence_status": status,
        "work_permission": rng.choice(_PERMISSIONS[status]),
        "sgb2_eligible": status in _SGB2_STATUSES,
        "employment_status": _pick(rng, _EMPLOYMENT),
        "education_level": _pick(rng, _EDUCATION),
        "age_band": _pick(rng, _AGES),
        "gender": _pick(rng, _GENDERS),
        "third_country_national": rng.random() < 0.96,
        "german_level": _pick(rng, _GERMAN),
        "consent_to_share": must_consent or rng.random() < 0.95,
    }
    if rng.random() < 0.05:
        values[rng.choice(_REFUSABLE)] = REFUSED
    return EnrolledData.model_validate(values)


# ------------------------------------------------------------------ from plan to log


def _materialise(gen: _Generator, person: _Person) -> list[EventModel]:
    """The planned events that happened by the end of the period, with times of day."""
    events: list[EventModel] = []
    for step in sorted(person.steps, key=lambda s: s.day):
        day = HISTORY_START + dt.timedelta(days=person.start + step.day)
        if day > HISTORY_END:
            break  # what would follow has not happened yet: pending, running, not left
        occurred = _moment(gen.rng, day)
        event = step.make(
            event_id=step.event_id,
            partner_id=step.partner,
            site=_site_of(step.partner, person.site),
            participant_id=person.pid,
            occurred_at=occurred,
            recorded_at=_recorded(gen.rng, occurred, step.make in _LATE_OK),
            data=step.body(day),
        )
        events.append(event)
    return events


def _as_logged(rng: random.Random, events: list[EventModel]) -> list[EventModel]:
    """Log order (when recorded), with a few events published a second time by a retry."""
    keyed = [(event.recorded_at, i, event) for i, event in enumerate(events)]
    for i in rng.sample(range(len(events)), _DUPLICATE_PUBLISHES):
        again = events[i].recorded_at + dt.timedelta(minutes=rng.randint(1, 90))
        keyed.append((again, len(keyed), events[i]))
    keyed.sort(key=lambda k: (k[0], k[1]))
    return [event for _, _, event in keyed]
