"""The HTTP API's operations: health, lost dependencies, documentation and the CLI's tokens."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from typer.testing import CliRunner

from refnet.services.api.app import create_app
from refnet.services.api.deps import pooled
from refnet.services.cli.tokens import tokens_app
from refnet.services.registry.tokens import issue_token
from tests.integration.api.support import (
    BASE,
    LABEL,
    TOKEN_SHAPE,
    Tokens,
    api_settings,
    assert_error,
    bearer,
    rid,
)

pytestmark = pytest.mark.integration


# -- operations ----------------------------------------------------------------------------


async def test_health_reports_database_broker_and_lag(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    response = await client.get("/v1/health", headers=bearer(tokens.partner))

    body = response.json()
    assert set(body) == {"status", "broker", "database", "lag", "projection"}
    assert body["database"]["up"] is True
    assert isinstance(body["broker"]["up"], bool) and body["broker"]["detail"]
    assert response.status_code == (200 if body["status"] == "ok" else 503)
    # Lag is known whenever the broker answers, also when the health is degraded
    # (events waiting with no worker running); without the broker it is unknown.
    if body["broker"]["up"]:
        partitions = body["lag"]["partitions"]
        assert partitions and body["lag"]["total"] == sum(p["lag"] for p in partitions)
        assert all(p["lag"] == max(0, p["end_offset"] - p["next_offset"]) for p in partitions)
    else:
        assert body["status"] != "ok"
        assert body["lag"] == {"total": None, "partitions": []}


async def test_the_probes_answer_without_a_token(client: httpx.AsyncClient) -> None:
    live, ready = await client.get("/livez"), await client.get("/readyz")

    assert (live.status_code, live.json()) == (200, {"ready": True})
    assert (ready.status_code, ready.json()) == (200, {"ready": True})


async def test_a_lost_database_is_503_never_500() -> None:
    application = create_app(api_settings())
    async with application.router.lifespan_context(application):
        async with pooled(application.state.pool) as conn:
            token = (await issue_token(conn, "coordinator", label=LABEL)).token
        await application.state.pool.close()
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
            outcomes = await http.get("/v1/network/outcomes", headers=bearer(token))
            health = await http.get("/v1/health", headers=bearer(token))
            ready = await http.get("/readyz")
            live = await http.get("/livez")

    assert (ready.status_code, ready.json()) == (503, {"ready": False})
    assert (live.status_code, live.json()) == (200, {"ready": True})
    assert_error(outcomes, 503, "store_unavailable")
    assert outcomes.headers["Retry-After"].isdigit()
    assert health.status_code == 503
    assert health.json()["status"] == "degraded"
    assert health.json()["database"]["up"] is False
    assert health.json()["broker"]["up"] is None


async def test_an_unreachable_broker_is_reported_as_degraded_with_503() -> None:
    # Port 1 refuses at once; the probe still waits out its metadata timeout (~5 s).
    application = create_app(api_settings(kafka_bootstrap="127.0.0.1:1"))
    async with application.router.lifespan_context(application):
        async with pooled(application.state.pool) as conn:
            token = (await issue_token(conn, "auditor", label=LABEL)).token
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
            health = await http.get("/v1/health", headers=bearer(token))

    body = health.json()
    assert health.status_code == 503
    assert body["status"] == "degraded"
    assert body["database"]["up"] is True
    assert body["broker"]["up"] is False and "127.0.0.1:1" in body["broker"]["detail"]
    assert body["lag"] == {"total": None, "partitions": []}


async def test_openapi_and_docs_are_served(client: httpx.AsyncClient) -> None:
    schema = await client.get("/openapi.json")
    docs = await client.get("/docs")

    assert schema.status_code == 200 and docs.status_code == 200
    assert schema.json()["info"]["title"] == "RefNet API"
    assert set(schema.json()["paths"]) >= {
        "/v1/network/outcomes",
        "/v1/partners/{partner_id}/caseload",
        "/v1/partners/{partner_id}/referrals",
        "/v1/health",
    }
    params = schema.json()["paths"]["/v1/network/outcomes"]["get"]["parameters"]
    assert [p["name"] for p in params] == ["from", "to"]
    assert "swagger-ui" in docs.text


# -- the CLI's tokens ----------------------------------------------------------------------


@pytest.fixture
def cli() -> Iterator[CliRunner]:
    # The app fixture's registry, whose teardown deletes this run's tokens.
    yield CliRunner(env={"REFNET_REGISTRY_SCHEMA": api_settings().registry_schema})


@pytest.mark.usefixtures("app")  # whose teardown deletes this run's tokens
def test_cli_issues_lists_and_revokes_a_token(cli: CliRunner) -> None:
    partner = rid("partner")

    args = ["issue", "--role", "partner", "--partner", partner, "--label", LABEL]
    issued = cli.invoke(tokens_app, args)
    token_id = issued.stdout.strip().split("_")[1]
    listed = cli.invoke(tokens_app, ["list"], env={"COLUMNS": "200"})
    revoked = cli.invoke(tokens_app, ["revoke", token_id])
    again = cli.invoke(tokens_app, ["list", "--active"], env={"COLUMNS": "200"})

    assert issued.exit_code == 0 and TOKEN_SHAPE.fullmatch(issued.stdout.strip())
    assert "shown only now" in issued.stderr
    assert token_id in listed.stdout and partner in listed.stdout
    assert revoked.exit_code == 0
    assert token_id not in again.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["issue", "--role", "partner"],
        ["issue", "--role", "partner", "--partner", "Not A Slug"],
        ["issue", "--role", "coordinator", "--partner", "awo-en"],
        ["revoke", "no-such-id"],
    ],
)
def test_cli_refusals_are_one_error_message_and_exit_1(cli: CliRunner, args: list[str]) -> None:
    result = cli.invoke(tokens_app, args)

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("error: ") and "Traceback" not in result.output
