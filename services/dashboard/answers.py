"""A partner answers a referral in its inbox: accept, or decline with a reason.

The answer is published as `referral.accepted` / `referral.declined` through the
same gateway as `POST /v1/events`, under the signed-in partner's token, so the
same checks apply (the event names the partner itself). Its event id is fixed
per referral, action and partner: a double click, or a second identical post,
publishes nothing new.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import RedirectResponse

from refnet.projections.store.queries import inbox
from refnet.projections.store.views import InboxEntry
from refnet.services.api.deps import AppSettings, Conn
from refnet.services.dashboard.partner import DECLINE_REASONS, inbox_page
from refnet.services.dashboard.rendering import N_, request_language, translate
from refnet.services.dashboard.session import CheckedForm, PageRoute, PartnerStaff
from refnet.services.gateway.ingest import Gateway
from refnet.services.gateway.refusals import Refused

router = APIRouter(include_in_schema=False, route_class=PageRoute)

ANSWER_NAMESPACE = uuid.UUID("3b8e6f0c-5d1a-4c7e-9f2b-6a4d8c1e7b30")
"""uuid5 namespace of the answers' event ids: `uuid5(NS, f"{action}:{partner}:{pid}:{ref}")`."""
_LOOKUP_PAGE = 1000
DONE = {
    "accepted": N_(
        "Referral %(referral)s was accepted. It leaves this list once the network has "
        "processed the answer."
    ),
    "declined": N_(
        "Referral %(referral)s was declined. It leaves this list once the network has "
        "processed the answer."
    ),
}
ALREADY = N_("This answer to referral %(referral)s was already sent; nothing was sent again.")
GONE = N_("Referral %(referral)s no longer waits for your answer; nothing was sent.")


def answer_event_id(action: str, partner_id: str, participant_id: str, referral_id: str) -> str:
    """The one event id of this partner's `action` on this referral."""
    return str(
        uuid.uuid5(ANSWER_NAMESPACE, f"{action}:{partner_id}:{participant_id}:{referral_id}")
    )


async def _waiting(
    conn: Conn, partner_id: str, days: int, participant_id: str, referral_id: str
) -> InboxEntry | None:
    """The referral in the partner's own inbox, if it still waits for an answer there."""
    offset = 0
    while batch := await inbox(conn, partner_id, days, _LOOKUP_PAGE, offset):
        for entry in batch:
            if (entry.referral_id, entry.participant_id) == (referral_id, participant_id):
                return entry
        offset += _LOOKUP_PAGE
    return None


def answer_event(
    action: str, partner_id: str, entry: InboxEntry, reason: str | None, now: datetime
) -> dict[str, Any]:
    """The event as a partner would post it to `POST /v1/events`."""
    data: dict[str, Any] = {"referral_id": entry.referral_id}
    if reason is not None:
        data["reason"] = reason
    return {
        "event_id": answer_event_id(action, partner_id, entry.participant_id, entry.referral_id),
        "type": f"referral.{action}",
        "partner_id": partner_id,
        "site": entry.site,
        "participant_id": entry.participant_id,
        "occurred_at": now.isoformat(),
        "recorded_at": now.isoformat(),
        "data": data,
    }


def _refusal_lines(lang: str, refused: Refused) -> list[str]:
    lines = [refused.message]
    lines += [f"{p.field}: {p.reason}" for p in refused.problems]
    return [translate(lang, "The network refused the answer:")] + lines


async def _answer(
    request: Request,
    viewer: PartnerStaff,
    conn: Conn,
    settings: AppSettings,
    action: str,
    form: CheckedForm,
) -> Response:
    lang = request_language(request)
    partner_id = viewer.partner_id
    assert partner_id is not None
    referral_id = str(form.get("referral_id") or "")
    participant_id = str(form.get("participant_id") or "")
    subject = {"referral": referral_id}
    reason: str | None = None
    if action == "declined":
        reason = str(form.get("reason") or "")
        if reason not in DECLINE_REASONS:
            problem = translate(lang, "Please choose a reason for declining.")
            return await inbox_page(request, viewer, conn, settings, problems=[problem], status=422)
    days = settings.referral_overdue_days
    entry = await _waiting(conn, partner_id, days, participant_id, referral_id)
    if entry is None:
        notice = translate(lang, GONE) % subject
        return await inbox_page(request, viewer, conn, settings, notice=notice, status=409)
    event = answer_event(action, partner_id, entry, reason, datetime.now(UTC))
    gateway: Gateway = request.app.state.gateway
    try:
        result = await gateway.ingest(conn, partner_id, [event])
    except Refused as refused:
        if refused.code == "event_id_reused":  # the same answer, sent a moment earlier
            notice = translate(lang, ALREADY) % subject
            return await inbox_page(request, viewer, conn, settings, notice=notice, status=409)
        problems = _refusal_lines(lang, refused)
        return await inbox_page(
            request, viewer, conn, settings, problems=problems, status=refused.status
        )
    done = "again" if result.duplicates else action
    return RedirectResponse(f"/partner/inbox?done={done}&referral={referral_id}", status_code=303)


@router.get("/partner/inbox")
async def inbox_view(
    request: Request,
    viewer: PartnerStaff,
    conn: Conn,
    settings: AppSettings,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
    done: Annotated[str | None, Query()] = None,
    referral: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    """Referrals waiting for the partner's answer, with what was just answered."""
    lang = request_language(request)
    notice = None
    if done in DONE and referral:
        notice = translate(lang, DONE[done]) % {"referral": referral}
    elif done == "again" and referral:
        notice = translate(lang, ALREADY) % {"referral": referral}
    return await inbox_page(request, viewer, conn, settings, offset, notice)


@router.post("/partner/inbox/accept")
async def accept(
    request: Request, viewer: PartnerStaff, conn: Conn, settings: AppSettings, form: CheckedForm
) -> Response:
    """Accept a referral: publish `referral.accepted` through the gateway."""
    return await _answer(request, viewer, conn, settings, "accepted", form)


@router.post("/partner/inbox/decline")
async def decline(
    request: Request, viewer: PartnerStaff, conn: Conn, settings: AppSettings, form: CheckedForm
) -> Response:
    """Decline a referral with a reason: publish `referral.declined` through the gateway."""
    return await _answer(request, viewer, conn, settings, "declined", form)
