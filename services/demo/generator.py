"""A seeded two-year history of the demo network: exactly 413 participants, 148 placed.

Deterministic: one seed always gives the same events with the same ids, so
publishing the history twice changes no count. `expected_summary` checks the
counts by folding the history with the real outcome rules, never by a side tally.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from pydantic import BaseModel

from refnet.events.catalogue import (
    EnrolledData,
    EventModel,
    EventRetracted,
    ExitedData,
    FollowedUpData,
    ParticipantEnrolled,
    ParticipantExited,
    ParticipantFollowedUp,
    ParticipantPlaced,
    PlacedData,
    ReferralAccepted,
    ReferralAcceptedData,
    ReferralDeclined,
    ReferralDeclinedData,
    ReferralSent,
    ReferralSentData,
    ResidenceStatusChanged,
    ResidenceStatusChangedData,
    RetractedData,
    TrainingCompleted,
    TrainingCompletedData,
    TrainingDiscontinued,
    TrainingDiscontinuedData,
    TrainingStarted,
    TrainingStartedData,
)
from refnet.events.fields import REFUSED
from refnet.events.vocabulary import (
    AgeBand,
    DeclineReason,
    EducationLevel,
    EmploymentStatus,
    ExitReason,
    Gender,
    GermanLevel,
    PlacementKind,
    ResidenceStatus,
    Service,
    Situation,
    TrainingKind,
    WorkPermission,
)
from refnet.projections.fold.batch import fold_batch
from refnet.projections.fold.facts import Position, fact_of
from refnet.projections.fold.rows import ParticipantRows
from refnet.projections.fold.rules import ParticipantState, derive

T = TypeVar("T")

DEMO_SEED = 2024
DEMO_PARTNERS: tuple[str, ...] = (
    "awo-en",
    "jobcenter-en",
    "caritas-witten",
    "diakonie-mark-ruhr",
    "hwk-dortmund-aba",
    "bobeq",
    "partner-bochum",
)
DEMO_SITES: tuple[str, ...] = ("schwelm", "gevelsberg", "hattingen", "witten", "bochum")
DEMO_PARTICIPANTS = 413
DEMO_PLACED = 148
HISTORY_START = dt.date(2023, 1, 9)
HISTORY_END = dt.date(2024, 12, 20)
PROGRAMME = "ESF Plus: Netzwerk Ennepe-Ruhr und Bochum"
NAMESPACE = uuid.UUID("6f1c3a52-8d2e-5b7a-9c41-2e0d7b5a9f13")
"""uuid5 namespace of the demo's event ids: `uuid5(NAMESPACE, f"{seed}:{n}")`."""

PARTNER_SITES: Mapping[str, tuple[str, ...]] = {
    "awo-en": ("schwelm", "gevelsberg", "hattingen", "witten"),
    "jobcenter-en": ("schwelm", "gevelsberg", "hattingen", "witten"),
    "caritas-witten": ("witten", "hattingen"),
    "diakonie-mark-ruhr": ("gevelsberg", "schwelm", "witten"),
    "hwk-dortmund-aba": ("witten", "hattingen"),
    "bobeq": ("bochum", "hattingen"),
    "partner-bochum": ("bochum",),
}
"""Where each partner works; it records cases from other sites under its first one."""

PARTNER_SERVICES: Mapping[str, tuple[Service, ...]] = {
    "awo-en": (Service.COUNSELLING, Service.RECOGNITION_OF_QUALIFICATIONS, Service.OTHER),
    "jobcenter-en": (
        Service.JOB_PLACEMENT,
        Service.APPRENTICESHIP_PLACEMENT,
        Service.QUALIFICATION,
    ),
    "caritas-witten": (Service.COUNSELLING, Service.LANGUAGE_COURSE),
    "diakonie-mark-ruhr": (Service.COUNSELLING, Service.OTHER),
    "hwk-dortmund-aba": (Service.QUALIFICATION, Service.APPRENTICESHIP_PLACEMENT),
    "bobeq": (Service.QUALIFICATION, Service.JOB_PLACEMENT),
    "partner-bochum": (
        Service.COUNSELLING,
        Service.LANGUAGE_COURSE,
        Service.RECOGNITION_OF_QUALIFICATIONS,
    ),
}
"""The services each partner accepts referrals for."""

