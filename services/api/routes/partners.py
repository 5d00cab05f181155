"""A partner's own views: its caseload, referral inbox and outbox, rejected events, follow-ups.

A partner token reads only its own id's views; the coordinator reads any partner's;
auditors are refused (these list participants one by one). A partner with no rows
yet gets an empty list, never a 404. Lists page with `limit` (at most 1000) and `offset`.

The caseload, the inbox and a referral's detail carry `contact`: the participant's
contact details, opened here only where `projections/store/contacts.decide` allows
(own intake, or consent to pass them to this partner; never after an erasure
request), else null with `contact_withheld` saying why. Every response is a read of
the records of the participants it names, and is recorded as such (`record_reads`).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request

from refnet.events.fields import BusinessId
from refnet.projections.store.network_views import follow_ups_due
from refnet.projections.store.queries import caseload, inbox, outbox, referrals, rejections
from refnet.projections.store.referral_detail import referral_detail
from refnet.projections.store.views import (
    FollowUpDue,
    FollowUpStatus,
    OutboxEntry,
    ReferralEntry,
    ReferralState,
    RejectionEntry,
)
from refnet.services.api.contacts import (
    CaseloadContact,
    InboxContact,
    ReferralContact,
    contacts_for,
    record_listed,
)
from refnet.services.api.deps import AppSettings, Conn, CurrentPrincipal, Paging, PartnerScope
from refnet.services.api.errors import ERROR_RESPONSES, ErrorBody

router = APIRouter(prefix="/v1/partners", tags=["partners"], responses=ERROR_RESPONSES)

Direction = Literal["inbox", "outbox"]


@router.get("/{partner_id}/caseload")
async def read_caseload(
    partner_id: PartnerScope,
    principal: CurrentPrincipal,
    conn: Conn,
    page: Paging,
    request: Request,
) -> list[CaseloadContact]:
    """Participants the partner enrolled, accepted by referral, or placed; oldest link first."""
    rows = await caseload(conn, partner_id, page.limit, page.offset)
    ids = [r.participant_id for r in rows]
    shown = await contacts_for(request, conn, principal, partner_id, ids, "partner caseload")
    return [CaseloadContact(**r.model_dump(), **shown[r.participant_id].fields()) for r in rows]


@router.get("/{partner_id}/referrals")
async def read_referrals(
    partner_id: PartnerScope,
    principal: CurrentPrincipal,
    conn: Conn,
    page: Paging,
    direction: Annotated[
        Direction, Query(description="`inbox`: received by the partner; `outbox`: sent by it")
    ],
) -> list[ReferralEntry]:
    """Referrals the partner received or sent: pending first, then oldest first.

    Withdrawn referrals are left out; the outbox view shows them.
    """
    rows = await referrals(conn, partner_id, direction, page.limit, page.offset)
    await record_listed(conn, principal, [r.participant_id for r in rows], f"partner {direction}")
    return rows


@router.get(
    "/{partner_id}/referrals/{referral_id}",
    responses={
        404: {"model": ErrorBody, "description": "the partner neither sent nor received it"}
    },
)
async def read_referral(
    partner_id: PartnerScope,
    principal: CurrentPrincipal,
    conn: Conn,
    request: Request,
    referral_id: Annotated[BusinessId, Path(description="the referral's business id")],
) -> ReferralContact:
    """One referral the partner sent or received, with the person's contact details if allowed."""
    found = await referral_detail(conn, partner_id, referral_id)
    if found is None:
        raise HTTPException(404, f"{partner_id} neither sent nor received referral {referral_id}")
    pid = found.participant_id
    shown = await contacts_for(request, conn, principal, partner_id, [pid], "partner referral")
    return ReferralContact(**found.model_dump(), **shown[pid].fields())


@router.get("/{partner_id}/inbox")
async def read_inbox(
    partner_id: PartnerScope,
    principal: CurrentPrincipal,
    conn: Conn,
    page: Paging,
    settings: AppSettings,
    request: Request,
) -> list[InboxContact]:
    """Referrals to the partner that wait for its answer: oldest first, with their age.

    `overdue` marks those unanswered for longer than the network's overdue limit.
    """
    rows = await inbox(conn, partner_id, settings.referral_overdue_days, page.limit, page.offset)
    ids = [r.participant_id for r in rows]
    shown = await contacts_for(request, conn, principal, partner_id, ids, "partner inbox")
    return [InboxContact(**r.model_dump(), **shown[r.participant_id].fields()) for r in rows]


@router.get("/{partner_id}/outbox")
async def read_outbox(
    partner_id: PartnerScope,
    principal: CurrentPrincipal,
    conn: Conn,
    page: Paging,
    settings: AppSettings,
    state: Annotated[
        ReferralState | None, Query(description="only referrals in this state")
    ] = None,
) -> list[OutboxEntry]:
    """Referrals the partner sent and what became of them: newest first.

    A referral the partner withdrew (retracted before any answer) is listed as
    `withdrawn`; it counts in no outcome.
    """
    days = settings.referral_overdue_days
    rows = await outbox(conn, partner_id, days, state, page.limit, page.offset)
    await record_listed(conn, principal, [r.participant_id for r in rows], "partner outbox")
    return rows


@router.get("/{partner_id}/rejections")
async def read_rejections(
    partner_id: PartnerScope, principal: CurrentPrincipal, conn: Conn, page: Paging
) -> list[RejectionEntry]:
    """Events the partner published that broke a rule, so were not applied: newest first.

    Each names the rule it broke. Ordered by `recorded_at`, newest first.
    """
    rows = await rejections(conn, partner_id, page.limit, page.offset)
    await record_listed(conn, principal, [r.participant_id for r in rows], "partner rejections")
    return rows


@router.get("/{partner_id}/follow-ups")
async def read_follow_ups(
    partner_id: PartnerScope,
    principal: CurrentPrincipal,
    conn: Conn,
    page: Paging,
    status: Annotated[
        FollowUpStatus | None, Query(description="only `open` or only `overdue` follow-ups")
    ] = None,
) -> list[FollowUpDue]:
    """The partner's exited participants whose six-month follow-up is due or missed.

    The window runs from 150 to 240 days after the leaving date (Europe/Berlin
    dates); listed once it opened, until a follow-up in it is recorded. `open`
    while it runs, `overdue` after it closed; soonest closing first.
    """
    rows = await follow_ups_due(conn, partner_id, None, status, page.limit, page.offset)
    await record_listed(conn, principal, [r.participant_id for r in rows], "partner follow-ups")
    return rows
