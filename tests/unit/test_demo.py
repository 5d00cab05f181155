"""The demo history: deterministic, exactly 413 participants and 148 placed by the fold.

It must also contain every awkward case a real network produces (duplicates,
retractions, late records, double reports), each one shaped as the catalogue allows.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import TypeVar
from uuid import UUID

import pytest

from refnet.events.catalogue import (
    ConsentGiven,
    ConsentWithdrawn,
    Envelope,
    EventModel,
    EventRetracted,
    ParticipantEnrolled,
    ReferralAccepted,
    ReferralDeclined,
    ReferralSent,
    ResidenceStatusChanged,
    TrainingCompleted,
    TrainingDiscontinued,
    TrainingStarted,
)
from refnet.events.codec import decode, encode
from refnet.events.contact import ClearContactRecorded
from refnet.events.fields import REFUSED
from refnet.events.sealing import DataKey, new_data_key, seal_event
from refnet.events.vocabulary import ConsentPurpose, ResidenceStatus, Service
from refnet.projections.fold.facts import Position, fact_of
from refnet.projections.fold.rows import ParticipantRows
from refnet.projections.fold.rules import ParticipantState, Status, apply
from refnet.services.demo.generator import demo_history, demo_network, expected_summary, fold_rows
from refnet.services.demo.network import (
    DEMO_PARTICIPANTS,
    DEMO_PARTNERS,
    DEMO_PLACED,
    DEMO_SITES,
    HISTORY_END,
    HISTORY_START,
    PARTNER_SITES,
)
from tests.unit.history import day, ev, retract

E = TypeVar("E", bound=Envelope)
PASS = ConsentPurpose.PASS_CONTACT_DETAILS


@pytest.fixture(scope="module")
def history() -> list[EventModel]:
    return demo_history()


@pytest.fixture(scope="module")
def rows(history: list[EventModel]) -> dict[str, ParticipantRows]:
    return fold_rows(history)


def of_type(history: list[EventModel], kind: type[E]) -> list[E]:
    return [e for e in history if isinstance(e, kind)]


def replayed(
    events: Iterable[EventModel],
) -> tuple[dict[str, ParticipantState], list[tuple[str, str | None]]]:
    """Each participant's state after applying `events` in log order, and every rejection."""
    states: dict[str, ParticipantState] = {}
    reasons: list[tuple[str, str | None]] = []
    for offset, event in enumerate(events):
        state = states.setdefault(event.participant_id, ParticipantState(event.participant_id))
        verdict = apply(state, fact_of(event, Position(0, offset)))
        if verdict.status is Status.REJECTED:
            reasons.append((event.type, verdict.reason))
    return states, reasons


def by_id(history: list[EventModel]) -> dict[UUID, EventModel]:
    return {e.event_id: e for e in history}


# ------------------------------------------------------------------ determinism and counts


def test_the_same_seed_gives_the_same_events_and_ids(history: list[EventModel]) -> None:
    again = demo_history(2024)
    assert again == history
    assert [e.event_id for e in again] == [e.event_id for e in history]


def test_another_seed_gives_another_history(history: list[EventModel]) -> None:
    other = demo_history(7)
    assert {e.event_id for e in other}.isdisjoint({e.event_id for e in history})


def test_the_fold_counts_413_participants_and_148_placed(history: list[EventModel]) -> None:
    summary = expected_summary(history)
    assert summary.participants == DEMO_PARTICIPANTS == 413
    assert summary.placed == DEMO_PLACED == 148
    assert summary.apprenticeship + summary.employment == 148
    assert 0.2 < summary.apprenticeship / summary.placed < 0.6


@pytest.mark.parametrize("seed", [1, 99, 31337])
def test_the_counts_are_exact_for_any_seed(seed: int) -> None:
    summary = expected_summary(demo_history(seed))
    assert (summary.participants, summary.placed) == (413, 148)


def test_referral_counts_add_up(history: list[EventModel]) -> None:
    summary = expected_summary(history)
    answered = summary.referrals_accepted + summary.referrals_declined
    assert summary.referrals_sent == answered + summary.referrals_pending
    assert summary.referrals_accepted > 4 * summary.referrals_declined > 0
    assert summary.referrals_pending > 0


