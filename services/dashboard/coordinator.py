"""The coordinator's pages: network outcomes, the funnel, referral flows and overdue referrals.

Every figure comes from the query function its JSON twin under `/v1/network`
calls; these pages only lay the figures out. The ESF+ page is in `esf.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from fastapi import APIRouter, Request, Response
from markupsafe import Markup

from refnet.projections.store.network_views import (
    MonthRangeError,
    monthly_outcomes,
    network_funnel,
    referral_flows,
)
from refnet.projections.store.queries import inbox, network_outcomes
from refnet.projections.store.views import InboxEntry, MonthlyOutcomes, Period
from refnet.services.api.deps import AppSettings, Conn
from refnet.services.dashboard import charts
from refnet.services.dashboard.periods import chosen_period, refused_period
from refnet.services.dashboard.rendering import N_, month, page, request_language, translate
from refnet.services.dashboard.session import Coordinator, NetworkReader, PageRoute
from refnet.services.i18n.translations import number, percent

router = APIRouter(include_in_schema=False, route_class=PageRoute)

STAGE_LABELS = {
    "enrolled": N_("Enrolled"),
    "referred": N_("Referred"),
    "accepted": N_("Referral accepted"),
    "training_started": N_("Training started"),
    "placed": N_("Placed"),
}
_INBOX_PAGE = 1000


def _chart(
    draw: Callable[..., Markup],
    lang: str,
    title: str,
    categories: Sequence[str],
    series: Sequence[charts.Series],
    **layout: float,
) -> Markup:
    """`draw`'s chart with its title and numbers in `lang`; each page repeats it as a table."""
    summary = translate(lang, "The same numbers are in the table below the chart.")
    return draw(
        translate(lang, title), summary, categories, series, lambda v: number(v, lang), **layout
    )


def monthly_chart(lang: str, monthly: MonthlyOutcomes) -> Markup:
    """Enrolments, placements and exits per month as columns, labelled in `lang`."""
    months = [month(m.month, lang) for m in monthly.months]
    series = [
        charts.Series(translate(lang, "Enrolments"), [m.enrolments for m in monthly.months]),
        charts.Series(translate(lang, "Placements"), [m.placements for m in monthly.months]),
        charts.Series(translate(lang, "Exits"), [m.exits for m in monthly.months]),
    ]
    title = N_("Enrolments, placements and exits per month")
    return _chart(charts.columns, lang, title, months, series)


def breakdown_chart(lang: str, title: str, rows: Sequence[tuple[str, int, int]]) -> Markup | None:
    """Participants and placed per site or partner as horizontal bars, labelled in `lang`.

    `title` is the untranslated message; there is no chart without rows.
    """
    if not rows:
        return None
    series = [
        charts.Series(translate(lang, "Participants"), [p for _, p, _ in rows]),
        charts.Series(translate(lang, "Placed"), [placed for _, _, placed in rows]),
    ]
    names = [name for name, _, _ in rows]
    return _chart(charts.bars, lang, title, names, series, label_width=150.0)


@router.get("/network")
async def overview(
    request: Request, _: NetworkReader, conn: Conn, settings: AppSettings
) -> Response:
    """Network outcomes for a period: figures, by site and partner, and per month."""
    choice = chosen_period(request)
    if choice.problems:
        return refused_period(request, "network/overview.html", choice)
    outcomes = await network_outcomes(conn, choice.period, settings.referral_overdue_days)
    lang = request_language(request)
    try:
        monthly = await monthly_outcomes(conn, choice.period)
    except MonthRangeError:
        monthly = None
    context = {
        "choice": choice,
        "result": outcomes,
        "monthly": monthly,
        "chart": monthly_chart(lang, monthly) if monthly and monthly.months else None,
        "site_chart": breakdown_chart(
            lang,
            N_("Participants and placed by site"),
            [(r.site, r.participants, r.placed) for r in outcomes.by_site],
        ),
        "partner_chart": breakdown_chart(
            lang,
            N_("Participants and placed by partner"),
            [(r.partner_id, r.participants, r.placed) for r in outcomes.by_partner],
        ),
    }
    return page(request, "network/overview.html", context)


@router.get("/network/funnel")
async def funnel(request: Request, _: NetworkReader, conn: Conn) -> Response:
    """The period's enrolled participants and how many reached each stage."""
    choice = chosen_period(request)
    if choice.problems:
        return refused_period(request, "network/funnel.html", choice)
    result = await network_funnel(conn, choice.period)
    lang = request_language(request)
    shares = [f"{number(s.participants, lang)} ({percent(s.share, lang)})" for s in result.stages]
    participants = [s.participants for s in result.stages]
    chart = _chart(
        charts.bars,
        lang,
        N_("Funnel from enrolment to placement"),
        [translate(lang, STAGE_LABELS[s.stage]) for s in result.stages],
        [charts.Series(translate(lang, "Participants"), participants, shares)],
    )
    context = {"choice": choice, "result": result, "chart": chart, "stage_labels": STAGE_LABELS}
    return page(request, "network/funnel.html", context)


@router.get("/network/flows")
async def flows(request: Request, _: NetworkReader, conn: Conn) -> Response:
    """Referrals between partners: the matrix, a chart and the answers per pair."""
    choice = chosen_period(request)
    if choice.problems:
        return refused_period(request, "network/flows.html", choice)
    result = await referral_flows(conn, choice.period)
    lang = request_language(request)
    cells = {(f.from_partner, f.to_partner): f for f in result.flows}
    chart = _chart(
        charts.stacked,
        lang,
        N_("Referrals per pair of partners, by answer"),
        [f"{f.from_partner} → {f.to_partner}" for f in result.flows],
        [
            charts.Series(translate(lang, "Accepted"), [f.accepted for f in result.flows]),
            charts.Series(translate(lang, "Declined"), [f.declined for f in result.flows]),
            charts.Series(translate(lang, "Pending"), [f.pending for f in result.flows]),
        ],
        label_width=330,
    )
    context = {"choice": choice, "result": result, "cells": cells, "chart": chart}
    return page(request, "network/flows.html", context)


async def overdue_referrals(conn: Conn, overdue_days: int) -> list[tuple[str, InboxEntry]]:
    """Every overdue referral with its receiver: the overdue ones of each partner's inbox."""
    receivers = (await referral_flows(conn, Period())).partners
    found: list[tuple[str, InboxEntry]] = []
    for partner_id in receivers:
        offset = 0
        while batch := await inbox(conn, partner_id, overdue_days, _INBOX_PAGE, offset):
            found += [(partner_id, entry) for entry in batch if entry.overdue]
            offset += _INBOX_PAGE
    return sorted(found, key=lambda pair: (pair[1].sent_at, pair[1].referral_id))


@router.get("/network/overdue")
async def overdue(request: Request, _: Coordinator, conn: Conn, settings: AppSettings) -> Response:
    """Referrals that have waited longer than the overdue limit for an answer."""
    days = settings.referral_overdue_days
    totals = await network_outcomes(conn, Period(), days)
    entries = await overdue_referrals(conn, days)
    context = {
        "entries": entries,
        "total": totals.referrals.overdue,
        "limit_days": days,
    }
    return page(request, "network/overdue.html", context)
