"""Auditors' pages: network outcomes as of an instant, and one participant's timeline.

Both read through the functions of `GET /v1/audit/outcomes` and
`GET /v1/audit/participants/{id}/history`; each timeline shown is recorded in
`record_reads` exactly as the API records it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response
from pydantic import TypeAdapter, ValidationError

from refnet.events.fields import Pseudonym
from refnet.projections.audit.asof import TimeBasis
from refnet.projections.audit.reads import record_read, stored_outcomes_as_of, stored_timeline
from refnet.services.api.deps import AppSettings, Conn
from refnet.services.dashboard.partner import LABELS
from refnet.services.dashboard.rendering import N_, page
from refnet.services.dashboard.session import Auditor, PageRoute
from refnet.services.i18n.translations import BERLIN

router = APIRouter(include_in_schema=False, route_class=PageRoute)

READ_WHAT = "audit history"
"""What a timeline read is recorded as: the same as the API's."""
_PSEUDONYM: TypeAdapter[str] = TypeAdapter(Pseudonym)
STATUS_LABELS = {
    "counts": N_("counts"),
    "retracted": N_("retracted"),
    "rejected": N_("rejected"),
}


def parse_instant(text: str) -> datetime:
    """A date (its midnight) or a date-time; without an offset it is German time.

    A report's stamp carries its offset (`2026-12-02T07:04:09+00:00`) and is
    taken exactly; a bare date or time is read as the auditor's wall clock.
    """
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=BERLIN) if value.tzinfo is None else value.astimezone(UTC)


@router.get("/audit/outcomes")
async def outcomes_as_of(
    request: Request, _: Auditor, conn: Conn, settings: AppSettings
) -> Response:
    """Network outcomes as the network knew them (or as things had happened) at an instant."""
    text = (request.query_params.get("as_of") or "").strip()
    basis_text = request.query_params.get("time") or TimeBasis.RECORDED.value
    problems: list[tuple[str, str]] = []
    try:
        instant = parse_instant(text) if text else datetime.now(UTC)
    except (ValueError, OverflowError):
        instant = datetime.now(UTC)
        problems.append(("as_of", N_("Please enter a date such as 2024-01-31.")))
    try:
        basis = TimeBasis(basis_text)
    except ValueError:
        basis = TimeBasis.RECORDED
        problems.append(("time", N_("Please choose one of the offered time bases.")))
    context: dict[str, object] = {
        "as_of_text": text,
        "basis": basis,
        "problems": problems,
        "result": None,
    }
    if problems:
        return page(request, "audit/outcomes.html", context, status=400)
    result = await stored_outcomes_as_of(conn, instant, basis, settings.referral_overdue_days)
    context.update(result=result, instant=instant)
    return page(request, "audit/outcomes.html", context)


@router.get("/audit/timeline")
async def timeline(request: Request, viewer: Auditor, conn: Conn) -> Response:
    """Every event about one participant across all partners; the read is recorded."""
    wanted = (request.query_params.get("participant") or "").strip()
    context: dict[str, object] = {
        "participant": wanted,
        "result": None,
        "problem": None,
        "status_labels": STATUS_LABELS,
        **LABELS,
    }
    if not wanted:
        return page(request, "audit/timeline.html", context)
    try:
        participant_id = _PSEUDONYM.validate_python(wanted)
    except ValidationError:
        context["problem"] = N_(
            "A participant's pseudonym has 6 to 64 letters, digits, hyphens or underscores."
        )
        return page(request, "audit/timeline.html", context, status=400)
    found = await stored_timeline(conn, participant_id)
    if found is None:
        context["problem"] = N_("No event names this participant.")
        return page(request, "audit/timeline.html", context, status=404)
    await record_read(
        conn, viewer.token_id, viewer.role, viewer.partner_id, participant_id, READ_WHAT
    )
    context["result"] = found
    return page(request, "audit/timeline.html", context)
