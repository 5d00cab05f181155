"""The ESF+ report page and its downloads (CSV, XLSX, PDF) for the same period.

The figures are `network_esf`'s, as `GET /v1/network/esf` answers them, laid out
by the same `tables` and `stamp` as the files, so the page and every download
show the same labels, figures and stamp.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from refnet.projections.reports.esf import network_esf
from refnet.services.api.deps import AppSettings, Conn
from refnet.services.dashboard.periods import chosen_period, refused_period
from refnet.services.dashboard.rendering import N_, page, refused, request_language
from refnet.services.dashboard.session import NetworkReader, PageRoute
from refnet.services.reports.esf_files import FontNotFound, render
from refnet.services.reports.labels import FIGURE_KEYS, FIGURE_MESSAGES, label
from refnet.services.reports.layout import stamp, tables

router = APIRouter(include_in_schema=False, route_class=PageRoute)

DOWNLOADS = (("csv", "CSV"), ("xlsx", "XLSX (Excel)"), ("pdf", "PDF"))


@router.get("/network/esf")
async def esf_page(
    request: Request, _: NetworkReader, conn: Conn, settings: AppSettings
) -> Response:
    """The ESF+ report for a period, as tables, with its downloads."""
    choice = chosen_period(request)
    if choice.problems:
        return refused_period(request, "network/esf.html", choice)
    lang = request_language(request)
    report = await network_esf(conn, choice.period, settings.topic_events)
    context = {
        "choice": choice,
        "result": report,
        "tables": tables(report, lang),
        "stamp": stamp(report, lang),
        "figure_keys": FIGURE_KEYS,
        "figure_labels": [label(FIGURE_MESSAGES[k], lang) for k in FIGURE_KEYS],
        "downloads": DOWNLOADS,
    }
    return page(request, "network/esf.html", context)


async def _download(request: Request, conn: Conn, settings: AppSettings, fmt: str) -> Response:
    choice = chosen_period(request)
    if choice.problems:
        return refused_period(request, "network/esf.html", choice)
    report = await network_esf(conn, choice.period, settings.topic_events)
    try:
        made = render(report, fmt, request_language(request))
    except FontNotFound:
        message = N_("No font for the PDF is installed on the server. CSV and XLSX work.")
        return refused(request, N_("PDF not available"), message, 503)
    disposition = f'attachment; filename="{made.filename}"'
    headers = {"Content-Disposition": disposition, "Cache-Control": "no-store"}
    return Response(made.content, media_type=made.media_type, headers=headers)


@router.get("/network/esf.csv")
async def esf_csv(
    request: Request, _: NetworkReader, conn: Conn, settings: AppSettings
) -> Response:
    """The ESF+ report as CSV."""
    return await _download(request, conn, settings, "csv")


@router.get("/network/esf.xlsx")
async def esf_xlsx(
    request: Request, _: NetworkReader, conn: Conn, settings: AppSettings
) -> Response:
    """The ESF+ report as an Excel workbook."""
    return await _download(request, conn, settings, "xlsx")


@router.get("/network/esf.pdf")
async def esf_pdf(
    request: Request, _: NetworkReader, conn: Conn, settings: AppSettings
) -> Response:
    """The ESF+ report as PDF."""
    return await _download(request, conn, settings, "pdf")
