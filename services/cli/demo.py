"""`refnet demo`: publish the demo network's two-year history and show its outcomes.

The history has fixed event ids, so running the demo again publishes the same
events and changes no count.
"""

from __future__ import annotations

import typer
from rich.table import Table

from refnet.events.settings import Settings
from refnet.projections.store.queries import network_outcomes
from refnet.projections.store.views import NetworkOutcomes, Period
from refnet.services.cli.console import console, friendly, run
from refnet.services.cli.projections import wait_until_caught_up
from refnet.services.cli.publish import publish_with_progress
from refnet.services.cli.root import cli_settings, migrated_connection
from refnet.services.demo.generator import demo_network
from refnet.services.registry.local_keys import provision_keys
from refnet.services.registry.tokens import issue_token

DEMO_TOKEN_LABEL = "demo dashboard"


@friendly
def demo_command(
    seed: int = typer.Option(2024, help="seed of the generated history"),
    timeout: float = typer.Option(300.0, help="seconds to wait for the projections"),
) -> None:
    """Publish the demo network's history, wait for the projections, print the outcomes."""
    settings = cli_settings()
    # With contact details in clear, sealed by the publisher under each person's key.
    events = demo_network(seed)
    made = run(provision_keys(settings, {e.partner_id for e in events}))
    if made:
        console.print(f"made and registered signing keys for {', '.join(made)}")
    publish_with_progress(settings, events, "publishing demo history")
    run(wait_until_caught_up(settings, timeout))
    outcomes, token = run(_outcomes(settings))
    console.print(summary_table(outcomes))
    base = f"http://{settings.api_host}:{settings.api_port}"
    console.print(f"API: {base}/v1/network/outcomes   docs: {base}/docs")
    for line in dashboard_lines(base, token):
        console.print(line, soft_wrap=True, highlight=False)


async def _outcomes(settings: Settings) -> tuple[NetworkOutcomes, str]:
    """The network's outcomes, and a freshly issued coordinator token for the dashboard."""
    async with migrated_connection(settings) as conn:
        outcomes = await network_outcomes(conn, Period(), settings.referral_overdue_days)
        issued = await issue_token(conn, "coordinator", label=DEMO_TOKEN_LABEL)
    return outcomes, issued.token


def dashboard_lines(base: str, token: str) -> list[str]:
    """Where the dashboard is and how to sign in: printed after the summary."""
    return [
        f"Dashboard: {base}/  (served by the API that `refnet stack up` started)",
        f"Sign in with this coordinator token: {token}",
        f"Revoke it later with `refnet tokens revoke {token.split('_')[1]}`.",
    ]


def summary_table(outcomes: NetworkOutcomes, title: str = "RefNet demo network: outcomes") -> Table:
    """The network's outcomes as a two-column table."""
    table = Table(title=title, show_header=False)
    rate = outcomes.placement_rate
    refs = outcomes.referrals
    for label, value in (
        ("participants", outcomes.participants),
        ("placed", outcomes.placed.total),
        ("  apprenticeship", outcomes.placed.apprenticeship),
        ("  employment", outcomes.placed.employment),
        ("placement rate", f"{rate:.1%}" if rate is not None else "-"),
        ("in training", outcomes.in_training),
        ("referrals sent", refs.sent),
        ("  accepted / declined / pending", f"{refs.accepted} / {refs.declined} / {refs.pending}"),
        ("  overdue (pending too long)", refs.overdue),
        ("median days to placement", outcomes.median_days_to_placement),
    ):
        table.add_row(label, str(value))
    return table