_SPAN = (HISTORY_END - HISTORY_START).days
_MISTYPED_PSEUDONYMS = 3
_TWO_PARTNER_ENROLMENTS = 14
_DUPLICATE_ENROLMENTS = 2
_MISTAKEN_DECLINES = 3
_DOUBLE_REPORTED = 6
_WRONG_KIND = 2
_WRONG_PLACEMENTS = 3
_DUPLICATE_PUBLISHES = 12
_LATE_SHARE = 0.12

_SITE_WEIGHTS: Mapping[str, float] = {
    "schwelm": 18,
    "gevelsberg": 16,
    "hattingen": 16,
    "witten": 26,
    "bochum": 24,
}
_INTAKE_WEIGHTS: Mapping[str, float] = {
    "awo-en": 3,
    "jobcenter-en": 2,
    "caritas-witten": 2,
    "diakonie-mark-ruhr": 2,
    "bobeq": 1,
    "partner-bochum": 5,
}
_OWN_TRAINING: Mapping[str, TrainingKind] = {
    "caritas-witten": TrainingKind.LANGUAGE_COURSE,
    "partner-bochum": TrainingKind.LANGUAGE_COURSE,
    "bobeq": TrainingKind.VOCATIONAL_QUALIFICATION,
}
_SERVICE_WEIGHTS: Mapping[Service, float] = {
    Service.LANGUAGE_COURSE: 22,
    Service.QUALIFICATION: 20,
    Service.JOB_PLACEMENT: 17,
    Service.APPRENTICESHIP_PLACEMENT: 14,
    Service.COUNSELLING: 13,
    Service.RECOGNITION_OF_QUALIFICATIONS: 8,
    Service.OTHER: 6,
}
_REFERRAL_COUNTS: Mapping[int, float] = {0: 15, 1: 35, 2: 32, 3: 18}
_ANSWERS: Mapping[str, float] = {"accepted": 83, "declined": 13, "never": 4}
_DECLINE_REASONS: Mapping[DeclineReason, float] = {
    DeclineReason.NO_CAPACITY: 40,
    DeclineReason.NOT_ELIGIBLE: 25,
    DeclineReason.PARTICIPANT_DECLINED: 20,
    DeclineReason.SERVICE_NOT_OFFERED: 8,
    DeclineReason.OTHER: 7,
}
_TRAININGS: Mapping[Service, Mapping[TrainingKind | None, float]] = {
    Service.LANGUAGE_COURSE: {TrainingKind.LANGUAGE_COURSE: 90, None: 10},
    Service.QUALIFICATION: {
        TrainingKind.VOCATIONAL_QUALIFICATION: 65,
        TrainingKind.INTERNSHIP: 20,
        None: 15,
    },
    Service.APPRENTICESHIP_PLACEMENT: {
        TrainingKind.APPRENTICESHIP_PREPARATION: 35,
        TrainingKind.INTERNSHIP: 15,
        None: 50,
    },
    Service.JOB_PLACEMENT: {TrainingKind.INTERNSHIP: 10, None: 90},
    Service.RECOGNITION_OF_QUALIFICATIONS: {TrainingKind.OTHER: 20, None: 80},
}
# Days a training runs, and the chance it ends with a qualification.
_DURATIONS: Mapping[TrainingKind, tuple[int, int]] = {
    TrainingKind.LANGUAGE_COURSE: (60, 200),
    TrainingKind.VOCATIONAL_QUALIFICATION: (90, 260),
    TrainingKind.APPRENTICESHIP_PREPARATION: (60, 180),
    TrainingKind.INTERNSHIP: (14, 60),
    TrainingKind.OTHER: (30, 120),
}
_QUALIFYING: Mapping[TrainingKind, float] = {
    TrainingKind.LANGUAGE_COURSE: 0.65,
    TrainingKind.VOCATIONAL_QUALIFICATION: 0.7,
    TrainingKind.APPRENTICESHIP_PREPARATION: 0.3,
    TrainingKind.INTERNSHIP: 0.1,
    TrainingKind.OTHER: 0.3,
}
_PLACEMENT_SERVICES: Mapping[Service, PlacementKind] = {
    Service.APPRENTICESHIP_PLACEMENT: PlacementKind.APPRENTICESHIP,
    Service.JOB_PLACEMENT: PlacementKind.EMPLOYMENT,
}
_STATUSES: Mapping[ResidenceStatus, float] = {
    ResidenceStatus.AUFENTHALTSERLAUBNIS: 48,
    ResidenceStatus.AUFENTHALTSGESTATTUNG: 20,
    ResidenceStatus.DULDUNG: 20,
    ResidenceStatus.NIEDERLASSUNGSERLAUBNIS: 7,
    ResidenceStatus.OTHER: 5,
}
_PERMISSIONS: Mapping[ResidenceStatus, tuple[WorkPermission, ...]] = {
    ResidenceStatus.AUFENTHALTSERLAUBNIS: (
        WorkPermission.GAINFUL_ACTIVITY_PERMITTED,
        WorkPermission.EMPLOYMENT_PERMITTED,
    ),
    ResidenceStatus.AUFENTHALTSGESTATTUNG: (
        WorkPermission.EMPLOYMENT_WITH_AUTHORITY_PERMISSION,
        WorkPermission.NOT_PERMITTED,
    ),
    ResidenceStatus.DULDUNG: (
        WorkPermission.EMPLOYMENT_WITH_AUTHORITY_PERMISSION,
        WorkPermission.NOT_PERMITTED,
    ),
    ResidenceStatus.NIEDERLASSUNGSERLAUBNIS: (WorkPermission.GAINFUL_ACTIVITY_PERMITTED,),
    ResidenceStatus.OTHER: (WorkPermission.EMPLOYMENT_WITH_AUTHORITY_PERMISSION,),
}
_RESIDENCE_CHANGES: Mapping[ResidenceStatus, Mapping[ResidenceStatus, float]] = {
    ResidenceStatus.DULDUNG: {ResidenceStatus.AUFENTHALTSERLAUBNIS: 1},
    ResidenceStatus.AUFENTHALTSGESTATTUNG: {
        ResidenceStatus.AUFENTHALTSERLAUBNIS: 65,
        ResidenceStatus.DULDUNG: 35,
    },
    ResidenceStatus.AUFENTHALTSERLAUBNIS: {ResidenceStatus.NIEDERLASSUNGSERLAUBNIS: 1},
}
_EXIT_REASONS: Mapping[ExitReason, float] = {
    ExitReason.COMPLETED_PROGRAMME: 40,
    ExitReason.MOVED_AWAY: 20,
    ExitReason.NO_LONGER_REACHABLE: 18,
    ExitReason.OWN_DECISION: 15,
    ExitReason.OTHER: 7,
}
_EMPLOYMENT: Mapping[EmploymentStatus, float] = {
    EmploymentStatus.UNEMPLOYED: 45,
    EmploymentStatus.LONG_TERM_UNEMPLOYED: 25,
    EmploymentStatus.INACTIVE: 25,
    EmploymentStatus.EMPLOYED: 5,
}
_EDUCATION: Mapping[EducationLevel, float] = {
    EducationLevel.ISCED_0_2: 50,
    EducationLevel.ISCED_3_4: 34,
    EducationLevel.ISCED_5_8: 16,
}
_AGES: Mapping[AgeBand, float] = {
    AgeBand.UNDER_18: 7,
    AgeBand.AGE_18_29: 55,
    AgeBand.AGE_30_54: 35,
    AgeBand.AGE_55_PLUS: 3,
}
_GENDERS: Mapping[Gender, float] = {
    Gender.MALE: 62,
    Gender.FEMALE: 36,
    Gender.DIVERSE: 1,
    Gender.NOT_STATED: 1,
}
_GERMAN: Mapping[GermanLevel, float] = {
    GermanLevel.NONE: 8,
    GermanLevel.A1: 22,
    GermanLevel.A2: 28,
    GermanLevel.B1: 27,
    GermanLevel.B2: 11,
    GermanLevel.C1: 4,
}
_SGB2_STATUSES = (ResidenceStatus.AUFENTHALTSERLAUBNIS, ResidenceStatus.NIEDERLASSUNGSERLAUBNIS)
_REFUSABLE = ("residence_status", "gender", "third_country_national", "education_level")
# Events a partner's system often records days late; never ones that get retracted.
_LATE_OK: tuple[Callable[..., EventModel], ...] = (
    TrainingCompleted,
    TrainingDiscontinued,
    ParticipantExited,
    ParticipantFollowedUp,
    ResidenceStatusChanged,
)