def test_publishing_the_history_twice_changes_no_count(history: list[EventModel]) -> None:
    assert expected_summary(history + demo_history()) == expected_summary(history)


def test_the_summary_counts_a_withdrawn_referral_as_never_sent() -> None:
    enrolled = ev("participant.enrolled", "awo-en", day(1))
    kept, withdrawn = (
        ev("referral.sent", "awo-en", day(2), referral_id=rid, to_partner="bobeq")
        for rid in ("kept", "withdrawn")
    )

    summary = expected_summary([enrolled, kept, withdrawn, retract(withdrawn, at=day(3))])

    assert (summary.referrals_sent, summary.referrals_pending) == (1, 1)


@pytest.mark.parametrize("seed", [2024, 1, 99, 31337])
def test_the_history_breaks_no_rule_in_log_order(seed: int) -> None:
    states, reasons = replayed(demo_history(seed))
    assert reasons == []
    assert sum(len(s.facts) for s in states.values()) > 4 * DEMO_PARTICIPANTS


# ------------------------------------------------------------------ the awkward cases


def test_some_events_are_published_twice_with_the_same_id(history: list[EventModel]) -> None:
    twice = [event_id for event_id, n in Counter(e.event_id for e in history).items() if n > 1]
    assert len(twice) >= 5
    for event_id in twice:
        copies = [e for e in history if e.event_id == event_id]
        assert all(copy is copies[0] for copy in copies)


def test_distinct_events_never_share_an_id(history: list[EventModel]) -> None:
    distinct = {id(e): e for e in history}.values()
    assert len({e.event_id for e in distinct}) == len(distinct)


def test_retractions_come_only_from_the_emitter_of_the_original(
    history: list[EventModel],
) -> None:
    events = by_id(history)
    retractions = of_type(history, EventRetracted)
    assert retractions
    for retraction in retractions:
        original = events[retraction.data.retracted_event_id]
        assert original.partner_id == retraction.partner_id
        assert original.participant_id == retraction.participant_id
        assert original.recorded_at < retraction.recorded_at
    retracted = {events[r.data.retracted_event_id].type for r in retractions}
    assert {"participant.enrolled", "participant.placed", "referral.declined"} <= retracted


def test_an_enrolment_under_a_mistyped_pseudonym_is_retracted_and_not_counted(
    rows: dict[str, ParticipantRows],
) -> None:
    not_counted = [pid for pid, r in rows.items() if not r.participant.enrolled]
    assert not_counted
    assert all(rows[pid].participant.placed_at is None for pid in not_counted)


def test_a_wrongly_recorded_placement_is_retracted(
    history: list[EventModel], rows: dict[str, ParticipantRows]
) -> None:
    events = by_id(history)
    originals = [events[r.data.retracted_event_id] for r in of_type(history, EventRetracted)]
    placements = [e for e in originals if e.type == "participant.placed"]
    unplaced = [p for p in placements if rows[p.participant_id].participant.placed_at is None]
    assert unplaced, "a retracted placement of someone never placed at all"


def test_only_the_receiving_partner_answers_a_referral(history: list[EventModel]) -> None:
    sent = {e.data.referral_id: e for e in of_type(history, ReferralSent)}
    answers: list[ReferralAccepted | ReferralDeclined] = [
        *of_type(history, ReferralAccepted),
        *of_type(history, ReferralDeclined),
    ]
    assert answers
    for answer in answers:
        referral = sent[answer.data.referral_id]
        assert answer.partner_id == referral.data.to_partner
        assert answer.participant_id == referral.participant_id
        assert answer.occurred_at > referral.occurred_at


def test_declined_and_pending_referrals_are_there(rows: dict[str, ParticipantRows]) -> None:
    referrals = [ref for r in rows.values() for ref in r.referrals]
    states = Counter(ref.state for ref in referrals)
    assert states["declined"] > 0 and states["pending"] > 0
    assert all(ref.decline_reason for ref in referrals if ref.state == "declined")
    pending_at_end = [
        ref for ref in referrals if ref.state == "pending" and ref.sent_at >= "2024-12"
    ]
    assert pending_at_end


