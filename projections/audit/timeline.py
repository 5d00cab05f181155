"""One participant's timeline: every event about them across all partners, for auditors.

Built from the fold's state, so it shows what the projection decided: which
events count, which were retracted (by whom and why) and which were rejected
for breaking a rule. The same function serves the API (state from the read
model) and `refnet audit history` (state folded from the log).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from refnet.projections.fold.rows import RejectionRow
from refnet.projections.fold.rules import ParticipantState, standing_retractions

Status = Literal["counts", "retracted", "rejected"]


class Retraction(BaseModel):
    """A standing retraction of an event: who took it back, when, and why."""

    model_config = ConfigDict(frozen=True)
    event_id: str
    partner_id: str
    reason: str
    occurred_at: datetime
    recorded_at: datetime


class TimelineEvent(BaseModel):
    model_config = ConfigDict(frozen=True)
    event_id: str
    type: str
    partner_id: str
    site: str | None = Field(description="absent for a rejected event")
    occurred_at: datetime
    recorded_at: datetime
    partition: int
    offset: int
    status: Status = Field(
        description="counts; retracted (counts as never happened); rejected (broke a rule)"
    )
    retracted_by: list[Retraction] = Field(default_factory=list)
    rejection_reason: str | None = None
    data: dict[str, Any] | None = Field(description="the event's body; absent when rejected")


class Timeline(BaseModel):
    model_config = ConfigDict(frozen=True)
    participant_id: str
    events: list[TimelineEvent] = Field(
        description="in the order things happened: occurred_at, ties by log position"
    )


def timeline(state: ParticipantState, rejections: Iterable[RejectionRow] = ()) -> Timeline:
    """The participant's applied events, marked, and their rejected ones."""
    retracted = standing_retractions(state)
    events = [
        TimelineEvent(
            event_id=fact.event_id,
            type=fact.type,
            partner_id=fact.partner_id,
            site=fact.site,
            occurred_at=datetime.fromisoformat(fact.occurred_at),
            recorded_at=datetime.fromisoformat(fact.recorded_at),
            partition=fact.partition,
            offset=fact.offset,
            status="retracted" if fact.event_id in retracted else "counts",
            retracted_by=[
                Retraction(
                    event_id=r.event_id,
                    partner_id=r.partner_id,
                    reason=r.data.get("reason", ""),
                    occurred_at=datetime.fromisoformat(r.occurred_at),
                    recorded_at=datetime.fromisoformat(r.recorded_at),
                )
                for r in sorted(retracted.get(fact.event_id, []), key=lambda r: r.order)
            ],
            data=fact.data,
        )
        for fact in state.facts.values()
    ]
    events += [
        TimelineEvent(
            event_id=row.event_id,
            type=row.type,
            partner_id=row.partner_id,
            site=None,
            occurred_at=datetime.fromisoformat(row.occurred_at),
            recorded_at=datetime.fromisoformat(row.recorded_at),
            partition=row.partition,
            offset=row.offset,
            status="rejected",
            rejection_reason=row.reason,
            data=None,
        )
        for row in rejections
    ]
    events.sort(key=lambda e: (e.occurred_at, e.partition, e.offset))
    return Timeline(participant_id=state.participant_id, events=events)
