"""A participant's read-model rows from the facts that count: what every view shows.

`derive` counts: retractions, "first" (earliest occurred_at, ties by log
order), one answer per referral, a placement reported twice counted once. It
trusts what `apply` judged (every retraction is its emitter's, of an earlier
event); one rule it must apply itself: the answer that counts is the receiver's
of the referral that is first now, and a referral.sent that arrives later with
an earlier occurred_at can become first after another partner answered.

Privacy rows (`fold/privacy.py`): the latest live contact details as a
ciphertext reference (never clear text), the standing consent per purpose and
recipient, and when erasure was requested and the key destroyed. The rule for
the enrolment's `consent_to_share`: each live enrolment counts as a statement of
`share_case_data` for the whole network (recipient none) at the enrolment's
occurred_at, true or false as it says; a consent event for that purpose and
the network that is later (by occurred_at, ties by log order) decides instead.
It says nothing about passing contact details or the follow-up: those need
their own consent events.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from refnet.projections.fold.facts import (
    ANSWERS,
    ENROLLED,
    RETRACTED,
    SENT,
    STARTED,
    TRAINING_ENDS,
    Fact,
)
from refnet.projections.fold.privacy import (
    consent_rows,
    contact_row,
    erasure_requested_at,
    key_destroyed_at,
)
from refnet.projections.fold.retractions import _live
from refnet.projections.fold.rows import (
    ParticipantRow,
    ParticipantRows,
    PartnerLinkRow,
    ReferralRow,
    TrainingRow,
)
from refnet.projections.fold.rules import ParticipantState, _indexed

DERIVE_VERSION = 3
"""Raise it with every change to what `derive` makes of a state: a worker then
re-derives the stored rows from the stored states (`store/rederive.py`).
1: the first rules; 2: the six-month result only from follow-ups 150 to 240 days
after leaving; 3: contact references, standing consents, erasure and key destruction."""

LEAVING_WINDOW_DAYS = 28
"""The situation on leaving is what is recorded at most this long after the leaving date."""
FOLLOWUP_WINDOW_DAYS = (150, 240)
"""A follow-up counts as the six-month result if it occurred this many days (inclusive, as
durations from the leaving instant) after the leaving date."""


def derive(state: ParticipantState) -> ParticipantRows:
    """The read-model rows for one participant, from the facts that count."""
    gone = _indexed(state).gone
    live = _live(state.facts, gone)
    by_type: dict[str, list[Fact]] = {}
    for fact in live:
        by_type.setdefault(fact.type, []).append(fact)
    referrals = _referrals(state.participant_id, live)
    withdrawn = _withdrawn(
        state.participant_id, state.facts, gone, {r.referral_id for r in referrals}
    )
    return ParticipantRows(
        participant=_participant(state.participant_id, by_type),
        referrals=referrals + withdrawn,
        trainings=_trainings(state.participant_id, live),
        links=_links(state.participant_id, by_type, referrals),
        contact=contact_row(state.participant_id, by_type),
        consents=consent_rows(state.participant_id, by_type),
    )


def _participant(pid: str, by_type: dict[str, list[Fact]]) -> ParticipantRow:
    enrolments = by_type.get(ENROLLED, [])
    placements = by_type.get("participant.placed", [])
    first = enrolments[0] if enrolments else None
    placed = placements[0] if placements else None
    status = by_type.get("residence_status.changed", [])
    data: dict[str, Any] = first.data if first else {}
    leaving_at, leaving = _leaving(by_type.get("participant.exited", []))
    return ParticipantRow(
        participant_id=pid,
        enrolled=first is not None,
        first_enrolled_at=first.occurred_at if first else None,
        site=first.site if first else None,
        first_partner=first.partner_id if first else None,
        gender=data.get("gender"),
        age_band=data.get("age_band"),
        education_level=data.get("education_level"),
        employment_status=data.get("employment_status"),
        third_country_national=_text(data.get("third_country_national")),
        residence_status=(status[-1].data if status else data).get("residence_status"),
        placed_at=placed.occurred_at if placed else None,
        placement_kind=placed.data["kind"] if placed else None,
        placement_partner=placed.partner_id if placed else None,
        exited_at=leaving_at,
        leaving_situation=leaving,
        followup_situation=_six_months(leaving_at, by_type.get("participant.followed_up", [])),
        erasure_requested_at=erasure_requested_at(by_type),
        key_destroyed_at=key_destroyed_at(by_type),
    )


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _leaving(exits: list[Fact]) -> tuple[str | None, str | None]:
    """The leaving date and the situation on leaving (PRODUCT.md, "The ESF+ report").

    `exits` are the live exits in "first" order. The leaving date is the first
    one's occurred_at; the situation is that of the exit recorded last among
    those recorded at most 28 days after it (ties by log order), or else the
    first exit's own.
    """
    if not exits:
        return None, None
    first = exits[0]
    left = _instant(first.occurred_at)
    window = timedelta(days=LEAVING_WINDOW_DAYS)
    within = [f for f in exits if _instant(f.recorded_at) - left <= window]
    last = max(within or [first], key=lambda f: (f.recorded_at, f.partition, f.offset))
    return first.occurred_at, last.data["situation"]


def _six_months(leaving_at: str | None, follow_ups: list[Fact]) -> str | None:
    """The six-month result: of the live follow-ups that occurred 150 to 240 days after the
    leaving date, the last (by occurred_at, ties by log order); None without one or an exit.

    `follow_ups` are in "first" order, so the last one in the window is the result.
    """
    if leaving_at is None:
        return None
    left = _instant(leaving_at)
    # Differences, not left + 150 days: an exit near year 9999 must not overflow.
    earliest, latest = (timedelta(days=d) for d in FOLLOWUP_WINDOW_DAYS)
    within = [f for f in follow_ups if earliest <= _instant(f.occurred_at) - left <= latest]
    return within[-1].data["situation"] if within else None


def _instant(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp)


def _referrals(pid: str, live: list[Fact]) -> list[ReferralRow]:
    sent: dict[str, Fact] = {}
    answers: dict[str, Fact] = {}
    for fact in live:  # live is in "first" order, so setdefault keeps the first
        if fact.type == SENT:
            sent.setdefault(fact.data["referral_id"], fact)
    for fact in live:
        if fact.type in ANSWERS:
            ref = sent.get(fact.data["referral_id"])
            # Only the receiving partner's answer counts, and only its first one.
            if ref is not None and fact.partner_id == ref.data["to_partner"]:
                answers.setdefault(fact.data["referral_id"], fact)
    return [_referral_row(pid, fact, answers.get(rid)) for rid, fact in sent.items()]


def _referral_row(
    pid: str, sent: Fact, answer: Fact | None, withdrawn_at: str | None = None
) -> ReferralRow:
    """A referral as its rows show it: pending, answered, or withdrawn when `withdrawn_at`."""
    if withdrawn_at is not None:
        state = "withdrawn"
    else:
        state = answer.type.removeprefix("referral.") if answer else "pending"
    return ReferralRow(
        participant_id=pid,
        referral_id=sent.data["referral_id"],
        from_partner=sent.partner_id,
        to_partner=sent.data["to_partner"],
        service=sent.data["service"],
        site=sent.site,
        sent_at=sent.occurred_at,
        state=state,
        answered_at=answer.occurred_at if answer else None,
        decline_reason=answer.data.get("reason") if answer else None,
        withdrawn_at=withdrawn_at,
    )


def _withdrawn(
    pid: str, facts: dict[str, Fact], gone: set[str], live_ids: set[str]
) -> list[ReferralRow]:
    """Referrals whose referral.sent its sender retracted: shown to the sender, never counted.

    Their answers are not shown: a withdrawn referral was never answered.
    """
    sends = [
        fact
        for event_id in gone
        if (fact := facts[event_id]).type == SENT and fact.data["referral_id"] not in live_ids
    ]
    if not sends:
        return []
    withdrawn_at: dict[str, str] = {}  # referral.sent -> its earliest standing retraction
    for fact in facts.values():
        if fact.type == RETRACTED and fact.event_id not in gone:
            target_id = fact.data["retracted_event_id"]
            earlier = withdrawn_at.get(target_id, fact.occurred_at)
            withdrawn_at[target_id] = min(earlier, fact.occurred_at)
    rows: dict[str, ReferralRow] = {}
    for fact in sorted(sends, key=lambda f: f.order):
        when = withdrawn_at[fact.event_id]
        rows.setdefault(fact.data["referral_id"], _referral_row(pid, fact, None, when))
    return list(rows.values())


def _trainings(pid: str, live: list[Fact]) -> list[TrainingRow]:
    started: dict[str, Fact] = {}
    ended: dict[str, Fact] = {}
    for fact in live:
        if fact.type == STARTED:
            started.setdefault(fact.data["training_id"], fact)
        elif fact.type in TRAINING_ENDS:
            ended.setdefault(fact.data["training_id"], fact)
    rows = []
    for training_id, start in started.items():
        end = ended.get(training_id)
        rows.append(
            TrainingRow(
                participant_id=pid,
                training_id=training_id,
                partner_id=start.partner_id,
                kind=start.data["kind"],
                started_at=start.occurred_at,
                ended_at=end.occurred_at if end else None,
                outcome=_training_outcome(end),
            )
        )
    return rows


def _training_outcome(end: Fact | None) -> str | None:
    if end is None:
        return None
    if end.type == "training.discontinued":
        return "discontinued"
    return "qualified" if end.data.get("qualification_gained") else "completed"


def _links(
    pid: str, by_type: dict[str, list[Fact]], referrals: list[ReferralRow]
) -> list[PartnerLinkRow]:
    """Which partners serve the participant, and since when (first fact of each role)."""
    links: dict[tuple[str, str], str] = {}
    for fact in by_type.get(ENROLLED, []):
        links.setdefault((fact.partner_id, "enrolled"), fact.occurred_at)
    for ref in referrals:
        if ref.state == "accepted" and ref.answered_at is not None:
            key = (ref.to_partner, "accepted")
            links[key] = min(links.get(key, ref.answered_at), ref.answered_at)
    for fact in by_type.get("participant.placed", []):
        links.setdefault((fact.partner_id, "placed"), fact.occurred_at)
    return [
        PartnerLinkRow(partner_id=partner, participant_id=pid, role=role, since=since)
        for (partner, role), since in sorted(links.items())
    ]
