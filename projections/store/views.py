"""Shapes of what the read model answers: outcome counts, caseloads, referral lists, rejections,
the network's funnel, referral flows and monthly series, and the follow-ups due.

These are the API's response bodies too, so their field descriptions feed OpenAPI.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ReferralState = Literal["pending", "accepted", "declined", "withdrawn"]
FunnelStageName = Literal["enrolled", "referred", "accepted", "training_started", "placed"]
FollowUpStatus = Literal["open", "overdue"]


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class Period(_View):
    """`from` inclusive, `to` exclusive; either may be open."""

    from_: datetime | None = Field(None, alias="from", serialization_alias="from")
    to: datetime | None = None

    model_config = ConfigDict(frozen=True, populate_by_name=True)


class Placed(_View):
    total: int = Field(description="distinct participants with a placement")
    apprenticeship: int = Field(description="...whose first placement is an apprenticeship")
    employment: int = Field(description="...whose first placement is employment")


class Referrals(_View):
    """Referrals sent in the period; withdrawn ones count as never sent."""

    sent: int
    accepted: int
    declined: int
    pending: int
    overdue: int = Field(
        description="pending referrals that have waited longer than the overdue limit "
        "(`REFNET_REFERRAL_OVERDUE_DAYS`, counted up to now)"
    )
    acceptance_rate: float | None = Field(description="accepted / (accepted + declined)")
    median_days_to_answer: float | None


class SiteOutcomes(_View):
    site: str
    participants: int
    placed: int


class PartnerOutcomes(_View):
    partner_id: str
    participants: int = Field(description="participants it enrolled or accepted by referral")
    placed: int = Field(description="participants whose placement it reported")


class NetworkOutcomes(_View):
    period: Period
    participants: int
    placed: Placed
    placement_rate: float | None
    in_training: int = Field(description="in a started, unfinished training at the period's end")
    referrals: Referrals
    median_days_to_placement: float | None
    by_site: list[SiteOutcomes]
    by_partner: list[PartnerOutcomes]


class CaseloadEntry(_View):
    participant_id: str
    site: str | None
    roles: list[str] = Field(description="how the partner serves them: enrolled, accepted, placed")
    since: datetime
    first_enrolled_at: datetime | None
    in_training: bool
    placed_at: datetime | None
    placement_kind: str | None
    exited_at: datetime | None


class ReferralEntry(_View):
    referral_id: str
    participant_id: str
    from_partner: str
    to_partner: str
    service: str
    site: str
    sent_at: datetime
    state: str
    answered_at: datetime | None
    decline_reason: str | None
    age_days: float = Field(description="days since sent, or until answered")


class InboxEntry(_View):
    """A referral to the partner that waits for its answer."""

    referral_id: str
    participant_id: str
    from_partner: str = Field(description="the partner that sent it")
    service: str
    site: str
    sent_at: datetime
    age_days: float = Field(description="days since it was sent, to one decimal")
    overdue: bool = Field(description="unanswered for longer than the overdue limit")


class OutboxEntry(_View):
    """A referral the partner sent, and what became of it."""

    referral_id: str
    participant_id: str
    to_partner: str = Field(description="the partner it was sent to")
    service: str
    site: str
    sent_at: datetime
    state: ReferralState = Field(
        description="`pending` (no answer yet), `accepted`, `declined`, or `withdrawn` "
        "(the sender retracted it before an answer; counted nowhere)"
    )
    answered_at: datetime | None
    decline_reason: str | None
    withdrawn_at: datetime | None
    age_days: float = Field(
        description="days from sending to the answer or withdrawal; to now while pending"
    )
    overdue: bool = Field(description="pending for longer than the overdue limit")


class RejectionEntry(_View):
    """An event the partner published that broke a rule, so was not applied."""

    event_id: str
    type: str
    participant_id: str
    reason: str = Field(description="the rule it broke, e.g. `participant … is not enrolled`")
    occurred_at: datetime
    recorded_at: datetime
    rejected_at: datetime = Field(description="when the projection judged it")


class PartitionLag(_View):
    partition: int
    end_offset: int
    next_offset: int
    lag: int
    ahead_of_log: bool = Field(
        False,
        description="the read model applied offsets the log does not hold (was the topic "
        "recreated?): reset the read model",
    )


class FunnelStage(_View):
    stage: FunnelStageName = Field(
        description="`enrolled`; `referred` (a referral sent, withdrawn ones not counted); "
        "`accepted` (a referral accepted); `training_started`; `placed`"
    )
    participants: int = Field(description="participants of the cohort who reached the stage")
    share: float | None = Field(description="participants / the cohort's enrolled; None if none")


class Funnel(_View):
    """The participants first enrolled in the period, and how far each got (up to now)."""

    period: Period
    enrolled: int = Field(description="distinct participants first enrolled in the period")
    stages: list[FunnelStage] = Field(description="every stage, in funnel order")


class ReferralFlow(_View):
    """Referrals from one partner to another, sent in the period; withdrawn ones left out."""

    from_partner: str
    to_partner: str
    sent: int
    accepted: int
    declined: int
    pending: int
    acceptance_rate: float | None = Field(description="accepted / (accepted + declined)")
    median_days_to_answer: float | None = Field(
        description="median days from sending to the first answer; None while none is answered"
    )


class ReferralFlows(_View):
    period: Period
    partners: list[str] = Field(
        description="every partner that sent or received one, sorted: the matrix's rows and columns"
    )
    flows: list[ReferralFlow] = Field(
        description="one cell per (from, to) pair with at least one referral, sorted by both"
    )


class MonthOutcomes(_View):
    month: date = Field(description="the first day of the calendar month, in Europe/Berlin time")
    enrolments: int = Field(description="participants whose first enrolment is in the month")
    placements: int = Field(description="participants whose first placement is in the month")
    exits: int = Field(description="participants whose first exit (leaving date) is in the month")
    partial: bool = Field(description="the period covers only part of the month")


class MonthlyOutcomes(_View):
    period: Period
    timezone: str = Field(description="where the months begin and end: `Europe/Berlin`")
    months: list[MonthOutcomes] = Field(
        description="every month from the first to the last, oldest first; empty ones as zeros"
    )


class FollowUpDue(_View):
    """An exited participant whose six-month follow-up is open or missed, with none recorded."""

    participant_id: str
    site: str | None = Field(description="the site of the first enrolment")
    exited_at: datetime = Field(description="the leaving date: the first exit")
    leaving_situation: str | None = Field(description="the situation on leaving")
    opens_on: date = Field(description="the window's first day: 150 days after leaving (Berlin)")
    closes_on: date = Field(description="the window's last day: 240 days after leaving (Berlin)")
    status: FollowUpStatus = Field(
        description="`open`: within the window today; `overdue`: the window closed without "
        "a follow-up, so the participant has no six-month result"
    )


def ratio(part: int, whole: int) -> float | None:
    """A share to four decimals, as every rate in the views is given; None when nothing counts."""
    return round(part / whole, 4) if whole else None