def test_trainings_complete_qualify_stop_and_still_run(rows: dict[str, ParticipantRows]) -> None:
    outcomes = Counter(t.outcome for r in rows.values() for t in r.trainings)
    assert outcomes["qualified"] and outcomes["completed"] and outcomes["discontinued"]
    assert outcomes[None] > 0, "some trainings are still running at the end"


def test_residence_status_changes_from_duldung_to_aufenthaltserlaubnis(
    history: list[EventModel],
) -> None:
    at_intake = {
        e.participant_id: e.data.residence_status for e in of_type(history, ParticipantEnrolled)
    }
    changes = [
        (at_intake[e.participant_id], e.data.residence_status)
        for e in of_type(history, ResidenceStatusChanged)
    ]
    assert (ResidenceStatus.DULDUNG, ResidenceStatus.AUFENTHALTSERLAUBNIS) in changes


def test_some_events_are_recorded_days_after_they_happened(history: list[EventModel]) -> None:
    late = [e for e in history if e.recorded_at - e.occurred_at >= dt.timedelta(days=3)]
    assert len(late) >= 10
    assert all(e.recorded_at >= e.occurred_at for e in history)


def test_a_person_enrolled_by_two_partners_counts_once(rows: dict[str, ParticipantRows]) -> None:
    twice = [
        r for r in rows.values() if len({k.partner_id for k in r.links if k.role == "enrolled"}) > 1
    ]
    assert twice
    assert sum(r.participant.enrolled for r in rows.values()) == 413


def test_a_placement_reported_by_two_partners_counts_once(
    rows: dict[str, ParticipantRows],
) -> None:
    twice = [
        r for r in rows.values() if len({k.partner_id for k in r.links if k.role == "placed"}) > 1
    ]
    assert twice
    assert sum(r.participant.placed_at is not None for r in rows.values()) == 148


# ------------------------------------------------------------------ shape and realism


def test_every_event_round_trips_through_the_codec(history: list[EventModel]) -> None:
    for event in history:
        assert decode(encode(event)) == event


def test_all_partners_sites_and_services_appear(history: list[EventModel]) -> None:
    assert {e.partner_id for e in history} == set(DEMO_PARTNERS)
    assert {e.site for e in history} == set(DEMO_SITES)
    services = {e.data.service for e in of_type(history, ReferralSent)}
    assert services == set(Service)


def test_each_partner_records_only_at_its_own_sites(history: list[EventModel]) -> None:
    assert all(e.site in PARTNER_SITES[e.partner_id] for e in history)
    assert {e.site for e in history if e.partner_id == "partner-bochum"} == {"bochum"}


def test_pseudonyms_are_opaque(history: list[EventModel]) -> None:
    assert all(re.fullmatch(r"p-[0-9a-f]{10}", e.participant_id) for e in history)


def test_some_sensitive_answers_are_refused(history: list[EventModel]) -> None:
    bodies = [e.data.model_dump() for e in of_type(history, ParticipantEnrolled)]
    assert any(REFUSED in body.values() for body in bodies)


