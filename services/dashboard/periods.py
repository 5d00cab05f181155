"""The period a coordinator chose on a page's small form: `from` inclusive, `to` exclusive.

A date is its midnight in Germany (Europe/Berlin): a coordinator choosing
1 January means New Year's midnight there, as the monthly figures do. The page
shows the bounds as instants, so its JSON twin is asked with the same offset
(`from=2025-01-01T00:00:00+01:00`). Either bound may be empty.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from urllib.parse import urlencode

from fastapi import Request, Response

from refnet.projections.store.views import Period
from refnet.services.dashboard.rendering import N_, page
from refnet.services.i18n.translations import BERLIN


@dataclass(frozen=True)
class PeriodChoice:
    """What the form held, the period it means, and what was wrong with it (field, message)."""

    from_text: str
    to_text: str
    period: Period
    problems: tuple[tuple[str, str], ...] = ()

    @property
    def query(self) -> str:
        """The same period as a query string, for links to downloads and other pages."""
        pairs = [(k, v) for k, v in (("from", self.from_text), ("to", self.to_text)) if v]
        return urlencode(pairs)


def _day(text: str) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(text), dt.time(), tzinfo=BERLIN)


def chosen_period(request: Request) -> PeriodChoice:
    """The period of the query string; a bad bound is named, and counts nothing."""
    texts = {name: (request.query_params.get(name) or "").strip() for name in ("from", "to")}
    bounds: dict[str, dt.datetime | None] = {}
    problems: list[tuple[str, str]] = []
    for name, text in texts.items():
        try:
            bounds[name] = _day(text) if text else None
        except ValueError:
            bounds[name] = None
            problems.append((name, N_("Please enter a date such as 2024-01-31.")))
    start, end = bounds["from"], bounds["to"]
    if start is not None and end is not None and start >= end:
        problems.append(("to", N_("The end must be later than the start.")))
    period = Period() if problems else Period.model_validate({"from": start, "to": end})
    return PeriodChoice(texts["from"], texts["to"], period, tuple(problems))


def refused_period(request: Request, template: str, choice: PeriodChoice) -> Response:
    """`template` with the form and its problems, and nothing counted: 400."""
    return page(request, template, {"choice": choice, "result": None}, status=400)
