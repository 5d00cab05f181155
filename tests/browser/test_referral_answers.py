"""A partner answers a referral in the inbox, and the coordinator's counts follow.

The answer travels as it does in production: the browser's form post, the
gateway, the log, the worker, the read model, the coordinator's page. The test
waits for the worker to catch up with the log, then reloads the coordinator's
page until the counts moved (or a timeout says they did not).
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.browser.conftest import OpenPage
from tests.browser.pages import STACK_TRACE, metric, poll
from tests.browser.served import Dashboard
from tests.integration.world import run_sync

pytestmark = pytest.mark.browser

ACCEPT = "Annehmen"
COUNTS = ("referrals_accepted", "referrals_declined", "referrals_pending")


def referral_counts(page: Page) -> dict[str, int]:
    """The network's referral counts on the coordinator's overview."""
    page.goto("/network")
    return {name: metric(page, name) for name in COUNTS}


def counts_after(coordinator: Page, dashboard: Dashboard, expected: dict[str, int]) -> None:
    run_sync(dashboard.world.wait(timeout=60))
    poll(
        lambda: referral_counts(coordinator) == expected,
        timeout=30,
        what=f"the coordinator's referral counts to become {expected}",
    )


def inbox_rows(page: Page) -> int:
    """How many referrals wait in the partner's inbox: the figure, and one row each."""
    page.goto("/partner/inbox")
    waiting = metric(page, "inbox_waiting")
    assert page.get_by_role("button", name=ACCEPT, exact=True).count() == waiting
    return waiting


def test_accepting_a_referral_moves_one_from_pending_to_accepted_once(
    open_as: OpenPage, dashboard: Dashboard
) -> None:
    coordinator = open_as("coordinator")
    before = referral_counts(coordinator)
    assert before["referrals_pending"] > 0, before
    partner = open_as("partner")
    waiting = inbox_rows(partner)
    assert waiting >= 1, "the demo partner's inbox shows no referral to accept"

    row = partner.get_by_role("row").filter(has=partner.get_by_role("button", name=ACCEPT)).first
    referral = row.get_by_role("rowheader").inner_text().strip()
    form = row.locator("form").filter(has=partner.get_by_role("button", name=ACCEPT))
    fields: dict[str, str | float | bool] = {
        name: form.locator(f'input[name="{name}"]').get_attribute("value") or ""
        for name in ("csrf", "referral_id", "participant_id")
    }
    row.get_by_role("button", name=ACCEPT, exact=True).click()
    partner.wait_for_load_state()
    assert not STACK_TRACE.search(partner.locator("body").inner_text())
    notice = partner.get_by_role("status")
    assert notice.count() == 1, "no notice that the answer was sent"
    assert referral in notice.inner_text()

    # The same form sent again, as a double click does: the answer's fixed event id
    # makes it count once, and the reader is told so rather than shown an error.
    again = partner.request.post("/partner/inbox/accept", form=fields, max_redirects=0)
    assert again.status in (303, 409), again.text()[:500]
    assert not STACK_TRACE.search(again.text())

    expected = before | {
        "referrals_accepted": before["referrals_accepted"] + 1,
        "referrals_pending": before["referrals_pending"] - 1,
    }
    counts_after(coordinator, dashboard, expected)
    assert inbox_rows(partner) == waiting - 1
    assert partner.get_by_role("rowheader", name=referral, exact=True).count() == 0


def test_declining_a_referral_with_a_reason_moves_one_from_pending_to_declined(
    open_as: OpenPage, dashboard: Dashboard
) -> None:
    coordinator = open_as("coordinator")
    before = referral_counts(coordinator)
    partner = open_as("partner")
    waiting = inbox_rows(partner)
    assert waiting >= 1, "the demo partner's inbox shows no referral to decline"

    decline = partner.locator("form").filter(has=partner.get_by_role("combobox")).first
    decline.get_by_role("combobox").select_option(index=1)  # the first reason after "choose"
    decline.get_by_role("button").click()
    partner.wait_for_load_state()
    assert not STACK_TRACE.search(partner.locator("body").inner_text())

    expected = before | {
        "referrals_declined": before["referrals_declined"] + 1,
        "referrals_pending": before["referrals_pending"] - 1,
    }
    counts_after(coordinator, dashboard, expected)
    assert inbox_rows(partner) == waiting - 1
