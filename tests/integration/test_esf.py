"""The ESF+ report of the demo network: the API's figures are reproduced from the log alone.

`GET /v1/network/esf` counts the live read model; `refnet audit replay --as-of
<its stamp> --esf` folds the log and counts the derived rows with the same
`esf_report`; `GET /v1/audit/esf?as_of=` counts the stored fold as of the stamp.
All three must agree figure by figure, with and without a period.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from refnet.projections.audit.replay import replay_log
from refnet.projections.reports.esf import OUTPUT_KEYS, SITUATION_KEYS, EsfReport
from refnet.projections.reports.esf_asof import replayed_esf
from refnet.projections.store.views import Period
from refnet.services.api.app import create_app
from refnet.services.cli.main import app as cli_app
from refnet.services.demo.generator import demo_history
from refnet.services.kafka.topics import high_watermarks
from refnet.services.localstack.process import settings_env
from refnet.services.registry.audit_keys import audit_keys
from refnet.services.registry.tokens import issue_token
from tests.integration.world import World, run_sync, show_in_terminal

pytestmark = pytest.mark.integration

PERIOD = {"from": "2024-07-01", "to": "2025-01-01"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def replayed(world: World, as_of: dt.datetime, period: dict[str, str] | None = None) -> Any:
    """The report as `refnet audit replay` computes it, from the log alone."""
    keys = run_sync(audit_keys(world.settings, None))
    replay = replay_log(world.settings, keys)
    bounds = Period.model_validate(period or {})
    report = replayed_esf(replay, world.settings.topic_events, as_of, bounds)
    return report.model_dump(mode="json", by_alias=True)


def replayed_by_cli(world: World, as_of: str, *args: str) -> Any:
    argv = ["audit", "replay", "--as-of", as_of, "--esf", "--json", *args]
    result = CliRunner().invoke(cli_app, argv, env=settings_env(world.settings))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def figures(body: dict[str, Any]) -> list[str]:
    lines = [f"ESF+ report of the demo network, as of {body['period']['as_of']}"]
    for section in ("output", "results_on_leaving", "results_six_months"):
        for key, box in body[section].items():
            split = ", ".join(f"{g} {n}" for g, n in box.items() if g != "total")
            lines.append(f"  {section}.{key}: {box['total']} ({split})")
    lines.append(f"  refused: {body['refused']}")
    return lines


async def test_the_demo_report_is_reproduced_from_the_log(
    running: World, request: pytest.FixtureRequest
) -> None:
    running.publish(demo_history())
    await running.wait()
    application = create_app(running.settings)
    async with application.router.lifespan_context(application):
        async with application.state.pool.acquire() as conn:
            coordinator = (await issue_token(conn, "coordinator")).token
            auditor = (await issue_token(conn, "auditor")).token
            partner = (await issue_token(conn, "partner", partner_id="awo-en")).token
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://refnet") as http:
            response = await http.get("/v1/network/esf", headers=bearer(coordinator))
            body = response.json()
            assert response.status_code == 200, body
            outcomes = (await http.get("/v1/network/outcomes", headers=bearer(coordinator))).json()
            as_of = body["period"]["as_of"]
            audited = await http.get(
                "/v1/audit/esf", params={"as_of": as_of}, headers=bearer(auditor)
            )
            in_period = await http.get("/v1/network/esf", params=PERIOD, headers=bearer(auditor))
            period_as_of = in_period.json()["period"]["as_of"]
            audited_period = await http.get(
                "/v1/audit/esf", params={"as_of": period_as_of, **PERIOD}, headers=bearer(auditor)
            )
            refused = [
                (await http.get(path, headers=bearer(token))).status_code
                for path, token in (
                    ("/v1/network/esf", partner),
                    ("/v1/audit/esf", partner),
                    ("/v1/audit/esf", coordinator),
                )
            ]
            anonymous = (await http.get("/v1/network/esf")).status_code
    show_in_terminal(request, figures(body))

    # The read model and the log agree: the stamp holds the log's ends.
    assert body["period"]["log_position"] == {
        "topic": running.settings.topic_events,
        "next_offsets": {str(p): n for p, n in _ends(running).items()},
    }
    assert body["output"]["EECO01"]["total"] == outcomes["participants"] == 413
    assert body == replayed(running, dt.datetime.fromisoformat(as_of))
    # The CLI runs its own event loop: give it a thread.
    assert body == await asyncio.to_thread(replayed_by_cli, running, as_of)
    assert audited.status_code == 200 and audited.json() == body

    assert in_period.status_code == 200
    assert in_period.json() == replayed(running, dt.datetime.fromisoformat(period_as_of), PERIOD)
    bounds = ("--from", PERIOD["from"], "--to", PERIOD["to"])
    cli_period = await asyncio.to_thread(replayed_by_cli, running, period_as_of, *bounds)
    assert cli_period == in_period.json()
    assert audited_period.json() == in_period.json()
    assert in_period.json()["period"]["from"] == "2024-07-01T00:00:00Z"

    assert refused == [403, 403, 403]
    assert anonymous == 401
    _assert_plausible(EsfReport.model_validate(body))


def _ends(world: World) -> dict[int, int]:
    return high_watermarks(world.settings, world.settings.topic_events)


def _assert_plausible(report: EsfReport) -> None:
    """The demo exercises every section: people leave, most are followed up."""
    output = report.output
    assert all(getattr(output, key).total <= output.EECO01.total for key in OUTPUT_KEYS)
    assert output.EECO03.total <= output.EECO02.total
    leaving, later = report.results_on_leaving, report.results_six_months
    assert 0 < later.followed_up.total <= leaving.left.total
    assert sum(getattr(leaving, k).total for k in SITUATION_KEYS) == leaving.left.total
    assert sum(getattr(later, k).total for k in SITUATION_KEYS) == later.followed_up.total
