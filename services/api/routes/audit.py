"""Auditors' views: network outcomes and the ESF+ report as of an instant, one timeline.

Auditor tokens only. Each answers from the fold the projection stored; the same
numbers come from the log alone with `refnet audit replay` (`--esf`) and `history`, and
`refnet audit verify` proves the read model matches the log. Every timeline
read is recorded (who, when, what), as reads of a person's record must be, and
`GET /v1/audit/reads` lists those records. Listing the read log is not itself
recorded: it shows who read, never what the record holds.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from refnet.events.fields import Pseudonym
from refnet.projections.audit.asof import TimeBasis
from refnet.projections.audit.reads import (
    record_read,
    recorded_reads,
    stored_outcomes_as_of,
    stored_timeline,
)
from refnet.projections.audit.timeline import Timeline
from refnet.projections.reports.esf import EsfReport
from refnet.projections.reports.esf_asof import stored_esf_as_of
from refnet.projections.store.views import NetworkOutcomes, Period
from refnet.services.api.deps import AppSettings, Auditor, Conn, Paging
from refnet.services.api.errors import ERROR_RESPONSES, ErrorBody
from refnet.services.api.routes.network import BOUND_HELP, Bound, period, utc

router = APIRouter(prefix="/v1/audit", tags=["audit"], responses=ERROR_RESPONSES)


class AuditOutcomes(BaseModel):
    model_config = ConfigDict(frozen=True)
    as_of: datetime
    time: TimeBasis = Field(
        description="recorded: what the network knew at `as_of`; occurred: what had happened "
        "by `as_of`, as known today (late-recorded events and later retractions included)"
    )
    outcomes: NetworkOutcomes = Field(
        description="PRODUCT.md's outcomes; in training and overdue are judged at `as_of`"
    )


@router.get("/outcomes")
async def read_outcomes_as_of(
    _: Auditor,
    conn: Conn,
    settings: AppSettings,
    as_of: Annotated[Bound, Query(description=f"the instant (default: now): {BOUND_HELP}")] = None,
    time: Annotated[TimeBasis, Query(description="the time basis")] = TimeBasis.RECORDED,
) -> AuditOutcomes:
    """Network outcomes as of an instant, on the recorded or the occurred time basis."""
    instant = utc(as_of, "as_of") or datetime.now(UTC)
    outcomes = await stored_outcomes_as_of(conn, instant, time, settings.referral_overdue_days)
    return AuditOutcomes(as_of=instant, time=time, outcomes=outcomes)


@router.get("/esf")
async def read_esf_as_of(
    _: Auditor,
    conn: Conn,
    settings: AppSettings,
    period: Annotated[Period, Depends(period)],
    as_of: Annotated[Bound, Query(description=f"the instant (default: now): {BOUND_HELP}")] = None,
    time: Annotated[TimeBasis, Query(description="the time basis")] = TimeBasis.RECORDED,
) -> EsfReport:
    """The ESF+ report of a period as of an instant, from the stored fold.

    With `as_of` set to the stamp of a report of `GET /v1/network/esf`, this gives
    its figures again (recorded time: what the network knew then).
    """
    instant = utc(as_of, "as_of") or datetime.now(UTC)
    return await stored_esf_as_of(conn, instant, period, settings.topic_events, time)


@router.get(
    "/participants/{participant_id}/history",
    responses={404: {"model": ErrorBody, "description": "no event names this participant"}},
)
async def read_history(
    principal: Auditor,
    conn: Conn,
    participant_id: Annotated[Pseudonym, Path(description="the participant's network pseudonym")],
) -> Timeline:
    """Every event about one participant across all partners, in the order things happened.

    Retracted events are marked with who retracted them and why; events that broke a
    rule are listed as rejected with the reason. The read itself is recorded.
    """
    found = await stored_timeline(conn, participant_id)
    if found is None:
        raise HTTPException(404, f"no event about participant {participant_id}")
    await record_read(
        conn,
        principal.token_id,
        principal.role,
        principal.partner_id,
        participant_id,
        "audit history",
    )
    return found


class RecordReadOut(BaseModel):
    model_config = ConfigDict(frozen=True)
    read_id: int
    read_at: datetime
    token_id: str = Field(description="the API token's id, or `os:<user>` for a CLI read")
    role: str = Field(description="coordinator, auditor, partner; `operator` for the CLI")
    partner_id: str | None
    participant_id: str
    what: str = Field(description="the view read; a CLI read adds `; reason: ...` as given")


class RecordReads(BaseModel):
    model_config = ConfigDict(frozen=True)
    reads: list[RecordReadOut] = Field(description="in the order they happened")
    limit: int
    offset: int


@router.get("/reads")
async def read_log_of_reads(
    _: Auditor,
    conn: Conn,
    paging: Paging,
    span: Annotated[Period, Depends(period)],
    participant: Annotated[
        Pseudonym | None, Query(description="only reads of this participant's record")
    ] = None,
    by: Annotated[
        str | None,
        Query(max_length=100, description="only reads by this token id, `os:<user>` or partner"),
    ] = None,
) -> RecordReads:
    """Every recorded read of a participant's record: who, when, which participant, what.

    `from` (inclusive) and `to` (exclusive) bound when the read happened.
    """
    found = await recorded_reads(
        conn, participant, by, span.from_, span.to, paging.limit, paging.offset
    )
    reads = [RecordReadOut.model_validate(r, from_attributes=True) for r in found]
    return RecordReads(reads=reads, limit=paging.limit, offset=paging.offset)
