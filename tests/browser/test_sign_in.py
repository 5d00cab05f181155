"""Signing in and out, and pages refused to a reader who may not see them."""

from __future__ import annotations

import pytest

from tests.browser.conftest import OpenPage
from tests.browser.pages import STACK_TRACE, path_of, sign_in_form, sign_out, submit_token
from tests.browser.served import Dashboard

pytestmark = pytest.mark.browser

HOMES = {"coordinator": "/network", "partner": "/partner/inbox", "auditor": "/audit/outcomes"}


@pytest.mark.parametrize("role", sorted(HOMES))
def test_sign_in_leads_to_the_roles_home_and_sign_out_ends_the_session(
    open_as: OpenPage, dashboard: Dashboard, role: str
) -> None:
    page = open_as(role)
    assert path_of(page) == HOMES[role]
    held = [c for c in page.context.cookies() if c["value"] == dashboard.tokens[role]]
    assert len(held) == 1, "the session is one cookie"
    assert held[0]["httpOnly"] and held[0]["sameSite"] == "Strict", held[0]
    assert dashboard.tokens[role] not in page.evaluate("document.cookie")
    page.goto("/")
    assert path_of(page) == HOMES[role]
    sign_out(page)
    assert path_of(page) == "/sign-in"
    assert not [c for c in page.context.cookies() if c["value"] == dashboard.tokens[role]]
    # The session is gone: its home now sends the reader to sign in again.
    page.goto(HOMES[role])
    assert path_of(page) == "/sign-in"
    assert sign_in_form(page).count() == 1


def test_a_wrong_token_gets_a_clear_message_and_no_stack_trace(
    open_as: OpenPage, dashboard: Dashboard
) -> None:
    page = open_as(None)
    real = dashboard.tokens["coordinator"]
    answer = submit_token(page, real[:-4] + "xxxx")
    assert answer.status == 401
    assert path_of(page) == "/sign-in"
    text = page.locator("body").inner_text()
    assert not STACK_TRACE.search(text), text
    alert = page.get_by_role("alert")
    assert alert.count() >= 1, f"no message in role=alert on the refused sign-in:\n{text}"
    assert "token" in alert.first.inner_text().lower()
    # Nobody is signed in: a coordinator's page still asks for sign-in.
    page.goto("/network")
    assert path_of(page) == "/sign-in"


def test_signed_out_reader_is_sent_to_sign_in_and_back_afterwards(
    open_as: OpenPage, dashboard: Dashboard
) -> None:
    page = open_as(None)
    page.goto("/")
    assert path_of(page) == "/sign-in"
    page.goto("/network/funnel")
    assert path_of(page) == "/sign-in"
    form = sign_in_form(page)
    form.locator('[name="token"]').fill(dashboard.tokens["coordinator"])
    form.get_by_role("button").first.click()
    page.wait_for_url("**/network/funnel")


@pytest.mark.parametrize(
    ("role", "path"),
    [
        ("partner", "/network"),
        ("partner", "/audit/outcomes"),
        ("auditor", "/partner/inbox"),
        ("coordinator", "/partner/inbox"),
    ],
)
def test_a_page_of_another_role_is_refused(open_as: OpenPage, role: str, path: str) -> None:
    page = open_as(role)
    answer = page.goto(path)
    assert answer is not None and answer.status == 403, answer and answer.status
    assert path_of(page) == path
    text = page.locator("body").inner_text()
    assert not STACK_TRACE.search(text), text
    assert page.locator("[data-metric]").count() == 0, "a refused page shows no figures"
