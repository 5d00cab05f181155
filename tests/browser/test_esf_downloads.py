"""The ESF+ page's downloads, fetched as a coordinator's browser fetches them, open.

Each file is read with a real reader (csv, openpyxl, pypdf) and must hold the
network's participant total as `GET /v1/network/esf` reports it (EECO01).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import httpx
import openpyxl  # type: ignore[import-untyped]
import pypdf
import pytest

from tests.browser.conftest import OpenPage
from tests.browser.served import Dashboard

pytestmark = pytest.mark.browser


def esf_participants(dashboard: Dashboard) -> int:
    answer = httpx.get(
        f"{dashboard.url}/v1/network/esf",
        headers={"Authorization": f"Bearer {dashboard.tokens['coordinator']}"},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    total: int = answer.json()["output"]["EECO01"]["total"]
    return total


def cells(path: Path) -> list[str]:
    """Every value the file shows, as text."""
    if path.suffix == ".csv":
        text = path.read_bytes().decode("utf-8-sig")
        # German spreadsheets expect `;` between fields (the comma is the decimal sign).
        rows = csv.reader(io.StringIO(text), delimiter=";")
        return [value for row in rows for value in row]
    if path.suffix == ".xlsx":
        book = openpyxl.load_workbook(path, read_only=True)
        found = [str(v) for sheet in book for row in sheet.iter_rows(values_only=True) for v in row]
        book.close()
        return found
    reader = pypdf.PdfReader(path)
    return " ".join(page.extract_text() for page in reader.pages).split()


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "pdf"])
def test_each_esf_download_opens_and_holds_the_participant_total(
    open_as: OpenPage, dashboard: Dashboard, tmp_path: Path, fmt: str
) -> None:
    page = open_as("coordinator")
    page.goto("/network/esf")
    link = page.get_by_role("main").locator(f'a[href^="/network/esf.{fmt}"]')
    assert link.count() == 1, f"no single {fmt} download link on the ESF+ page"
    with page.expect_download() as started:
        link.click()
    download = started.value
    assert download.failure() is None, download.failure()
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert saved.suffix == f".{fmt}", download.suggested_filename
    total = esf_participants(dashboard)
    assert total == 413
    assert str(total) in cells(saved), f"{saved.name} does not show EECO01 = {total}"
