"""The ESF+ report as files for people: JSON, CSV, XLSX and PDF, in German or English.

Every file carries the stamp: the instant the report was made (`period.as_of`), the
log position it was counted at, and the `refnet audit replay` call that reproduces
every figure. The CLI (`refnet report esf`) and the dashboard's downloads both call:

- `render(report, fmt, lang) -> Rendered`: bytes, media type and a file name such as
  `esf-2025-01-01-2026-01-01.xlsx`; `fmt` is one of FORMATS, `lang` one of LANGUAGES
  (German is the default); an unknown one raises `UnknownFormat` naming the field.
- one function per format, each `(report, lang) -> bytes`: `esf_json` (the model's
  JSON, as the API answers it), `esf_csv` (UTF-8 with BOM; `;` in German, `,` in
  English), `esf_xlsx` (report sheet and stamp sheet) and `esf_pdf` (A4; raises
  `FontNotFound` where no Unicode TrueType font is installed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from refnet.events.errors import RefNetError
from refnet.projections.reports.esf import EsfReport
from refnet.services.i18n.translations import DEFAULT_LANGUAGE, LANGUAGES
from refnet.services.reports.esf_csv import esf_csv
from refnet.services.reports.esf_pdf import esf_pdf
from refnet.services.reports.esf_xlsx import esf_xlsx
from refnet.services.reports.fonts import FontNotFound
from refnet.services.reports.layout import file_name

__all__ = [
    "FORMATS",
    "FontNotFound",
    "Rendered",
    "UnknownFormat",
    "esf_csv",
    "esf_json",
    "esf_pdf",
    "esf_xlsx",
    "render",
]


class UnknownFormat(RefNetError):
    """A format or language the report is not made in."""


def esf_json(report: EsfReport, lang: str = DEFAULT_LANGUAGE) -> bytes:
    """The model's JSON (the same keys as `GET /v1/network/esf`); `lang` changes nothing."""
    return report.model_dump_json(by_alias=True, indent=2).encode() + b"\n"


@dataclass(frozen=True)
class Format:
    extension: str
    media_type: str
    make: Callable[[EsfReport, str], bytes]
    binary: bool
    """True when the bytes are not text a terminal can show."""


FORMATS: dict[str, Format] = {
    "json": Format("json", "application/json", esf_json, binary=False),
    "csv": Format("csv", "text/csv; charset=utf-8", esf_csv, binary=False),
    "xlsx": Format(
        "xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        esf_xlsx,
        binary=True,
    ),
    "pdf": Format("pdf", "application/pdf", esf_pdf, binary=True),
}


@dataclass(frozen=True)
class Rendered:
    """A report file: its bytes, its media type and a suggested file name."""

    content: bytes
    media_type: str
    filename: str


def render(report: EsfReport, fmt: str, lang: str = DEFAULT_LANGUAGE) -> Rendered:
    """`report` as a file in `fmt` with labels in `lang`."""
    chosen = FORMATS.get(fmt)
    if chosen is None:
        raise UnknownFormat(f"format: {fmt!r} is not one of {', '.join(FORMATS)}")
    if lang not in LANGUAGES:
        raise UnknownFormat(f"lang: {lang!r} is not one of {', '.join(LANGUAGES)}")
    content = chosen.make(report, lang)
    return Rendered(content, chosen.media_type, file_name(report, chosen.extension))
