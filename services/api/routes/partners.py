"""A partner's own views: its caseload and the referrals it received or sent.

A partner token reads only its own id's views; the coordinator reads any partner's.
A partner with no rows yet gets an empty list, never a 404.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from refnet.projections.queries import caseload, referrals
from refnet.projections.views import CaseloadEntry, ReferralEntry
from refnet.services.api.deps import Conn, Paging, PartnerScope
from refnet.services.api.errors import ERROR_RESPONSES

router = APIRouter(prefix="/v1/partners", tags=["partners"], responses=ERROR_RESPONSES)

Direction = Literal["inbox", "outbox"]


@router.get("/{partner_id}/caseload")
async def read_caseload(partner_id: PartnerScope, conn: Conn, page: Paging) -> list[CaseloadEntry]:
    """Participants the partner enrolled, accepted by referral, or placed; oldest link first."""
    return await caseload(conn, partner_id, page.limit, page.offset)


@router.get("/{partner_id}/referrals")
async def read_referrals(
    partner_id: PartnerScope,
    conn: Conn,
    page: Paging,
    direction: Annotated[
        Direction, Query(description="`inbox`: received by the partner; `outbox`: sent by it")
    ],
) -> list[ReferralEntry]:
    """Referrals the partner received or sent: pending first, then oldest first."""
    return await referrals(conn, partner_id, direction, page.limit, page.offset)
