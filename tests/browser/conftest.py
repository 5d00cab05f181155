"""The browser tests' fixtures: one served demo network and one Chromium for the package.

Kafka and PostgreSQL come from the integration tests' `infrastructure` fixture.
Chromium is Debian's (`make browser-deps` installs it when missing; no browser is
ever downloaded) and axe-core the version pinned in package-lock.json. Under
CI=true a missing one fails the tests; elsewhere they skip and say why.

Both long-lived fixtures are package-scoped: the demo world, its worker and its
server stop when the last browser test is done, and Playwright's event loop is
gone before any asynchronous test of another folder runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.browser.pages import CHECKED, FINDINGS, sign_in
from tests.browser.served import Dashboard, served_demo
from tests.integration.conftest import IN_CI, infrastructure

__all__ = ["infrastructure"]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
HERE = Path(__file__).parent
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"

OpenPage = Callable[..., Page]


def _missing(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"browser tests cannot run under CI: {reason}")
    pytest.skip(f"browser tests need {reason}")


@pytest.fixture(scope="package")
def chromium() -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        _missing(f"Debian's chromium at {CHROMIUM} (`make browser-deps` installs it)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="package")
def axe_source() -> str:
    if not AXE.is_file():
        _missing(f"axe-core at {AXE} (`make browser-deps` runs npm ci from the lock file)")
    return AXE.read_text()


@pytest.fixture(scope="package")
def dashboard(infrastructure: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    """The demo network served once for every browser test."""
    with served_demo(tmp_path_factory.mktemp("dashboard")) as served:
        yield served


def artifacts() -> Path:
    """Where page captures go: $REFNET_SCREENSHOTS, else the git-ignored artifacts/."""
    given = os.environ.get("REFNET_SCREENSHOTS")
    return Path(given) if given else HERE / "artifacts"


@pytest.fixture(scope="package")
def screenshots() -> Path:
    return artifacts()


@pytest.fixture
def open_as(chromium: Browser, dashboard: Dashboard) -> Iterator[OpenPage]:
    """`open_as(role)`: a page in a fresh German browser context, signed in as `role`.

    `open_as(None)` is signed out; `bypass_csp=True` lets a test inject axe-core.
    Every context opened is closed after the test.
    """
    contexts: list[BrowserContext] = []

    def open_page(role: str | None = None, *, bypass_csp: bool = False) -> Page:
        context = chromium.new_context(
            base_url=dashboard.url,
            locale="de-DE",
            viewport={"width": 1280, "height": 900},
            bypass_csp=bypass_csp,
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        if role is not None:
            sign_in(page, dashboard.tokens[role])
        return page

    yield open_page
    for context in contexts:
        context.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """What axe-core found on each page, every impact, and a copy in the artifacts."""
    if not CHECKED:
        return
    lines = ["| page | kind | impact | rule | elements |", "|---|---|---|---|---|"]
    for name in CHECKED:
        found = [f for f in FINDINGS if f.page == name]
        lines += [f"| {name} | {f.kind} | {f.impact} | {f.rule} | {f.nodes} |" for f in found]
        if not found:
            lines.append(f"| {name} | - | - | nothing found | 0 |")
    blocking = sum(1 for f in FINDINGS if f.blocking)
    lines.append(f"\n{len(CHECKED)} pages checked; {blocking} serious or critical violations")
    terminalreporter.write_sep("-", "axe-core findings")
    for line in lines:
        terminalreporter.write_line(line)
    details = [f"- {f.line()}: {', '.join(f.targets)}" for f in FINDINGS]
    directory = artifacts()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "axe-findings.md").write_text("\n".join(lines + ["", *details]) + "\n")
