"""The ESF+ report as a PDF (fpdf2, A4): title, period and stamp, then the report's tables.

A Unicode TrueType font is embedded (`fonts.find_fonts`), so umlauts and dashes print;
every page's footer repeats the stamp, so a single printed page still names its source.
"""

from __future__ import annotations

from functools import cache

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import FontFace

from refnet.projections.reports.esf import EsfReport
from refnet.services.i18n.translations import number
from refnet.services.reports.fonts import FontPair, find_fonts
from refnet.services.reports.labels import FIGURE_KEYS, FIGURE_MESSAGES, label, term
from refnet.services.reports.layout import Stamp, Table, stamp, tables

FONT = "report"
HEADING_FILL = (225, 232, 240)  # a light grey-blue: readable in print, with bold text too
_FIGURE_WIDTH = 18.0  # mm: "männlich" in bold fits; the label column keeps 74 mm on A4


@cache
def _fonts() -> FontPair:
    return find_fonts()


class _ReportPdf(FPDF):
    def __init__(self, made: Stamp, lang: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.made, self.lang = made, lang
        fonts = _fonts()
        self.add_font(FONT, "", str(fonts.regular))
        self.add_font(FONT, "B", str(fonts.bold))
        self.set_margins(15, 15, 15)
        self.set_auto_page_break(auto=True, margin=20)

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font(FONT, "", 7)
        self.set_text_color(90, 90, 90)
        page = term("page", self.lang).format(page=self.page_no(), pages="{nb}")
        where = f"{term('log_position', self.lang)}: {self.made.position_text}"
        made = f"{term('made_at', self.lang)} {self.made.made_at_text}"
        self.multi_cell(
            0, 3.5, f"{term('title', self.lang)} · {made} · {where} · {page}", align="L"
        )
        self.set_text_color(0, 0, 0)


def _text(pdf: FPDF, text: str, size: float, style: str = "", height: float = 5) -> None:
    """A left-aligned paragraph across the page, then the next line."""
    pdf.set_font(FONT, style, size)
    pdf.multi_cell(0, height, text, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _stamp_block(pdf: _ReportPdf, made: Stamp, lang: str) -> None:
    rows = (
        (term("period", lang), made.period_text),
        (term("made_at", lang), f"{made.made_at_text} ({made.made_at.isoformat()})"),
        (term("log_position", lang), made.position_text),
    )
    for name, value in rows:
        pdf.set_font(FONT, "B", 9)
        pdf.cell(58, 5, name)
        _text(pdf, value, 9)
    pdf.ln(1)
    _text(pdf, term("reproduce_note", lang), 8, height=4)
    _text(pdf, made.command, 8, "B", height=4)


def _columns(table: Table, lang: str) -> tuple[list[str], tuple[float, ...], tuple[str, ...]]:
    """Headings, widths (mm) and alignments of a table's columns."""
    if not table.split:
        return [term("attribute", lang), term("count", lang)], (90, 20), ("LEFT", "RIGHT")
    names = [term("code", lang), term("indicator", lang)]
    names += [label(FIGURE_MESSAGES[key], lang) for key in FIGURE_KEYS]
    widths = (16, 74, *(_FIGURE_WIDTH for _ in FIGURE_KEYS))
    return names, widths, ("LEFT", "LEFT", *("RIGHT" for _ in FIGURE_KEYS))


def _table(pdf: _ReportPdf, table: Table, lang: str) -> None:
    # A section title never stands alone at the foot of a page.
    if pdf.will_page_break(35):
        pdf.add_page()
    pdf.ln(4)
    _text(pdf, table.title, 11, "B", height=6)
    pdf.ln(1)
    pdf.set_font(FONT, "", 8.5)
    names, widths, align = _columns(table, lang)
    with pdf.table(
        col_widths=widths,
        width=sum(widths),
        align="LEFT",
        text_align=align,
        headings_style=FontFace(emphasis="BOLD", fill_color=HEADING_FILL),
        line_height=4.5,
        padding=(0.8, 1.2),
    ) as grid:
        heading = grid.row()
        for name in names:
            heading.cell(name)
        for line in table.lines:
            row = grid.row()
            figures = [number(n, lang) for n in line.figures if n is not None]
            for text in ([line.code] if table.split else []) + [line.label, *figures]:
                row.cell(text)
    if not table.split:
        _text(pdf, term("gender_note", lang), 7.5)


def esf_pdf(report: EsfReport, lang: str = "de") -> bytes:
    """The report as an A4 PDF with labels in `lang`; FontNotFound without a Unicode font."""
    made = stamp(report, lang)
    pdf = _ReportPdf(made, lang)
    pdf.set_title(f"{term('title', lang)}: {made.period_text}")
    pdf.set_subject(f"{term('made_at', lang)} {made.made_at.isoformat()}; {made.position_text}")
    pdf.set_keywords(made.command)
    pdf.set_creator("RefNet")
    pdf.set_lang(lang)
    # The stamp's instant, not the clock: the same report gives the same file.
    pdf.set_creation_date(made.made_at)
    pdf.add_page()
    _text(pdf, term("title", lang), 16, "B", height=9)
    _text(pdf, term("subtitle", lang), 10, height=6)
    pdf.ln(3)
    _stamp_block(pdf, made, lang)
    for table in tables(report, lang):
        _table(pdf, table, lang)
    return bytes(pdf.output())
