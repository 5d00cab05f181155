"""The steps of a person's story: enrolments, referrals, trainings, placements, exits.

Each adds planned events to a `_Person`, breaking a rule on purpose where the
network's real mistakes are modelled (duplicates, mistaken declines, retractions).
"""

from __future__ import annotations

import datetime as dt
import random

from refnet.events.catalogue import (
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
from refnet.events.vocabulary import (
    AgeBand,
    DeclineReason,
    ExitReason,
    PlacementKind,
    ResidenceStatus,
    Service,
    Situation,
    TrainingKind,
)
from refnet.services.demo.model import Body, _Generator, _Person, _pick
from refnet.services.demo.network import (
    _ANSWERS,
    _DECLINE_REASONS,
    _DURATIONS,
    _EXIT_REASONS,
    _INTAKE_WEIGHTS,
    _OWN_TRAINING,
    _PERMISSIONS,
    _PLACEMENT_SERVICES,
    _QUALIFYING,
    _REFERRAL_COUNTS,
    _RESIDENCE_CHANGES,
    _SERVICE_WEIGHTS,
    _TRAININGS,
    DEMO_PARTNERS,
    PARTNER_SERVICES,
    PARTNER_SITES,
)

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
