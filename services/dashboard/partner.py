"""Partner staff's pages: caseload, inbox, outbox, rejections and follow-ups due.

Each list comes from the query function of its JSON twin under
`/v1/partners/{id}/...`, always for the signed-in partner's own id. Answering a
referral from the inbox is `answers.py`. The caseload and the inbox show a
participant's contact details exactly where the API would (`services/api/contacts.py`:
the same decision, the same opening, the same recorded read), else the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Protocol

from fastapi import APIRouter, Query, Request, Response

from refnet.events.vocabulary import DeclineReason
from refnet.projections.store.network_views import follow_ups_due
from refnet.projections.store.queries import caseload, inbox, outbox, rejections
from refnet.services.api.contacts import contacts_for, record_listed
from refnet.services.api.deps import AppSettings, Conn
from refnet.services.dashboard.rendering import N_, page
from refnet.services.dashboard.session import PageRoute, PartnerStaff
from refnet.services.registry.tokens import Principal

router = APIRouter(include_in_schema=False, route_class=PageRoute)

PAGE_ROWS = 200
Offset = Annotated[int, Query(ge=0, le=2**31 - 1)]

DECLINE_REASONS = {
    DeclineReason.NO_CAPACITY.value: N_("No capacity"),
    DeclineReason.NOT_ELIGIBLE.value: N_("Not eligible"),
    DeclineReason.SERVICE_NOT_OFFERED.value: N_("Service not offered"),
    DeclineReason.PARTICIPANT_DECLINED.value: N_("The participant declined"),
    DeclineReason.OTHER.value: N_("Other reason"),
}
STATES = {
    "pending": N_("pending"),
    "accepted": N_("accepted"),
    "declined": N_("declined"),
    "withdrawn": N_("withdrawn"),
}
ROLES = {"enrolled": N_("enrolled"), "accepted": N_("accepted by referral"), "placed": N_("placed")}
SERVICES = {
    "counselling": N_("Counselling"),
    "language_course": N_("Language course"),
    "qualification": N_("Qualification"),
    "apprenticeship_placement": N_("Apprenticeship placement"),
    "job_placement": N_("Job placement"),
    "recognition_of_qualifications": N_("Recognition of qualifications"),
    "other": N_("Other"),
}
SITUATIONS = {
    "job_searching": N_("job searching"),
    "in_education_or_training": N_("in education or training"),
    "gained_qualification": N_("gained a qualification"),
    "in_employment": N_("in employment"),
    "other": N_("other"),
}
PLACEMENTS = {"apprenticeship": N_("apprenticeship"), "employment": N_("employment")}
WITHHELD_REASONS = {  # the codes of projections/store/contacts.WITHHELD
    "key_destroyed": N_("Data key destroyed: the contact details can no longer be read."),
    "erasure_requested": N_("Erasure requested: processing is restricted."),
    "unrelated": N_("You neither enrolled this person nor received a referral of them."),
    "no_consent": N_("No consent to pass the contact details to %(partner)s."),
    "no_contact": N_("No contact details recorded."),
    "unknown": N_("No record of this participant."),
    "staff_only": N_("Contact details are shown only to the partner's own staff."),
    "no_key_store": N_("Contact details cannot be opened here: no key store is configured."),
    "no_key": N_("The participant's data key is not available."),
    "broken": N_("The contact details do not open (another key, or altered)."),
}
LABELS = {
    "decline_reasons": DECLINE_REASONS,
    "states": STATES,
    "roles": ROLES,
    "services": SERVICES,
    "situations": SITUATIONS,
    "placements": PLACEMENTS,
    "withheld_reasons": WITHHELD_REASONS,
}
"""Names of the catalogue's values, translated where they are shown."""


def _partner(viewer: PartnerStaff) -> str:
    assert viewer.partner_id is not None  # a partner token always names its partner
    return viewer.partner_id


def _listing(
    request: Request, template: str, rows: list[object], offset: int, **extra: object
) -> Response:
    context = {"rows": rows, "offset": offset, "page_rows": PAGE_ROWS, **LABELS, **extra}
    return page(request, template, context)


class _NamesParticipant(Protocol):
    @property
    def participant_id(self) -> str: ...


async def _read_listing(
    request: Request,
    conn: Conn,
    viewer: Principal,
    rows: Sequence[_NamesParticipant],
    offset: int,
    template: str,
    view: str,
) -> Response:
    """A listing without contact details; each participant it names is recorded as read
    in `view` before the page is made."""
    await record_listed(conn, viewer, [r.participant_id for r in rows], view)
    return _listing(request, template, list(rows), offset)


@router.get("/partner/caseload")
async def caseload_page(
    request: Request, viewer: PartnerStaff, conn: Conn, offset: Offset = 0
) -> Response:
    """The participants the partner serves, with contact details where allowed."""
    partner = _partner(viewer)
    rows = await caseload(conn, partner, PAGE_ROWS, offset)
    ids = [r.participant_id for r in rows]
    contacts = await contacts_for(request, conn, viewer, partner, ids, "dashboard caseload")
    return _listing(request, "partner/caseload.html", list(rows), offset, contacts=contacts)


async def inbox_page(
    request: Request,
    viewer: PartnerStaff,
    conn: Conn,
    settings: AppSettings,
    offset: int = 0,
    notice: str | None = None,
    problems: list[str] | None = None,
    status: int = 200,
) -> Response:
    """The inbox, with contact details where allowed, and a notice of what was just done."""
    partner = _partner(viewer)
    rows = await inbox(conn, partner, settings.referral_overdue_days, PAGE_ROWS, offset)
    ids = [r.participant_id for r in rows]
    contacts = await contacts_for(request, conn, viewer, partner, ids, "dashboard inbox")
    return page(
        request,
        "partner/inbox.html",
        {
            "rows": rows,
            "offset": offset,
            "page_rows": PAGE_ROWS,
            "notice": notice,
            "problems": problems or [],
            "limit_days": settings.referral_overdue_days,
            "contacts": contacts,
            **LABELS,
        },
        status=status,
    )


@router.get("/partner/outbox")
async def outbox_page(
    request: Request, viewer: PartnerStaff, conn: Conn, settings: AppSettings, offset: Offset = 0
) -> Response:
    """The referrals the partner sent and what became of them."""
    days = settings.referral_overdue_days
    rows = await outbox(conn, _partner(viewer), days, None, PAGE_ROWS, offset)
    return await _read_listing(
        request, conn, viewer, rows, offset, "partner/outbox.html", "dashboard outbox"
    )


@router.get("/partner/rejections")
async def rejections_page(
    request: Request, viewer: PartnerStaff, conn: Conn, offset: Offset = 0
) -> Response:
    """The partner's events that broke a rule, with the rule."""
    rows = await rejections(conn, _partner(viewer), PAGE_ROWS, offset)
    return await _read_listing(
        request, conn, viewer, rows, offset, "partner/rejections.html", "dashboard rejections"
    )


@router.get("/partner/follow-ups")
async def follow_ups_page(
    request: Request, viewer: PartnerStaff, conn: Conn, offset: Offset = 0
) -> Response:
    """The six-month follow-ups that are due or were missed, soonest first."""
    rows = await follow_ups_due(conn, _partner(viewer), None, None, PAGE_ROWS, offset)
    return await _read_listing(
        request, conn, viewer, rows, offset, "partner/follow_ups.html", "dashboard follow-ups"
    )
