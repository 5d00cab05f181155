"""Templates in the reader's language: one Jinja2 environment per language, gettext installed.

Each language has its own environment (made once), so a request never changes
another request's translations; numbers and dates are formatted by filters
bound to that language (`1.234`, `02.12.2026` in German).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from babel import Locale, dates
from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from refnet.services.i18n.translations import (
    DEFAULT_LANGUAGE,
    LANGUAGES,
    date,
    instant,
    language,
    number,
    percent,
    translations,
)

DOMAIN = "dashboard"
TEMPLATES = Path(__file__).parent / "templates"
LANGUAGE_COOKIE = "refnet_lang"
LANGUAGE_NAMES = {"de": "Deutsch", "en": "English"}
"""Each language named in itself, as a language switch shows it."""


PAGE_HEADERS = {
    # Every asset is the app's own, and no page runs a script.
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Vary": "Cookie",
    "Cache-Control": "no-store",
}


def N_(message: str) -> str:
    """Marks a message for the catalogue where it is defined; it is translated where shown."""
    return message


ROLE_LABELS = {
    "coordinator": N_("Coordination"),
    "auditor": N_("Audit"),
    "partner": N_("Partner staff"),
}
_NETWORK = [
    ("/network", N_("Outcomes")),
    ("/network/funnel", N_("Funnel")),
    ("/network/flows", N_("Referral flows")),
]
NAVIGATION = {
    "coordinator": [
        *_NETWORK,
        ("/network/overdue", N_("Overdue referrals")),
        ("/network/esf", N_("ESF+ report")),
    ],
    "auditor": [
        ("/audit/outcomes", N_("Outcomes as of")),
        ("/audit/timeline", N_("Participant timeline")),
        *_NETWORK,
        ("/network/esf", N_("ESF+ report")),
    ],
    "partner": [
        ("/partner/inbox", N_("Inbox")),
        ("/partner/caseload", N_("Caseload")),
        ("/partner/outbox", N_("Outbox")),
        ("/partner/rejections", N_("Rejected events")),
        ("/partner/follow-ups", N_("Follow-ups due")),
    ],
}
"""The pages each role may open, in the order of the main navigation."""


def request_language(request: Request) -> str:
    """The remembered choice (cookie), else German: the network works in German first."""
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    return language(chosen) if chosen else DEFAULT_LANGUAGE


def month(value: dt.date, lang: str) -> str:
    """A calendar month as a chart or table names it: `Jan. 2024` / `Jan 2024`."""
    return dates.format_date(value, format="MMM y", locale=Locale.parse(language(lang)))


def _days(value: float | None, lang: str) -> str:
    return "–" if value is None else number(value, lang, 1)


def _maybe(value: Any, lang: str, formatter: Any) -> str:
    return "–" if value is None else str(formatter(value, lang))


@cache
def environment(lang: str) -> Environment:
    """The environment for `lang`, with its catalogue and its number and date filters."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(lang, DOMAIN), newstyle=True)  # type: ignore[attr-defined]
    env.filters.update(
        number=lambda v, digits=0: _maybe(v, lang, lambda x, lg: number(x, lg, digits)),
        percent=lambda v: percent(v, lang) or "–",
        date=lambda v: _maybe(v, lang, date),
        instant=lambda v: _maybe(v, lang, instant),
        days=lambda v: _days(v, lang),
        month=lambda v: month(v, lang),
    )
    env.globals.update(
        lang=lang,
        languages=LANGUAGES,
        language_names=LANGUAGE_NAMES,
        role_labels=ROLE_LABELS,
        navigation=NAVIGATION,
    )
    return env


def translate(lang: str, message: str) -> str:
    """`message` in `lang`, for text made in code (flash messages, chart labels)."""
    return translations(lang, DOMAIN).gettext(message)


def page(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """`template` rendered in the request's language; the answer varies by its cookies."""
    lang = request_language(request)
    values: dict[str, Any] = {
        "request": request,
        "path": request.url.path,
        "here": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        "viewer": getattr(request.state, "viewer", None),
        "csrf": getattr(request.state, "csrf", ""),
        "notice": None,
        "today": dt.date.today(),
    }
    values.update(context or {})
    html = environment(lang).get_template(template).render(values)
    response = HTMLResponse(html, status_code=status, headers=dict(headers or {}))
    response.headers.update(PAGE_HEADERS)
    response.headers["Content-Language"] = lang
    return response


def refused(request: Request, title: str, message: str, status: int) -> HTMLResponse:
    """The page saying why nothing is shown; `title` and `message` are catalogue messages."""
    return page(request, "refused.html", {"title": title, "message": message}, status=status)
