"""One referral as its sender or its receiver sees it.

The sender sees its own withdrawn referrals too (as in its outbox); the
receiver never sees one its sender withdrew: that referral counts as never sent.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from refnet.projections.store.database import Conn
from refnet.projections.store.views import ReferralEntry

_DETAIL = """
SELECT participant_id, referral_id, from_partner, to_partner, service, site, sent_at, state,
  answered_at, decline_reason, withdrawn_at,
  greatest(0, extract(epoch FROM coalesce(answered_at, withdrawn_at, now()) - sent_at) / 86400)
    AS age_days
FROM referrals
WHERE referral_id = $1
  AND (from_partner = $2 OR (to_partner = $2 AND state <> 'withdrawn'))
ORDER BY sent_at, participant_id
LIMIT 1
"""


class ReferralDetail(ReferralEntry):
    """A referral the partner sent or received, and what became of it."""

    withdrawn_at: datetime | None = Field(description="when its sender withdrew it, if it did")


async def referral_detail(conn: Conn, partner_id: str, referral_id: str) -> ReferralDetail | None:
    """The referral `referral_id` if `partner_id` sent or received it; else None."""
    row = await conn.fetchrow(_DETAIL, referral_id, partner_id)
    if row is None:
        return None
    return ReferralDetail(**{**dict(row), "age_days": round(float(row["age_days"]), 1)})
