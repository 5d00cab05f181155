"""Every page of every role, in German: a full-page capture, then axe-core's verdict.

The capture is written first, so a page that fails the check is still seen.
axe-core's findings of every impact are printed at the end of the run (and
written beside the captures); serious and critical ones fail the page's test.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.conftest import OpenPage
from tests.browser.pages import (
    AUDITOR_PAGES,
    COORDINATOR_PAGES,
    PARTNER_PAGES,
    STACK_TRACE,
    accessibility,
    page_name,
    screenshot,
)
from tests.browser.served import Dashboard

pytestmark = pytest.mark.browser

PAGES = [
    *(("coordinator", path, page_name(path)) for path in COORDINATOR_PAGES),
    *(("partner", path, page_name(path)) for path in PARTNER_PAGES),
    *(("auditor", path, page_name(path)) for path in AUDITOR_PAGES),
    ("", "/sign-in", "sign-in"),
    ("partner", "/network", "refused"),  # the 403 page, as a partner meets it
]


@pytest.mark.parametrize(("role", "path", "name"), PAGES, ids=[name for *_, name in PAGES])
def test_page_is_captured_and_has_no_serious_accessibility_violation(
    axe_source: str,
    open_as: OpenPage,
    dashboard: Dashboard,
    screenshots: Path,
    role: str,
    path: str,
    name: str,
) -> None:
    page = open_as(role or None, bypass_csp=True)
    answer = page.goto(path.format(participant=dashboard.participant))
    assert answer is not None
    expected = 403 if name == "refused" else 200
    assert answer.status == expected, f"{path} answered {answer.status}"
    assert page.locator("html").get_attribute("lang") == "de"
    assert not STACK_TRACE.search(page.locator("body").inner_text())
    screenshot(page, screenshots, name)
    found = accessibility(page, axe_source, name)
    blocking = [f.line() for f in found if f.blocking]
    assert not blocking, "axe-core found serious or critical violations:\n" + "\n".join(blocking)
