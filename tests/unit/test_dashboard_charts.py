"""The dashboard's SVG charts: readable without colour, numbers as text, one accessible image."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from refnet.services.dashboard import charts

SVG = "{http://www.w3.org/2000/svg}"
SERIES = [
    charts.Series("Enrolments", [14, 1234, 0]),
    charts.Series("Placements", [2, 5, 9]),
    charts.Series("Exits", [0, 3, 7]),
]


def parsed(markup: str) -> ET.Element:
    return ET.fromstring(markup)


def texts(svg: ET.Element) -> list[str]:
    return [t.text or "" for t in svg.iter(f"{SVG}text")]


def test_columns_are_one_named_image_with_every_number_as_text() -> None:
    svg = parsed(
        charts.columns(
            "Per month", "Table below", ["Jan", "Feb", "Mar"], SERIES, lambda v: f"{v:,.0f}"
        )
    )
    assert svg.get("role") == "img"
    title, desc = svg.find(f"{SVG}title"), svg.find(f"{SVG}desc")
    assert title is not None and title.text == "Per month"
    assert desc is not None and desc.text == "Table below"
    assert svg.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    shown = texts(svg)
    for series in SERIES:
        assert series.name in shown
        for value in series.values:
            assert f"{value:,.0f}" in shown
    assert {"Jan", "Feb", "Mar"} <= set(shown)


def test_each_series_has_its_own_pattern_not_only_its_own_colour() -> None:
    svg = parsed(charts.columns("t", "d", ["a", "b", "c"], SERIES, str))
    patterns = list(svg.iter(f"{SVG}pattern"))
    assert len(patterns) == len(SERIES)
    # Beyond the first (solid), each pattern draws a mark of its own over its colour.
    marks = [ET.tostring(p[1]) if len(p) > 1 else b"" for p in patterns]
    assert len(set(marks)) == len(SERIES)
    fills = {r.get("fill") for r in svg.iter(f"{SVG}rect") if "url(" in (r.get("fill") or "")}
    assert fills == {f"url(#{p.get('id')})" for p in patterns}


def test_bars_carry_their_given_labels_and_escape_names() -> None:
    labelled = charts.Series("People", [413, 148], ["413 (100 %)", "148 (35,8 %)"])
    svg = parsed(charts.bars("Funnel <1>", "d", ["Enrolled & more", "Placed"], [labelled], str))
    shown = texts(svg)
    assert "413 (100 %)" in shown and "148 (35,8 %)" in shown
    assert "Enrolled & more" in shown
    title = svg.find(f"{SVG}title")
    assert title is not None and title.text == "Funnel <1>"


def test_stacked_bars_name_every_segment_after_the_bar() -> None:
    svg = parsed(charts.stacked("Flows", "d", ["a → b", "b → a"], SERIES, str))
    shown = texts(svg)
    assert "14 · 2 · 0" in shown and "1234 · 5 · 3" in shown
    assert all(name in shown for name in ("Enrolments", "Placements", "Exits"))


def test_two_charts_on_one_page_have_distinct_ids() -> None:
    first = charts.bars("a", "d", ["x"], SERIES[:1], str)
    second = charts.bars("b", "d", ["x"], SERIES[:1], str)
    ids = re.findall(r'id="([^"]+)"', first + second)
    assert len(ids) == len(set(ids))


def test_an_empty_chart_draws_without_dividing_by_zero() -> None:
    svg = parsed(charts.columns("t", "d", [], [charts.Series("none", [])], str))
    assert svg.get("role") == "img"
