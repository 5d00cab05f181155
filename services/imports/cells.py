"""One spreadsheet cell as the value the catalogue expects: words, dates and times, in German too.

A cell that cannot be read raises ValueError saying what was expected, for the
import's report to name with its row and column.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from zoneinfo import ZoneInfo

from refnet.events.fields import REFUSED
from refnet.services.imports.csv_layout import FALSE_WORDS, REFUSED_WORDS, TRUE_WORDS, Column

LOCAL_ZONE = ZoneInfo("Europe/Berlin")

_GERMAN_DATE = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def cell_value(text: str, column: Column) -> Any:
    """A cell's text as the value the catalogue expects; ValueError says what was expected."""
    if column.refusable and text.casefold() in REFUSED_WORDS:
        return REFUSED
    or_refused = " (or 'refused')" if column.refusable else ""
    if column.base == "bool":
        word = text.casefold()
        if word in TRUE_WORDS or word in FALSE_WORDS:
            return word in TRUE_WORDS
        raise ValueError(f"expected ja or nein (yes/no, true/false, 1/0){or_refused}")
    if column.base == "enum":
        # Case does not matter (`a2`, `Female`); unknown values get the catalogue's message.
        return next((c for c in column.choices if c.casefold() == text.casefold()), text)
    if column.base == "date":
        return _date(text)
    if column.base == "datetime":
        return _instant(text)
    return text


def _date(text: str) -> dt.date:
    german = _GERMAN_DATE.match(text)
    try:
        if german:
            day, month, year = (int(part) for part in german.groups())
            return dt.date(year, month, day)
        if _ISO_DATE.match(text):
            return dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a day of the calendar") from None
    raise ValueError(f"expected a date such as 2024-03-04 or 04.03.2024, not {text!r}")


def _instant(text: str) -> dt.datetime:
    """A date-time with offset, or a plain date meaning midnight in Germany."""
    if _GERMAN_DATE.match(text) or _ISO_DATE.match(text):
        return dt.datetime.combine(_date(text), dt.time(), tzinfo=LOCAL_ZONE)
    try:
        instant = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            "expected an ISO 8601 date-time with offset such as 2024-03-04T09:15:00+01:00, "
            f"or a date such as 2024-03-04 or 04.03.2024, not {text!r}"
        ) from None
    if instant.tzinfo is None:
        raise ValueError(
            f"{text!r} has no offset: write e.g. 2024-03-04T09:15:00+01:00, "
            "or a plain date for midnight in Germany"
        )
    return instant
