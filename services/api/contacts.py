"""Opening contact details for a partner's view: the one place of the API that decrypts them.

The decision is `projections/store/contacts.decide` (consent, own intake,
erasure); this module opens what it allowed with the participant's data key
from the key store (`app.state.data_keys`) and records each shown record as a
person-level read. Only the partner's own staff see them: a coordinator reading
a partner's views sees none (the consent names the partner, not the network's
coordination). A missing key, a broken seal or no key store at all shows no
details and says why: a view never fails because a ciphertext does not open.
Clear text lives only in the response; it is never logged. The API's partner
routes and the dashboard's partner pages both come here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from fastapi import Request
from pydantic import BaseModel, Field

from refnet.events.contact import ContactDetails
from refnet.events.sealing import DataKeyStore, KeyGone, SealBroken, open_contact
from refnet.projections.audit.reads import record_list_read
from refnet.projections.store.contacts import Access, Withheld, contact_access
from refnet.projections.store.database import Conn
from refnet.projections.store.referral_detail import ReferralDetail
from refnet.projections.store.views import CaseloadEntry, InboxEntry
from refnet.services.registry.tokens import Principal

log = logging.getLogger(__name__)
WITHOUT_CONTACT = " (no contact details)"
"""Appended to a recorded read's view when the person was listed without contact details."""


class WithContact(BaseModel):
    """The contact fields every partner view carries beside its own."""

    contact: ContactDetails | None = Field(
        None, description="the participant's contact details, when this partner may see them"
    )
    contact_withheld: str | None = Field(
        None, description="why `contact` is null, e.g. `no consent to pass contact details to …`"
    )


class CaseloadContact(WithContact, CaseloadEntry):
    """A participant the partner serves, with contact details where it may see them."""


class InboxContact(WithContact, InboxEntry):
    """A referral waiting for the partner's answer, with the person's contact details if allowed."""


class ReferralContact(WithContact, ReferralDetail):
    """A referral the partner sent or received, with contact details where it may see them."""


@dataclass(frozen=True, slots=True)
class Shown:
    """One participant's contact details as a view shows them: opened, or withheld with why."""

    contact: ContactDetails | None
    withheld: Withheld | None

    def fields(self) -> dict[str, object]:
        """The `WithContact` fields of a response."""
        reason = str(self.withheld) if self.withheld is not None else None
        return {"contact": self.contact, "contact_withheld": reason}


def key_store(request: Request) -> DataKeyStore | None:
    store: DataKeyStore | None = getattr(request.app.state, "data_keys", None)
    return store


async def _open(store: DataKeyStore | None, access: Access) -> Shown:
    if access.contact is None:
        return Shown(None, access.withheld)
    if store is None:
        return Shown(None, Withheld("no_key_store"))
    sealed = access.contact
    try:
        key = await store.existing(sealed.participant_id)
        if key is None:
            return Shown(None, Withheld("no_key"))
        details = open_contact(
            key,
            sealed.sealed,
            event_id=sealed.event_id,
            participant_id=sealed.participant_id,
            partner_id=sealed.partner_id,
        )
    except KeyGone:
        return Shown(None, Withheld("no_key"))
    except SealBroken:
        # The event id, not the participant: the log line names no person.
        log.warning("contact details of event %s do not open", sealed.event_id)
        return Shown(None, Withheld("broken"))
    return Shown(details, None)


async def contacts_for(
    request: Request,
    conn: Conn,
    principal: Principal,
    partner_id: str,
    participant_ids: Sequence[str],
    view: str,
) -> dict[str, Shown]:
    """Each participant's contact details as `partner_id` may see them in `view`.

    Every participant listed is recorded as read by `principal`: in `view` when
    their details were shown, in `view (no contact details)` otherwise.
    """
    if not participant_ids:
        return {}
    if principal.role != "partner" or principal.partner_id != partner_id:
        # The consent is to pass details to the partner, not to whoever reads its views.
        shown = {pid: Shown(None, Withheld("staff_only")) for pid in participant_ids}
    else:
        store = key_store(request)
        decided = await contact_access(conn, partner_id, participant_ids)
        shown = {pid: await _open(store, access) for pid, access in decided.items()}
    opened = [pid for pid, item in shown.items() if item.contact is not None]
    others = [pid for pid in participant_ids if pid not in set(opened)]
    who = (principal.token_id, principal.role, principal.partner_id)
    await record_list_read(conn, *who, opened, view)
    await record_list_read(conn, *who, others, f"{view}{WITHOUT_CONTACT}")
    return shown


async def record_listed(
    conn: Conn, principal: Principal, participant_ids: Sequence[str], view: str
) -> None:
    """A person-level list without contact details (outbox, rejections, follow-ups): each
    participant it names is recorded as read by `principal` in `view`."""
    who = (principal.token_id, principal.role, principal.partner_id)
    await record_list_read(conn, *who, participant_ids, view)