Body = Callable[[dt.date], BaseModel]


@dataclass(frozen=True, slots=True)
class DemoSummary:
    """The outcome counts of a history, as the fold derives them."""

    participants: int
    placed: int
    apprenticeship: int
    employment: int
    referrals_sent: int
    referrals_accepted: int
    referrals_declined: int
    referrals_pending: int


@dataclass(frozen=True, slots=True)
class _Traits:
    """The special cases one participant's story must contain."""

    placed: bool = False
    double_reported: bool = False
    wrong_kind: bool = False
    wrong_placement: bool = False
    second_enrolment: bool = False
    duplicate_enrolment: bool = False
    mistaken_decline: bool = False


@dataclass(frozen=True, slots=True)
class _Step:
    """One planned event, `day` days after the participant's first enrolment."""

    day: int
    partner: str
    make: Callable[..., EventModel]
    body: Body
    event_id: uuid.UUID
    required: bool


@dataclass(slots=True)
class _Person:
    """One participant's planned story; `serving[0]` is the intake partner."""

    pid: str
    site: str
    profile: EnrolledData
    traits: _Traits
    serving: list[str]
    steps: list[_Step] = field(default_factory=list)
    day: int = 0
    start: int = 0
    leaning: PlacementKind | None = None
    placer: str | None = None
    kind: PlacementKind | None = None
    qualified: bool = False