def test_everything_happens_within_the_two_years(history: list[EventModel]) -> None:
    assert all(HISTORY_START <= e.occurred_at.date() <= HISTORY_END for e in history)
    assert all(e.recorded_at.date() <= HISTORY_END for e in history)
    enrolments = of_type(history, ParticipantEnrolled)
    quarters = Counter((e.occurred_at.year, (e.occurred_at.month - 1) // 3) for e in enrolments)
    assert len(quarters) == 8, "intake runs through every quarter of the two years"
    assert min(quarters.values()) >= 20


def test_nothing_happens_to_a_participant_before_the_first_enrolment(
    history: list[EventModel],
) -> None:
    first: dict[str, dt.datetime] = {}
    for e in of_type(history, ParticipantEnrolled):
        first[e.participant_id] = min(first.get(e.participant_id, e.occurred_at), e.occurred_at)
    assert all(e.occurred_at >= first[e.participant_id] for e in history)


def test_stories_run_in_causal_order(history: list[EventModel]) -> None:
    """Training start before its end; placement before leaving; leaving before follow-up."""
    times: dict[tuple[str, str], list[dt.datetime]] = defaultdict(list)
    for e in history:
        times[(e.participant_id, e.type)].append(e.occurred_at)
    for pid, kind in list(times):
        if kind == "participant.followed_up":
            assert min(times[(pid, kind)]) > min(times[(pid, "participant.exited")])
        if kind == "participant.exited" and (pid, "participant.placed") in times:
            assert min(times[(pid, kind)]) > min(times[(pid, "participant.placed")])
    started = {e.data.training_id: e.occurred_at for e in of_type(history, TrainingStarted)}
    ends: list[TrainingCompleted | TrainingDiscontinued] = [
        *of_type(history, TrainingCompleted),
        *of_type(history, TrainingDiscontinued),
    ]
    assert all(end.occurred_at > started[end.data.training_id] for end in ends)


# ------------------------------------------------------------------ contact details and consents

FICTION = re.compile(r"^\+49 (30 23125|40 66969|69 90009|89 99998|221 4710)\d{3}$")


@pytest.fixture(scope="module")
def network() -> list[EventModel | ClearContactRecorded]:
    return demo_network()


def sealed(network: list[EventModel | ClearContactRecorded]) -> list[EventModel]:
    keys: dict[str, DataKey] = {}
    return [
        seal_event(keys.setdefault(e.participant_id, new_data_key()), e)
        if isinstance(e, ClearContactRecorded)
        else e
        for e in network
    ]


def test_most_participants_get_fictitious_contact_details(
    network: list[EventModel | ClearContactRecorded],
) -> None:
    contacts = [e for e in network if isinstance(e, ClearContactRecorded)]
    people = {e.participant_id for e in contacts}
    assert 0.8 * DEMO_PARTICIPANTS < len(people) == len(contacts) < DEMO_PARTICIPANTS
    details = [e.data.contact for e in contacts]
    assert all(d.phone is not None and FICTION.match(d.phone) for d in details)
    assert all(d.email is not None and d.email.endswith("@example.org") for d in details)
    assert len({d.phone for d in details}) == len(details)


def test_consent_to_pass_contact_details_varies_and_some_withdraw(
    history: list[EventModel],
) -> None:
    given = [e for e in of_type(history, ConsentGiven) if e.data.purpose == PASS]
    network_wide = {e.participant_id for e in given if e.data.recipient is None}
    one_partner = {e.participant_id for e in given if e.data.recipient is not None}
    withdrawn = [e for e in of_type(history, ConsentWithdrawn) if e.data.purpose == PASS]
    assert len(network_wide) > 0.6 * DEMO_PARTICIPANTS
    assert 10 < len(one_partner) < len(network_wide)
    assert DEMO_PARTICIPANTS - len(network_wide | one_partner) > 10  # a few gave none
    assert withdrawn and all(w.occurred_at.date() < HISTORY_END for w in withdrawn)


def test_contact_details_and_consents_change_no_outcome(
    network: list[EventModel | ClearContactRecorded], history: list[EventModel]
) -> None:
    with_contacts = fold_rows(sealed(network))
    without = fold_rows(e for e in history if not e.type.startswith("consent."))
    assert expected_summary(sealed(network)) == expected_summary(history)
    assert (expected_summary(history).participants, expected_summary(history).placed) == (413, 148)
    for pid, rows in without.items():
        mine = with_contacts[pid]
        assert (mine.participant, mine.referrals, mine.trainings, mine.links) == (
            rows.participant, rows.referrals, rows.trainings, rows.links,
        )  # fmt: skip
    assert sum(r.contact is not None for r in with_contacts.values()) > 0.8 * DEMO_PARTICIPANTS


def test_the_network_breaks_no_rule_once_sealed(
    network: list[EventModel | ClearContactRecorded],
) -> None:
    _, reasons = replayed(sealed(network))
    assert reasons == []
