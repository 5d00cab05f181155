"""Auditors' pages: network outcomes as of an instant, one participant's timeline, the read log.

They read through the functions of `GET /v1/audit/outcomes`,
`GET /v1/audit/participants/{id}/history` and `GET /v1/audit/reads`; each
timeline shown is recorded in `record_reads` exactly as the API records it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from pydantic import TypeAdapter, ValidationError

from refnet.events.fields import Pseudonym
from refnet.projections.audit.asof import TimeBasis
from refnet.projections.audit.reads import (
    record_read,
    recorded_reads,
    stored_outcomes_as_of,
    stored_timeline,
)
from refnet.services.api.deps import AppSettings, Conn
from refnet.services.dashboard.partner import LABELS
from refnet.services.dashboard.rendering import N_, page
from refnet.services.dashboard.session import Auditor, PageRoute
from refnet.services.i18n.translations import BERLIN

router = APIRouter(include_in_schema=False, route_class=PageRoute)

READS_PAGE = 200
READ_WHAT = "audit history"
"""What a timeline read is recorded as: the same as the API's."""
_PSEUDONYM: TypeAdapter[str] = TypeAdapter(Pseudonym)
_BAD_PSEUDONYM = N_(
    "A participant's pseudonym has 6 to 64 letters, digits, hyphens or underscores."
)
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
        context["problem"] = _BAD_PSEUDONYM
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


_READ_FILTERS = ("participant", "by", "from", "to")


@router.get("/audit/reads")
async def reads(request: Request, _: Auditor, conn: Conn) -> Response:
    """Who read which participant's record, when, and what; filtered as the API filters."""
    query = request.query_params
    given = {name: (query.get(name) or "").strip() for name in _READ_FILTERS}
    problems: list[tuple[str, str]] = []
    bounds: dict[str, datetime | None] = {"from": None, "to": None}
    for name in bounds:
        try:
            bounds[name] = parse_instant(given[name]) if given[name] else None
        except (ValueError, OverflowError):
            problems.append((name, N_("Please enter a date such as 2024-01-31.")))
    if given["participant"]:
        try:
            _PSEUDONYM.validate_python(given["participant"])
        except ValidationError:
            problems.append(("participant", _BAD_PSEUDONYM))
    offset = int(query["offset"]) if query.get("offset", "").isdigit() else 0
    kept = {k: v for k, v in given.items() if v}
    context: dict[str, object] = {
        "filters": given,
        "problems": problems,
        "rows": [],
        "offset": offset,
        "page_rows": READS_PAGE,
        "query": urlencode(kept),
    }
    if problems:
        return page(request, "audit/reads.html", context, status=400)
    context["rows"] = await recorded_reads(
        conn,
        given["participant"] or None,
        given["by"] or None,
        bounds["from"],
        bounds["to"],
        READS_PAGE,
        offset,
    )
    return page(request, "audit/reads.html", context)