class _Generator:
    """The seeded random source and the counters that make every id fixed."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self._events = 0
        self._ids = 0

    def event_id(self) -> uuid.UUID:
        self._events += 1
        return uuid.uuid5(NAMESPACE, f"{self.seed}:{self._events}")

    def business_id(self, partner: str, tag: str) -> str:
        self._ids += 1
        return f"{partner}:{tag}:{self._ids:05d}"

    def add(
        self,
        person: _Person,
        gap: int,
        partner: str,
        make: Callable[..., EventModel],
        data: BaseModel | Body,
        required: bool = False,
    ) -> uuid.UUID:
        """Plan an event `gap` days after the previous one; returns its event id."""
        person.day += gap
        return self.add_at(person, person.day, partner, make, data, required)

    def add_at(
        self,
        person: _Person,
        day: int,
        partner: str,
        make: Callable[..., EventModel],
        data: BaseModel | Body,
        required: bool = False,
    ) -> uuid.UUID:
        body = _fixed(data) if isinstance(data, BaseModel) else data
        event_id = self.event_id()
        person.steps.append(_Step(day, partner, make, body, event_id, required))
        return event_id


# ------------------------------------------------------------------ public API


def demo_history(seed: int = DEMO_SEED) -> list[EventModel]:
    """The network's two-year history in log order, duplicates included."""
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
    """The counts a correct projection of `events` must show."""
    rows = list(fold_rows(events).values())
    people = [r.participant for r in rows]
    kinds = [p.placement_kind for p in people if p.placed_at is not None]
    # A withdrawn referral counts as never sent.
    states = [ref.state for r in rows for ref in r.referrals if ref.state != "withdrawn"]
    return DemoSummary(
        participants=sum(p.enrolled for p in people),
        placed=len(kinds),
        apprenticeship=kinds.count(PlacementKind.APPRENTICESHIP.value),
        employment=kinds.count(PlacementKind.EMPLOYMENT.value),
        referrals_sent=len(states),
        referrals_accepted=states.count("accepted"),
        referrals_declined=states.count("declined"),
        referrals_pending=states.count("pending"),
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


# ------------------------------------------------------------------ enrolments


def _duplicate_enrolment(gen: _Generator, person: _Person) -> None:
    """The intake partner enters the enrolment twice and retracts the copy."""
    intake = person.serving[0]
    copy = gen.add(person, 1, intake, ParticipantEnrolled, person.profile, required=True)
    retraction = RetractedData(retracted_event_id=copy, reason="enrolment entered twice")
    gen.add(person, gen.rng.randint(1, 5), intake, EventRetracted, retraction, required=True)


def _second_enrolment(gen: _Generator, person: _Person) -> None:
    """A second partner enrols the same person: it serves them, the count stays one."""
    others = [p for p in _INTAKE_WEIGHTS if p not in person.serving]
    local = [p for p in others if person.site in PARTNER_SITES[p]]
    partner = gen.rng.choice(local or others)
    gen.add(person, gen.rng.randint(10, 90), partner, ParticipantEnrolled, person.profile, True)
    person.serving.append(partner)


def _residence_change(gen: _Generator, person: _Person) -> None:
    status = person.profile.residence_status
    if not isinstance(status, ResidenceStatus) or status not in _RESIDENCE_CHANGES:
        return
    if gen.rng.random() >= 0.3:
        return
    new = _pick(gen.rng, _RESIDENCE_CHANGES[status])
    permission = gen.rng.choice(_PERMISSIONS[new])
    back = gen.rng.randint(0, 14)

    def body(day: dt.date) -> ResidenceStatusChangedData:
        valid_from = day - dt.timedelta(days=back)
        return ResidenceStatusChangedData(
            residence_status=new, work_permission=permission, valid_from=valid_from
        )

    day = gen.rng.randint(15, max(30, person.day))
    gen.add_at(person, day, gen.rng.choice(person.serving), ResidenceStatusChanged, body)


# ------------------------------------------------------------------ referrals, trainings


def _referrals(gen: _Generator, person: _Person) -> None:
    if not person.profile.consent_to_share:
        return
    if person.traits.mistaken_decline:
        _referral(gen, person, mistaken_decline=True)
    for _ in range(_pick(gen.rng, _REFERRAL_COUNTS)):
        _referral(gen, person)


def _referral(gen: _Generator, person: _Person, mistaken_decline: bool = False) -> None:
    """Send a referral; the receiving partner accepts, declines, or never answers."""
    rng = gen.rng
    sender = rng.choice(person.serving)
    service, receiver = _route(rng, sender, person.site)
    rid = gen.business_id(sender, "ref")
    sent = ReferralSentData(referral_id=rid, to_partner=receiver, service=service)
    gen.add(person, rng.randint(3, 40), sender, ReferralSent, sent, required=mistaken_decline)
    answer = "accepted" if mistaken_decline else _pick(rng, _ANSWERS)
    if mistaken_decline:
        _retracted_decline(gen, person, receiver, rid)
    if answer == "declined":
        declined = ReferralDeclinedData(referral_id=rid, reason=_pick(rng, _DECLINE_REASONS))
        gen.add(person, rng.randint(1, 14), receiver, ReferralDeclined, declined)
    elif answer == "accepted":
        accepted = ReferralAcceptedData(referral_id=rid)
        gen.add(person, rng.randint(1, 14), receiver, ReferralAccepted, accepted, mistaken_decline)
        _accepted(gen, person, receiver, service)


def _route(rng: random.Random, sender: str, site: str) -> tuple[Service, str]:
    """A service and a partner offering it, other than the sender, local if possible."""
    while True:
        service = _pick(rng, _SERVICE_WEIGHTS)
        offering = [p for p in DEMO_PARTNERS if service in PARTNER_SERVICES[p] and p != sender]
        if offering:
            local = [p for p in offering if site in PARTNER_SITES[p]]
            return service, rng.choice(local or offering)


def _retracted_decline(gen: _Generator, person: _Person, receiver: str, rid: str) -> None:
    """The receiver declines by mistake and retracts it; its acceptance follows."""
    declined = ReferralDeclinedData(referral_id=rid, reason=DeclineReason.NO_CAPACITY)
    wrong = gen.add(person, gen.rng.randint(1, 7), receiver, ReferralDeclined, declined, True)
    retraction = RetractedData(retracted_event_id=wrong, reason="declined by mistake")
    gen.add(person, 1, receiver, EventRetracted, retraction, required=True)


def _accepted(gen: _Generator, person: _Person, receiver: str, service: Service) -> None:
    if receiver not in person.serving:
        person.serving.append(receiver)
    if service in _PLACEMENT_SERVICES:
        person.leaning = _PLACEMENT_SERVICES[service]
        person.placer = receiver
    kind = _pick(gen.rng, _TRAININGS.get(service, {None: 1}))
    if kind is not None:
        _training(gen, person, receiver, kind)


def _own_training(gen: _Generator, person: _Person) -> None:
    intake = person.serving[0]
    if intake in _OWN_TRAINING and gen.rng.random() < 0.3:
        _training(gen, person, intake, _OWN_TRAINING[intake])


def _training(gen: _Generator, person: _Person, partner: str, kind: TrainingKind) -> None:
    """Start a training; it ends completed or discontinued unless the period ends first."""
    rng = gen.rng
    tid = gen.business_id(partner, "trn")
    started = TrainingStartedData(training_id=tid, kind=kind)
    gen.add(person, rng.randint(7, 45), partner, TrainingStarted, started)
    low, high = _DURATIONS[kind]
    if rng.random() < 0.22:
        stopped = TrainingDiscontinuedData(training_id=tid)
        gen.add(person, rng.randint(7, high // 2), partner, TrainingDiscontinued, stopped)
        return
    gained = rng.random() < _QUALIFYING[kind]
    person.qualified = person.qualified or gained
    done = TrainingCompletedData(training_id=tid, qualification_gained=gained)
    gen.add(person, rng.randint(low, high), partner, TrainingCompleted, done)
    if kind is TrainingKind.APPRENTICESHIP_PREPARATION:
        person.leaning = PlacementKind.APPRENTICESHIP


# ------------------------------------------------------------------ placements, exits


def _placement(gen: _Generator, person: _Person) -> None:
    """The one placement that counts, perhaps after a wrong one, perhaps reported twice."""
    rng = gen.rng
    kind = _placement_kind(rng, person)
    placer = person.placer or rng.choice(person.serving)
    gap = rng.randint(7, 60)
    if person.traits.wrong_kind:
        wrong = _other_kind(kind)
        _retracted_placement(gen, person, placer, wrong, "placement kind recorded wrongly")
        gap = rng.randint(1, 3)
    gen.add(person, gap, placer, ParticipantPlaced, _placed_body(gen, placer, kind, 0), True)
    person.kind, person.placer = kind, placer
    if person.traits.double_reported:
        _second_report(gen, person, kind)


def _second_report(gen: _Generator, person: _Person, kind: PlacementKind) -> None:
    """Another serving partner reports the same placement a few days later."""
    placer = person.placer
    others = [p for p in person.serving if p != placer]
    partner = gen.rng.choice(others or [p for p in ("awo-en", "jobcenter-en") if p != placer])
    gap = gen.rng.randint(1, 10)
    gen.add(person, gap, partner, ParticipantPlaced, _placed_body(gen, partner, kind, gap), True)


def _retracted_placement(
    gen: _Generator, person: _Person, partner: str, kind: PlacementKind, reason: str
) -> None:
    body = _placed_body(gen, partner, kind, 0)
    wrong = gen.add(person, gen.rng.randint(7, 60), partner, ParticipantPlaced, body, True)
    retraction = RetractedData(retracted_event_id=wrong, reason=reason)
    gen.add(person, gen.rng.randint(1, 7), partner, EventRetracted, retraction, required=True)


def _placed_body(gen: _Generator, partner: str, kind: PlacementKind, late_by: int) -> Body:
    """Placement data; a report `late_by` days after the placement keeps its start date."""
    placement_id = gen.business_id(partner, "plc")

    def body(day: dt.date) -> PlacedData:
        start = _start_date(kind, day - dt.timedelta(days=late_by))
        return PlacedData(placement_id=placement_id, kind=kind, start_date=start)

    return body


def _start_date(kind: PlacementKind, placed_on: dt.date) -> dt.date:
    """Apprenticeships start on 1 August, or next month late in the year; jobs next Monday."""
    if kind is PlacementKind.EMPLOYMENT:
        return placed_on + dt.timedelta(days=7 - placed_on.weekday())
    if placed_on.month < 8:
        return dt.date(placed_on.year, 8, 1)
    if placed_on.month == 12:
        return dt.date(placed_on.year + 1, 1, 1)
    return dt.date(placed_on.year, placed_on.month + 1, 1)


def _placement_kind(rng: random.Random, person: _Person) -> PlacementKind:
    if person.leaning is not None and rng.random() < 0.85:
        return person.leaning
    young = person.profile.age_band in (AgeBand.UNDER_18, AgeBand.AGE_18_29)
    chance = 0.45 if young else 0.15
    return PlacementKind.APPRENTICESHIP if rng.random() < chance else PlacementKind.EMPLOYMENT


def _other_kind(kind: PlacementKind) -> PlacementKind:
    if kind is PlacementKind.APPRENTICESHIP:
        return PlacementKind.EMPLOYMENT
    return PlacementKind.APPRENTICESHIP


def _leaving(gen: _Generator, person: _Person) -> None:
    """Some leave the programme; most of those are followed up six months later."""
    rng = gen.rng
    if person.kind is not None and person.placer is not None:
        if rng.random() >= 0.75:
            return
        partner, gap, reason = person.placer, rng.randint(14, 120), ExitReason.PLACED
        situation = _placed_situation(person.kind)
    else:
        if rng.random() >= 0.4:
            return
        partner, gap = rng.choice(person.serving), rng.randint(20, 150)
        reason = _pick(rng, _EXIT_REASONS)
        situation = _exit_situation(rng, reason, person.qualified)
    gen.add(person, gap, partner, ParticipantExited, ExitedData(reason=reason, situation=situation))
    if rng.random() < 0.7:
        later = FollowedUpData(situation=_followup_situation(rng, situation))
        gen.add(person, rng.randint(180, 190), partner, ParticipantFollowedUp, later)


def _placed_situation(kind: PlacementKind) -> Situation:
    if kind is PlacementKind.APPRENTICESHIP:
        return Situation.IN_EDUCATION_OR_TRAINING
    return Situation.IN_EMPLOYMENT


def _exit_situation(rng: random.Random, reason: ExitReason, qualified: bool) -> Situation:
    if reason is ExitReason.COMPLETED_PROGRAMME:
        if qualified:
            return Situation.GAINED_QUALIFICATION
        return rng.choice([Situation.JOB_SEARCHING, Situation.IN_EDUCATION_OR_TRAINING])
    if reason is ExitReason.OWN_DECISION:
        return rng.choice([Situation.JOB_SEARCHING, Situation.OTHER])
    return Situation.OTHER


def _followup_situation(rng: random.Random, on_leaving: Situation) -> Situation:
    if on_leaving in (Situation.IN_EMPLOYMENT, Situation.IN_EDUCATION_OR_TRAINING):
        if rng.random() < 0.85:
            return on_leaving
    weights = {
        Situation.JOB_SEARCHING: 45,
        Situation.IN_EMPLOYMENT: 25,
        Situation.IN_EDUCATION_OR_TRAINING: 20,
        Situation.OTHER: 10,
    }
    return _pick(rng, weights)


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


def _moment(rng: random.Random, day: dt.date) -> dt.datetime:
    """A time during office hours; one event per step and day keeps a story in order."""
    midnight = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    return midnight + dt.timedelta(seconds=rng.randrange(7 * 3600, 16 * 3600))


def _recorded(rng: random.Random, occurred: dt.datetime, late_ok: bool) -> dt.datetime:
    if late_ok and rng.random() < _LATE_SHARE:
        late = occurred + dt.timedelta(days=rng.randint(3, 21), seconds=rng.randrange(14_400))
        if late.date() <= HISTORY_END:
            return late
    return occurred + dt.timedelta(seconds=rng.randrange(60, 4 * 3600))


def _site_of(partner: str, home: str) -> str:
    sites = PARTNER_SITES[partner]
    return home if home in sites else sites[0]


def _fixed(data: BaseModel) -> Body:
    return lambda _day: data


def _pick(rng: random.Random, weights: Mapping[T, float]) -> T:
    return rng.choices(list(weights), weights=list(weights.values()))[0]
