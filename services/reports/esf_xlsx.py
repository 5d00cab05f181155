"""The ESF+ report as an Excel workbook (XlsxWriter): the report sheet and the stamp sheet.

The first sheet has the title, period and stamp, then each section as a table with
headings, figures as numbers; the second sheet holds the stamp in detail (every
partition's offset). The workbook's properties carry the stamp too.
"""

from __future__ import annotations

import io
from typing import Any

import xlsxwriter  # type: ignore[import-untyped]

from refnet.projections.reports.esf import EsfReport
from refnet.services.reports.labels import FIGURE_KEYS, FIGURE_MESSAGES, label, term
from refnet.services.reports.layout import Stamp, Table, stamp, tables

HEADING_FILL = "#E1E8F0"
# Column widths in characters: code, key, label, then the five figures.
_WIDTHS = (10, 26, 62, *(12 for _ in FIGURE_KEYS))


def _formats(book: Any) -> dict[str, Any]:
    return {
        "title": book.add_format({"bold": True, "font_size": 16}),
        "subtitle": book.add_format({"italic": True}),
        "name": book.add_format({"bold": True}),
        "section": book.add_format({"bold": True, "font_size": 12}),
        "heading": book.add_format(
            {"bold": True, "bg_color": HEADING_FILL, "border": 1, "text_wrap": True}
        ),
        "heading_number": book.add_format(
            {"bold": True, "bg_color": HEADING_FILL, "border": 1, "align": "right"}
        ),
        "text": book.add_format({"border": 1, "text_wrap": True, "valign": "top"}),
        "number": book.add_format({"border": 1, "num_format": "#,##0", "valign": "top"}),
        "note": book.add_format({"italic": True, "font_color": "#555555"}),
    }


def _stamp_rows(sheet: Any, made: Stamp, lang: str, fmt: dict[str, Any], row: int) -> int:
    for name, value in (
        ("period", made.period_text),
        ("made_at", made.made_at_text),
        ("made_at_utc", made.made_at.isoformat()),
        ("log_position", made.position_text),
        ("reproduce", made.command),
    ):
        # The name spills over the empty key column; the value sits above the labels.
        sheet.write_string(row, 0, term(name, lang), fmt["name"])
        sheet.write_string(row, 2, value)
        row += 1
    return row


def _table(sheet: Any, table: Table, lang: str, fmt: dict[str, Any], row: int) -> int:
    sheet.write_string(row, 0, table.title, fmt["section"])
    row += 1
    what = term("indicator", lang) if table.split else term("attribute", lang)
    names = [term("code", lang), term("key", lang), what]
    figures = [label(FIGURE_MESSAGES[key], lang) for key in FIGURE_KEYS]
    if not table.split:
        figures = [term("count", lang)]
    for col, name in enumerate(names):
        sheet.write_string(row, col, name, fmt["heading"])
    for col, name in enumerate(figures, start=len(names)):
        sheet.write_string(row, col, name, fmt["heading_number"])
    for line in table.lines:
        row += 1
        for col, text in enumerate((line.code, line.key, line.label)):
            sheet.write_string(row, col, text, fmt["text"])
        for col, value in enumerate(line.figures, start=len(names)):
            if value is not None:
                sheet.write_number(row, col, value, fmt["number"])
    if not table.split:
        row += 1
        sheet.write_string(row, 0, term("gender_note", lang), fmt["note"])
    return row + 2


def _stamp_sheet(sheet: Any, made: Stamp, lang: str, fmt: dict[str, Any]) -> None:
    sheet.set_column(0, 0, 34)
    sheet.set_column(1, 1, 70)
    sheet.write_string(0, 0, term("stamp_sheet", lang), fmt["title"])
    row = 2
    for name, value in (
        ("made_at_utc", made.made_at.isoformat()),
        ("made_at", made.made_at_text),
        ("period_from", made.start),
        ("period_to", made.end),
        ("period", made.period_text),
        ("topic", made.topic),
        ("reproduce", made.command),
    ):
        sheet.write_string(row, 0, term(name, lang), fmt["name"])
        sheet.write_string(row, 1, value)
        row += 1
    row += 1
    sheet.write_string(row, 0, term("partition", lang), fmt["heading"])
    sheet.write_string(row, 1, term("next_offset", lang), fmt["heading_number"])
    for partition, offset in made.offsets:
        row += 1
        sheet.write_number(row, 0, partition, fmt["number"])
        sheet.write_number(row, 1, offset, fmt["number"])
    sheet.write_string(row + 2, 0, term("reproduce_note", lang), fmt["note"])


def esf_xlsx(report: EsfReport, lang: str = "de") -> bytes:
    """The report as an XLSX workbook with labels in `lang`."""
    made = stamp(report, lang)
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    book.set_properties(
        {
            "title": f"{term('title', lang)}: {made.period_text}",
            "subject": term("subtitle", lang),
            "author": "RefNet",
            "comments": f"{made.made_at.isoformat()}; {made.position_text}; {made.command}",
            # The stamp's instant, not the clock: the same report gives the same file.
            "created": made.made_at.replace(tzinfo=None),
        }
    )
    fmt = _formats(book)
    sheet = book.add_worksheet(term("report_sheet", lang))
    for col, width in enumerate(_WIDTHS):
        sheet.set_column(col, col, width)
    sheet.write_string(0, 0, term("title", lang), fmt["title"])
    sheet.write_string(1, 0, term("subtitle", lang), fmt["subtitle"])
    row = _stamp_rows(sheet, made, lang, fmt, 3) + 1
    for table in tables(report, lang):
        row = _table(sheet, table, lang, fmt, row)
    sheet.fit_to_pages(1, 0)
    sheet.set_paper(9)  # A4
    sheet.set_landscape()
    _stamp_sheet(book.add_worksheet(term("stamp_sheet", lang)), made, lang, fmt)
    book.close()
    return buffer.getvalue()
