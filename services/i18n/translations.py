"""Gettext catalogues per language and domain, and numbers and dates in the reader's locale.

Messages are written in English in code and templates; `locale/de/LC_MESSAGES/
<domain>.po` holds the German. The catalogues are compiled in memory on first
use, so a checkout needs no build step and no binary `.mo` file is kept.
English needs no catalogue: a message without a translation is shown as written.
"""

from __future__ import annotations

import datetime as dt
import io
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale, dates, numbers
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LANGUAGES = ("de", "en")
DEFAULT_LANGUAGE = "de"
LOCALE_DIR = Path(__file__).parent / "locale"
BERLIN = ZoneInfo("Europe/Berlin")


def language(value: str | None) -> str:
    """`value` if it is one of LANGUAGES (`de-DE` counts as `de`), else the default."""
    if value:
        short = value.strip().lower().replace("_", "-").split("-")[0]
        if short in LANGUAGES:
            return short
    return DEFAULT_LANGUAGE


@cache
def translations(lang: str, domain: str) -> NullTranslations:
    """The catalogue of `domain` in `lang`; messages without one stay as written."""
    path = LOCALE_DIR / language(lang) / "LC_MESSAGES" / f"{domain}.po"
    if not path.exists():
        return NullTranslations()
    with path.open("rb") as po:
        catalog = read_po(po, locale=lang, domain=domain)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled, domain=domain)


def gettext(lang: str, domain: str, message: str) -> str:
    return translations(lang, domain).gettext(message)


def number(value: int | float, lang: str, digits: int = 0) -> str:
    """`1.234` in German, `1,234` in English; `digits` decimals for a fraction."""
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return numbers.format_decimal(value, format=pattern, locale=Locale.parse(language(lang)))


def percent(share: float | None, lang: str) -> str:
    """A share (0.358) as `35,8 %` / `35.8%`; an empty string for no share."""
    if share is None:
        return ""
    return numbers.format_percent(share, format="#,##0.0 %", locale=Locale.parse(language(lang)))


def date(value: dt.date | dt.datetime, lang: str) -> str:
    """`02.12.2026` in German, `Dec 2, 2026` in English; an instant as its Berlin date."""
    if isinstance(value, dt.datetime):
        value = value.astimezone(BERLIN).date() if value.tzinfo else value.date()
    return dates.format_date(value, format="medium", locale=Locale.parse(language(lang)))


def instant(value: dt.datetime, lang: str) -> str:
    """An instant in Berlin time with its offset: `02.12.2026, 14:05 (UTC+1)`."""
    local = (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).astimezone(BERLIN)
    time = dates.format_time(local, format="short", locale=Locale.parse(language(lang)))
    offset = local.utcoffset() or dt.timedelta()
    hours = int(offset.total_seconds() // 3600)
    return f"{date(local, lang)}, {time} (UTC{hours:+d})"
