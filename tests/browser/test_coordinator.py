"""The coordinator's overview on the demo network, in German and, switched, in English."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.browser.conftest import OpenPage
from tests.browser.pages import metric, path_of

pytestmark = pytest.mark.browser


def test_overview_shows_the_demo_networks_participants_and_placements(open_as: OpenPage) -> None:
    page = open_as("coordinator")
    page.goto("/network")
    assert (metric(page, "participants"), metric(page, "placed")) == (413, 148)
    assert page.locator("html").get_attribute("lang") == "de"


def test_switching_to_english_changes_the_labels_and_is_remembered(open_as: OpenPage) -> None:
    page = open_as("coordinator")
    page.goto("/network")
    german = heading(page)
    assert german != "Network outcomes"
    page.get_by_role("banner").get_by_role("link", name="English").click()
    page.wait_for_function("document.documentElement.lang === 'en'")
    assert path_of(page) == "/network", "the switch goes back to the page it was used on"
    assert heading(page) == "Network outcomes"
    assert page.get_by_role("banner").get_by_role("button", name="Sign out").count() == 1
    assert metric(page, "participants") == 413

    # The next page, and a later visit to the first, are still in English.
    page.goto("/network/funnel")
    assert page.locator("html").get_attribute("lang") == "en"
    assert heading(page) == "Funnel from enrolment to placement"
    page.goto("/network")
    assert heading(page) == "Network outcomes"

    # Switching back restores the German labels.
    page.get_by_role("banner").get_by_role("link", name="Deutsch").click()
    page.wait_for_function("document.documentElement.lang === 'de'")
    assert heading(page) == german
    assert page.get_by_role("banner").get_by_role("button", name="Sign out").count() == 0


def heading(page: Page) -> str:
    return page.get_by_role("heading", level=1).inner_text().strip()
