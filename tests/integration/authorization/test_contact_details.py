"""Contact details: a partner without consent never sees them, in any answer."""

from __future__ import annotations

import httpx
import pytest

from refnet.services.demo.network import DEMO_PARTNERS
from tests.integration.authorization.seeding import PHONES, RUN, Caller, person, phone

pytestmark = pytest.mark.integration


# ------------------------------------------------------------------------------- contacts


async def test_a_partner_without_consent_never_sees_contact_details(
    client: httpx.AsyncClient, callers: list[Caller]
) -> None:
    """Each partner sees the phone of its own intake; the referral it received carries none."""
    partners = {c.partner: c for c in callers if c.kind == "partner"}
    coordinator = next(c for c in callers if c.kind == "coordinator")
    for n, partner in enumerate(DEMO_PARTNERS):
        before = (n - 1) % len(DEMO_PARTNERS)
        headers = partners[partner].headers
        base = f"/v1/partners/{partner}"
        caseload = (await client.get(f"{base}/caseload", headers=headers)).json()
        inbox = (await client.get(f"{base}/inbox", headers=headers)).json()
        received = await client.get(f"{base}/referrals/ref-{RUN}-{before}", headers=headers)
        sent = await client.get(f"{base}/referrals/ref-{RUN}-{n}", headers=headers)
        as_coordinator = await client.get(f"{base}/caseload", headers=coordinator.headers)

        mine = next(e for e in caseload if e["participant_id"] == person("enrolled", n))
        assert mine["contact"]["phone"] == phone(n)
        assert sent.json()["contact"]["phone"] == phone(n)
        reason = f"no consent to pass contact details to {partner}"
        theirs = next(e for e in inbox if e["participant_id"] == person("enrolled", before))
        assert (theirs["contact"], theirs["contact_withheld"]) == (None, reason)
        assert (received.json()["contact"], received.json()["contact_withheld"]) == (None, reason)
        assert phone(before) not in received.text + str(inbox)
        assert not PHONES.findall(as_coordinator.text)
