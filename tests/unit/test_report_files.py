"""The ESF+ report's files: every figure, the stamp and the labels in CSV, XLSX and PDF.

The report is built by hand with a different number in every box (some above 1,000,
so German and English number formats differ), then each file is read back with an
independent reader: the csv module, openpyxl and pypdf.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import openpyxl  # type: ignore[import-untyped]
import pytest
from babel.messages.pofile import read_po
from pypdf import PdfReader

from refnet.projections.reports.esf import (
    LEAVING_KEYS,
    OUTPUT_KEYS,
    REFUSED_KEYS,
    SIX_MONTH_KEYS,
    EsfReport,
    GenderSplit,
)
from refnet.services.i18n.translations import LOCALE_DIR, number
from refnet.services.reports.esf_files import (
    UnknownFormat,
    esf_csv,
    esf_json,
    esf_pdf,
    esf_xlsx,
    render,
)
from refnet.services.reports.fonts import FontNotFound, find_fonts
from refnet.services.reports.labels import DOMAIN, SECTIONS, label, messages

AS_OF = datetime(2026, 2, 3, 14, 5, 6, 123456, tzinfo=UTC)
COMMAND = (
    "refnet audit replay --as-of 2026-02-03T14:05:06.123456+00:00 --esf "
    "--from 2025-01-01 --to 2026-01-01"
)
OFFSETS = {0: 1234, 1: 99, 2: 5}
POSITION = "refnet.events.test 0:1234, 1:99, 2:5"
FIGURES = ("total", "female", "male", "diverse", "not_stated")
GERMAN_SPLIT = ["weiblich", "männlich", "divers", "keine Angabe"]
ENGLISH_SPLIT = ["female", "male", "diverse", "not stated"]
CATALOGUE = LOCALE_DIR / "de" / "LC_MESSAGES" / f"{DOMAIN}.po"


def make_report(start: datetime | None, end: datetime | None) -> EsfReport:
    counter = itertools.count(3)

    def box() -> dict[str, int]:
        female, male, diverse, not_stated = (next(counter) * 7 for _ in range(4))
        return {
            "total": female + male + diverse + not_stated + 1000,
            "female": female,
            "male": male,
            "diverse": diverse,
            "not_stated": not_stated,
        }

    return EsfReport.model_validate(
        {
            "period": {
                "from": start,
                "to": end,
                "as_of": AS_OF,
                "log_position": {"topic": "refnet.events.test", "next_offsets": OFFSETS},
            },
            "output": {key: box() for key in OUTPUT_KEYS},
            "refused": {key: next(counter) for key in REFUSED_KEYS},
            "results_on_leaving": {key: box() for key in LEAVING_KEYS},
            "results_six_months": {key: box() for key in SIX_MONTH_KEYS},
        }
    )


@pytest.fixture
def report() -> EsfReport:
    return make_report(datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))


def expected(report: EsfReport) -> dict[tuple[str, str], tuple[int, ...]]:
    """Every figure of the report by (section, key): five for a box, one for a refusal."""
    found: dict[tuple[str, str], tuple[int, ...]] = {}
    for section in SECTIONS:
        boxes = getattr(report, section.key)
        for key in section.keys:
            value = getattr(boxes, key)
            split = isinstance(value, GenderSplit)
            found[section.key, key] = (
                tuple(getattr(value, f) for f in FIGURES) if split else (value,)
            )
    return found


def flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def pdf_text(content: bytes) -> str:
    return flat(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages))


def csv_rows(content: bytes, separator: str) -> list[list[str]]:
    assert content.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig")), delimiter=separator))


# ------------------------------------------------------------------ CSV


def test_csv_holds_every_figure_with_german_labels(report: EsfReport) -> None:
    rows = csv_rows(esf_csv(report, "de"), ";")
    heading = rows.index(["Abschnitt", "Code", "Schlüssel", "Indikator", "Gesamt", *GERMAN_SPLIT])
    figures = {(r[0], r[2]): tuple(int(n) for n in r[4:] if n) for r in rows[heading + 1 :]}
    assert figures == expected(report)
    by_key = {(r[0], r[2]): r for r in rows[heading + 1 :]}
    assert by_key["output", "EECO02"][1:4] == [
        "EECO02",
        "EECO02",
        "Arbeitslose, einschließlich Langzeitarbeitslose",
    ]
    assert by_key["results_on_leaving", "in_employment"][1] == "EECR04"
    assert by_key["results_six_months", "in_employment"][1] == ""
    assert by_key["refused", "gender"][5:] == ["", "", "", ""]


def test_csv_starts_with_the_stamp(report: EsfReport) -> None:
    stamp = csv_rows(esf_csv(report, "de"), ";")[:6]
    assert stamp[0][0] == "ESF+-Bericht"
    assert stamp[1][:3] == ["Zeitraum", "2025-01-01T00:00:00+00:00", "2026-01-01T00:00:00+00:00"]
    assert stamp[2][:2] == ["Erstellt am (UTC)", AS_OF.isoformat()]
    assert stamp[3] == [
        "Stand des Ereignisprotokolls",
        "refnet.events.test",
        "0:1234",
        "1:99",
        "2:5",
    ]
    assert stamp[4] == ["Nachvollziehbar mit", COMMAND]
    assert stamp[5] == []


def test_english_csv_is_comma_separated_with_english_labels(report: EsfReport) -> None:
    content = esf_csv(report, "en")
    rows = csv_rows(content, ",")
    heading = rows.index(["Section", "Code", "Key", "Indicator", "Total", *ENGLISH_SPLIT])
    labels = {r[2]: r[3] for r in rows[heading + 1 :] if r[0] == "output"}
    assert labels["EECO04"] == "Inactive"
    assert labels["third_country_nationals"] == "Third-country nationals"
    figures = {(r[0], r[2]): tuple(int(n) for n in r[4:] if n) for r in rows[heading + 1 :]}
    assert figures == expected(report)
    assert "Teilnehmende" not in content.decode("utf-8-sig")


# ------------------------------------------------------------------ XLSX


def test_xlsx_holds_every_figure_as_numbers_and_the_stamp(report: EsfReport) -> None:
    book = openpyxl.load_workbook(io.BytesIO(esf_xlsx(report, "de")))
    assert book.sheetnames == ["Bericht", "Nachweis"]
    rows = list(book["Bericht"].iter_rows(values_only=True))
    keyed = [(r[1], tuple(v for v in r[3:] if v is not None)) for r in rows if len(r) > 3]
    want = [(key, figures) for (_, key), figures in expected(report).items()]
    found = [(key, figures) for key, figures in keyed if figures and isinstance(figures[0], int)]
    assert found == want
    cells = {str(v) for r in rows for v in r if v is not None}
    assert {
        "Teilnehmende",
        "Drittstaatsangehörige",
        "Arbeitsuchend",
        "Gesamt",
        "keine Angabe",
    } <= cells
    assert {AS_OF.isoformat(), POSITION, COMMAND} <= cells
    stamp = list(book["Nachweis"].iter_rows(values_only=True))
    assert ("Erstellt am (UTC)", AS_OF.isoformat()) in stamp
    assert ("Nachvollziehbar mit", COMMAND) in stamp
    assert [r for r in stamp if isinstance(r[0], int)] == list(OFFSETS.items())


def test_xlsx_in_english(report: EsfReport) -> None:
    book = openpyxl.load_workbook(io.BytesIO(esf_xlsx(report, "en")))
    assert book.sheetnames == ["Report", "Stamp"]
    cells = {v for r in book["Report"].iter_rows(values_only=True) for v in r if v is not None}
    assert {"Participants", "Job searching", "Total", "not stated", COMMAND} <= cells
    assert "Teilnehmende" not in cells


# ------------------------------------------------------------------ PDF


def row_text(section: str, key: str, figures: tuple[int, ...], lang: str) -> str:
    chosen = next(s for s in SECTIONS if s.key == section)
    words = [
        chosen.code(key),
        label(chosen.messages[key], lang),
        *(number(n, lang) for n in figures),
    ]
    return " ".join(word for word in words if word)


def test_pdf_holds_german_labels_figures_and_the_stamp(report: EsfReport) -> None:
    content = esf_pdf(report, "de")
    assert content.startswith(b"%PDF-")
    text = pdf_text(content)
    for (section, key), figures in expected(report).items():
        assert row_text(section, key, figures, "de") in text
    assert "1.0" in text  # German thousands separator: every total is above 1,000
    for phrase in ("ESF+-Bericht", "Gesamt weiblich männlich divers keine Angabe", "Zeitraum"):
        assert phrase in text
    assert "01.01.2025 bis 01.01.2026" in text
    assert AS_OF.isoformat() in text and POSITION in text and COMMAND in text
    meta = PdfReader(io.BytesIO(content)).metadata
    assert meta is not None and meta.get("/Keywords") == COMMAND


def test_pdf_in_english(report: EsfReport) -> None:
    text = pdf_text(esf_pdf(report, "en"))
    for (section, key), figures in expected(report).items():
        assert row_text(section, key, figures, "en") in text
    assert "ESF+ report" in text and COMMAND in text
    assert "Teilnehmende" not in text


def test_the_pdf_refuses_clearly_without_a_unicode_font(tmp_path: Path) -> None:
    with pytest.raises(FontNotFound, match="pdf: no Unicode TrueType font .*fonts-dejavu-core"):
        find_fonts((tmp_path,), fontconfig=False)


def test_fonts_are_found_in_a_given_folder(tmp_path: Path) -> None:
    installed = find_fonts()
    nested = tmp_path / "truetype" / "dejavu"
    nested.mkdir(parents=True)
    shutil.copy(installed.regular, nested / "DejaVuSans.ttf")
    found = find_fonts((tmp_path,), fontconfig=False)
    assert found.family == "DejaVu Sans"
    assert found.regular == nested / "DejaVuSans.ttf"
    assert found.bold == found.regular  # no bold file beside it: headings use the regular


# ------------------------------------------------------------------ JSON, names, dispatch


def test_json_is_the_model(report: EsfReport) -> None:
    body = json.loads(esf_json(report))
    assert list(body) == ["period", "output", "refused", "results_on_leaving", "results_six_months"]
    assert body["period"]["from"] == "2025-01-01T00:00:00Z"
    assert EsfReport.model_validate(body) == report


def test_render_names_files_and_media_types(report: EsfReport) -> None:
    made = {fmt: render(report, fmt) for fmt in ("json", "csv", "xlsx", "pdf")}
    assert made["xlsx"].filename == "esf-2025-01-01-2026-01-01.xlsx"
    assert made["pdf"].media_type == "application/pdf"
    assert made["csv"].media_type == "text/csv; charset=utf-8"
    assert made["csv"].content == esf_csv(report, "de")  # German by default
    assert made["json"].content == esf_json(report)
    with pytest.raises(UnknownFormat, match="format: 'docx'"):
        render(report, "docx")
    with pytest.raises(UnknownFormat, match="lang: 'fr'"):
        render(report, "csv", "fr")


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "pdf"])
def test_the_same_report_gives_the_same_file(report: EsfReport, fmt: str) -> None:
    # Files are dated by the stamp, not the clock: a file can be checked by making it again.
    assert render(report, fmt).content == render(report.model_copy(deep=True), fmt).content


def test_an_open_period_says_so_and_replays_without_bounds() -> None:
    report = make_report(None, None)
    assert render(report, "csv").filename == "esf-open-open.csv"
    rows = csv_rows(esf_csv(report, "de"), ";")
    assert rows[1] == [
        "Zeitraum",
        "",
        "",
        "Gesamter erfasster Zeitraum bis zur Erstellung des Berichts",
    ]
    assert rows[4] == [
        "Nachvollziehbar mit",
        "refnet audit replay --as-of 2026-02-03T14:05:06.123456+00:00 --esf",
    ]


def test_a_half_open_period_names_its_one_bound() -> None:
    since = make_report(datetime(2025, 1, 1, tzinfo=UTC), None)
    assert render(since, "pdf").filename == "esf-2025-01-01-open.pdf"
    assert csv_rows(esf_csv(since, "de"), ";")[1][3] == "Ab 01.01.2025"
    assert csv_rows(esf_csv(since, "en"), ",")[4][1].endswith("--esf --from 2025-01-01")
    before = make_report(None, datetime(2025, 7, 1, 12, 30, tzinfo=UTC))
    rows = csv_rows(esf_csv(before, "de"), ";")
    assert rows[1][3] == "Vor dem 01.07.2025, 14:30 (UTC+2)"  # not a midnight: the time shows
    assert rows[4][1].endswith("--esf --to 2025-07-01T12:30:00+00:00")


# ------------------------------------------------------------------ the catalogue


def test_every_label_has_a_german_translation() -> None:
    with CATALOGUE.open("rb") as po:
        catalogue = read_po(po, locale="de", domain=DOMAIN)
    assert catalogue.locale is not None and str(catalogue.locale) == "de"
    translated = {m.id: m.string for m in catalogue if m.id and not m.fuzzy}
    missing = [m for m in messages() if not translated.get(m)]
    assert missing == [], f"no German in {CATALOGUE.name} for {missing}"
    stale = sorted(set(translated) - set(messages()))
    assert stale == [], f"{CATALOGUE.name} translates messages no longer used: {stale}"
    for message in messages():
        fields = set(re.findall(r"{\w+}", message))
        assert set(re.findall(r"{\w+}", str(translated[message]))) == fields, message
        assert label(message, "de") == translated[message]


def test_commission_codes_are_only_those_the_product_is_sure_of() -> None:
    codes = {(s.key, key): s.code(key) for s in SECTIONS for key in s.keys if s.code(key)}
    assert codes == {
        **{("output", f"EECO{n:02d}"): f"EECO{n:02d}" for n in range(1, 12)},
        ("results_on_leaving", "job_searching"): "EECR01",
        ("results_on_leaving", "in_employment"): "EECR04",
    }
