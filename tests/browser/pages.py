"""What the browser tests do on a page: sign in, read a figure, check accessibility, capture.

Selectors follow the dashboard's stable hooks (the `token` field, `data-metric`)
and accessible roles and names, not its CSS classes.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.sync_api import Locator, Page, Response

COORDINATOR_PAGES = (
    "/network",
    "/network/funnel",
    "/network/flows",
    "/network/overdue",
    "/network/esf",
)
PARTNER_PAGES = (
    "/partner/caseload",
    "/partner/inbox",
    "/partner/outbox",
    "/partner/rejections",
    "/partner/follow-ups",
)
AUDITOR_PAGES = ("/audit/outcomes", "/audit/timeline?participant={participant}", "/audit/reads")

SIGN_OUT = re.compile(r"^\s*(Abmelden|Sign out)\s*$", re.IGNORECASE)
STACK_TRACE = re.compile(r"Traceback|Internal Server Error|File \"[^\"]+\", line \d+")


def sign_in_form(page: Page) -> Locator:
    """The form that holds the `token` field (the header may hold other forms)."""
    return page.locator("form").filter(has=page.locator('[name="token"]'))


def submit_token(page: Page, token: str) -> Response:
    """Fill the sign-in form and submit it; the answer to the POST (a redirect or a 401)."""
    shown = page.goto("/sign-in")
    assert shown is not None and shown.status == 200, f"/sign-in answered {shown and shown.status}"
    form = sign_in_form(page)
    form.locator('[name="token"]').fill(token)
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        form.get_by_role("button").first.click()
    page.wait_for_load_state()
    return posted.value


def sign_in(page: Page, token: str) -> None:
    """Sign in and wait until the dashboard has left the sign-in page."""
    answer = submit_token(page, token)
    assert answer.status in (302, 303), f"sign-in answered {answer.status}: {page.content()[:500]}"
    page.wait_for_url(lambda url: "/sign-in" not in url)


def sign_out(page: Page) -> None:
    page.get_by_role("banner").get_by_role("button", name=SIGN_OUT).click()
    page.wait_for_url(re.compile(r"/sign-in"))


def path_of(page: Page) -> str:
    """The current URL's path, without host or query."""
    return re.sub(r"^[a-z]+://[^/]+", "", page.url).split("?", 1)[0]


def as_count(text: str) -> int:
    """A count as the page shows it, in either language (`1.234` or `1,234`)."""
    digits = re.sub(r"[^\d]", "", text)
    if not digits:
        raise AssertionError(f"no number in {text!r}")
    return int(digits)


def metric(page: Page, name: str) -> int:
    """The figure that carries `data-metric="<name>"` (exactly one on the page)."""
    hook = page.locator(f'[data-metric="{name}"]')
    count = hook.count()
    assert count == 1, f'{count} elements carry data-metric="{name}" on {page.url}'
    return as_count(hook.inner_text())


def poll(probe: Callable[[], Any], timeout: float, what: str) -> Any:
    """Call `probe` until it returns something true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.2)  # between two reloads of a page, not a guess at a duration
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")


# ------------------------------------------------------------------ accessibility

# Violations are failures; "incomplete" results are what axe could not decide
# (e.g. contrast over an image) and are reported for a person to review.
_AXE_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations", "incomplete"]});
  const rows = (kind, list) => list.map(v => ({
    kind, id: v.id, impact: v.impact, nodes: v.nodes.length, help: v.help,
    targets: v.nodes.slice(0, 3).map(n => n.target.join(" ")),
  }));
  return rows("violation", result.violations).concat(rows("review", result.incomplete));
}"""

BLOCKING = ("serious", "critical")


@dataclass(frozen=True)
class Finding:
    """One axe-core rule a page violates (or that needs review), with how many elements."""

    page: str
    kind: str
    impact: str
    rule: str
    nodes: int
    help: str
    targets: tuple[str, ...]

    def line(self) -> str:
        return f"{self.page}: {self.kind} {self.impact} {self.rule} x{self.nodes} ({self.help})"

    @property
    def blocking(self) -> bool:
        return self.kind == "violation" and self.impact in BLOCKING


FINDINGS: list[Finding] = []
"""Every page's findings in this run, for the summary printed at the end."""
CHECKED: list[str] = []
"""Every page axe checked, also those with nothing to report."""


def accessibility(page: Page, axe_source: str, name: str) -> list[Finding]:
    """Run axe-core on the page as it is shown; record and return what it found."""
    page.add_script_tag(content=axe_source)
    found = [
        Finding(
            name,
            v["kind"],
            v["impact"] or "none",
            v["id"],
            v["nodes"],
            v["help"],
            tuple(v["targets"]),
        )
        for v in page.evaluate(_AXE_RUN)
    ]
    CHECKED.append(name)
    FINDINGS.extend(found)
    return found


def screenshot(page: Page, directory: Path, name: str) -> Path:
    """A full-page PNG named after the page, e.g. `network-funnel.png`."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{name}.png"
    page.screenshot(path=str(target), full_page=True)
    return target


def page_name(path: str) -> str:
    """`/network/funnel?from=...` gives `network-funnel`: the capture's and the report's name."""
    return re.sub(r"[^a-z0-9]+", "-", path.split("?", 1)[0].lower()).strip("-")
