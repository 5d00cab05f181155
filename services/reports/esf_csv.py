"""The ESF+ report as CSV: the stamp in the first lines, then one row per indicator.

Rows: section, code, key, label, total, female, male, diverse, not_stated (a refusal
count has only its total). Figures are plain integers, instants ISO 8601 in UTC.
"""

from __future__ import annotations

import csv
import io

from refnet.projections.reports.esf import EsfReport
from refnet.services.reports.labels import FIGURE_KEYS, FIGURE_MESSAGES, label, term
from refnet.services.reports.layout import stamp, tables

# German Excel splits CSV on `;` (the decimal comma takes `,`) and reads a file as
# Windows-1252 unless it starts with a byte-order mark; English Excel expects `,`.
SEPARATORS = {"de": ";", "en": ","}


def esf_csv(report: EsfReport, lang: str = "de") -> bytes:
    """The report as UTF-8 CSV with a byte-order mark, `;`-separated in German, `,` in English."""
    made = stamp(report, lang)
    text = io.StringIO()
    writer = csv.writer(text, delimiter=SEPARATORS.get(lang, ","), lineterminator="\r\n")
    writer.writerow([term("title", lang), term("subtitle", lang)])
    writer.writerow([term("period", lang), made.start, made.end, made.period_text])
    writer.writerow([term("made_at_utc", lang), made.made_at.isoformat(), made.made_at_text])
    offsets = [f"{partition}:{offset}" for partition, offset in made.offsets]
    writer.writerow([term("log_position", lang), made.topic, *offsets])
    writer.writerow([term("reproduce", lang), made.command])
    writer.writerow([])
    writer.writerow(
        [
            term("section", lang),
            term("code", lang),
            term("key", lang),
            term("indicator", lang),
            *(label(FIGURE_MESSAGES[key], lang) for key in FIGURE_KEYS),
        ]
    )
    for table in tables(report, lang):
        for line in table.lines:
            figures = ["" if n is None else n for n in line.figures]
            writer.writerow([line.section, line.code, line.key, line.label, *figures])
    return "\ufeff".encode() + text.getvalue().encode("utf-8")
