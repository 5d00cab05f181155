"""The HTTP API over the real read model: who may read what, error shapes, and the counts.

Runs against the PostgreSQL the settings name (REFNET_DATABASE_URL), through
`httpx.AsyncClient` over the ASGI transport. Rows go straight into the read
model with random partner, site and participant ids, and are deleted after
each test; network totals are asserted as deltas, since other rows may exist.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from typer.testing import CliRunner

from refnet.events.settings import Settings
from refnet.services.api.app import create_app
from refnet.services.api.deps import pooled
from refnet.services.cli.tokens import tokens_app
from refnet.services.registry.tokens import issue_token, revoke_token
from tests.integration.world import world_kek

pytestmark = pytest.mark.integration

BASE = "http://refnet.test"
LABEL = f"api tests {uuid.uuid4().hex[:8]}"
"""Every token the tests issue carries this run's label, and is deleted at the end."""
TOKEN_SHAPE = re.compile(r"rn_[a-z0-9]{12}_[A-Za-z0-9_-]{43}")


RUN = uuid.uuid4().hex[:8]


def api_settings(**overrides: Any) -> Settings:
    """The stack's settings with a registry of this run's own and its KEK: the shared
    registry may have been set up by another checkout's stack with another KEK."""
    return Settings(
        registry_schema=f"api_tests_{RUN}_registry",
        kek=world_kek(f"api-tests-{RUN}"),
        **overrides,
    )


def rid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
async def app() -> AsyncIterator[FastAPI]:
    # ASGITransport does not run the lifespan; enter it here, as uvicorn would.
    application = create_app(api_settings())
    async with application.router.lifespan_context(application):
        yield application
        async with pooled(application.state.pool) as conn:
            await conn.execute("DELETE FROM api_tokens WHERE label = $1", LABEL)
            await conn.execute(f'DROP SCHEMA IF EXISTS "api_tests_{RUN}_registry" CASCADE')


@pytest.fixture(scope="module")
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        yield http


@pytest.fixture
async def conn(app: FastAPI) -> AsyncIterator[asyncpg.Connection]:
    async with pooled(app.state.pool) as connection:
        yield connection


@dataclass
class Tokens:
    partner_id: str
    coordinator: str
    auditor: str
    partner: str
    expired: str
    revoked: str


@pytest.fixture(scope="module")
async def tokens(app: FastAPI) -> Tokens:
    partner_id = rid("partner")
    async with pooled(app.state.pool) as conn:
        coordinator = await issue_token(conn, "coordinator", label=LABEL)
        auditor = await issue_token(conn, "auditor", label=LABEL)
        partner = await issue_token(conn, "partner", partner_id, label=LABEL)
        expired = await issue_token(conn, "partner", partner_id, LABEL, timedelta(days=1))
        await conn.execute(
            "UPDATE api_tokens SET created_at = now() - interval '2 days',"
            " expires_at = now() - interval '1 day' WHERE token_id = $1",
            expired.token_id,
        )
        revoked = await issue_token(conn, "coordinator", label=LABEL)
        assert await revoke_token(conn, revoked.token_id)
    return Tokens(
        partner_id,
        coordinator.token,
        auditor.token,
        partner.token,
        expired.token,
        revoked.token,
    )


@dataclass
class ReadModel:
    """Rows written straight into the read model for one test, removed afterwards."""

    conn: asyncpg.Connection
    participants: list[str] = field(default_factory=list)

    async def participant(self, site: str, enrolled_at: datetime | None, **cols: Any) -> str:
        participant_id = rid("pp")
        self.participants.append(participant_id)
        await self.conn.execute(
            "INSERT INTO participants (participant_id, enrolled, first_enrolled_at, site,"
            " placed_at, placement_kind) VALUES ($1, $2, $3, $4, $5, $6)",
            participant_id,
            enrolled_at is not None,
            enrolled_at,
            site,
            cols.get("placed_at"),
            cols.get("placement_kind"),
        )
        return participant_id

    async def link(self, partner_id: str, participant_id: str, role: str, since: datetime) -> None:
        await self.conn.execute(
            "INSERT INTO partner_links (partner_id, participant_id, role, since)"
            " VALUES ($1, $2, $3, $4)",
            partner_id,
            participant_id,
            role,
            since,
        )

    async def referral(
        self, participant_id: str, sender: str, receiver: str, sent_at: datetime, state: str
    ) -> str:
        referral_id = rid("ref")
        answered = sent_at + timedelta(days=3) if state != "pending" else None
        await self.conn.execute(
            "INSERT INTO referrals (participant_id, referral_id, from_partner, to_partner,"
            " service, site, sent_at, state, answered_at)"
            " VALUES ($1, $2, $3, $4, 'counselling', 'schwelm', $5, $6, $7)",
            participant_id,
            referral_id,
            sender,
            receiver,
            sent_at,
            state,
            answered,
        )
        return referral_id

    async def remove(self) -> None:
        for table in ("partner_links", "referrals", "trainings", "participants"):
            await self.conn.execute(
                f"DELETE FROM {table} WHERE participant_id = ANY($1::text[])", self.participants
            )


@pytest.fixture
async def rows(conn: asyncpg.Connection) -> AsyncIterator[ReadModel]:
    model = ReadModel(conn)
    yield model
    await model.remove()


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    error: dict[str, Any] = body["error"]
    return error


def fields_of(response: httpx.Response) -> set[str]:
    error = assert_error(response, 422, "invalid_request")
    return {f["field"] for f in error["fields"]}


# -- authentication ------------------------------------------------------------------------

PROTECTED = [
    "/v1/network/outcomes",
    "/v1/partners/awo-en/caseload",
    "/v1/partners/awo-en/referrals?direction=inbox",
    "/v1/health",
]


@pytest.mark.parametrize("path", PROTECTED)
async def test_no_token_is_401_with_a_bearer_challenge(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path)

    assert_error(response, 401, "unauthenticated")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("path", PROTECTED)
@pytest.mark.parametrize(
    "which", ["garbage", "unknown id", "wrong secret", "expired", "revoked", "basic scheme"]
)
async def test_bad_expired_or_revoked_token_is_401(
    client: httpx.AsyncClient, tokens: Tokens, path: str, which: str
) -> None:
    good_id = tokens.coordinator.split("_")[1]
    headers = {
        "garbage": bearer("not-a-token"),
        "unknown id": bearer(f"rn_{'0' * 12}_{'A' * 43}"),
        "wrong secret": bearer(f"rn_{good_id}_{'A' * 43}"),
        "expired": bearer(tokens.expired),
        "revoked": bearer(tokens.revoked),
        "basic scheme": {"Authorization": "Basic dXNlcjpwYXNz"},
    }[which]

    response = await client.get(path, headers=headers)

    assert_error(response, 401, "unauthenticated")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


# -- authorisation -------------------------------------------------------------------------


async def test_partner_reads_its_own_views_only(
    client: httpx.AsyncClient, tokens: Tokens, rows: ReadModel
) -> None:
    own, other = tokens.partner_id, rid("partner")
    mine = await rows.participant("schwelm", utc(2024, 5, 1))
    await rows.link(own, mine, "enrolled", utc(2024, 5, 1))
    theirs = await rows.participant("witten", utc(2024, 5, 2))
    await rows.link(other, theirs, "enrolled", utc(2024, 5, 2))
    headers = bearer(tokens.partner)

    caseload = await client.get(f"/v1/partners/{own}/caseload", headers=headers)
    inbox = await client.get(f"/v1/partners/{own}/referrals?direction=inbox", headers=headers)
    foreign_caseload = await client.get(f"/v1/partners/{other}/caseload", headers=headers)
    foreign_refs = await client.get(
        f"/v1/partners/{other}/referrals?direction=outbox", headers=headers
    )
    network = await client.get("/v1/network/outcomes", headers=headers)

    assert caseload.status_code == 200
    assert [e["participant_id"] for e in caseload.json()] == [mine]
    assert inbox.status_code == 200 and inbox.json() == []
    assert_error(foreign_caseload, 403, "forbidden")
    assert_error(foreign_refs, 403, "forbidden")
    assert_error(network, 403, "forbidden")


async def test_coordinator_reads_everything(
    client: httpx.AsyncClient, tokens: Tokens, rows: ReadModel
) -> None:
    partner = rid("partner")
    person = await rows.participant("bochum", utc(2024, 6, 1))
    await rows.link(partner, person, "enrolled", utc(2024, 6, 1))
    headers = bearer(tokens.coordinator)

    responses = [
        await client.get(path, headers=headers)
        for path in (
            "/v1/network/outcomes",
            f"/v1/partners/{partner}/caseload",
            f"/v1/partners/{partner}/referrals?direction=inbox",
            f"/v1/partners/{tokens.partner_id}/referrals?direction=outbox",
        )
    ]

    assert [r.status_code for r in responses] == [200, 200, 200, 200]
    assert [e["participant_id"] for e in responses[1].json()] == [person]


async def test_auditor_reads_network_outcomes_but_not_person_level_partner_views(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    headers = bearer(tokens.auditor)
    partner = tokens.partner_id

    outcomes = await client.get("/v1/network/outcomes", headers=headers)
    caseload = await client.get(f"/v1/partners/{partner}/caseload", headers=headers)
    refs = await client.get(f"/v1/partners/{partner}/referrals?direction=inbox", headers=headers)

    assert outcomes.status_code == 200
    assert_error(caseload, 403, "forbidden")
    assert_error(refs, 403, "forbidden")


async def test_a_partner_with_no_rows_gets_empty_lists(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    nobody = rid("partner")
    headers = bearer(tokens.coordinator)

    caseload = await client.get(f"/v1/partners/{nobody}/caseload", headers=headers)
    outbox = await client.get(f"/v1/partners/{nobody}/referrals?direction=outbox", headers=headers)

    assert (caseload.status_code, caseload.json()) == (200, [])
    assert (outbox.status_code, outbox.json()) == (200, [])


# -- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("from=yesterday", {"from"}),
        ("to=2024-13-01", {"to"}),
        ("from=2024-02-01&to=2024-01-01", {"to"}),
        ("from=2024-01-01&to=2024-01-01", {"to"}),
        ("from=2024-01-01T02:00:00%2B02:00&to=2024-01-01T00:00:00Z", {"to"}),
        ("from=x&to=y", {"from", "to"}),
    ],
)
async def test_bad_periods_are_422_naming_the_parameter(
    client: httpx.AsyncClient, tokens: Tokens, query: str, named: set[str]
) -> None:
    response = await client.get(f"/v1/network/outcomes?{query}", headers=bearer(tokens.auditor))

    assert fields_of(response) == named


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("", {"direction"}),
        ("direction=sideways", {"direction"}),
        ("direction=inbox&limit=0", {"limit"}),
        ("direction=inbox&limit=1001", {"limit"}),
        ("direction=inbox&limit=ten", {"limit"}),
        ("direction=inbox&offset=-1", {"offset"}),
        ("direction=up&limit=0", {"direction", "limit"}),
    ],
)
async def test_bad_referral_queries_are_422_naming_the_parameter(
    client: httpx.AsyncClient, tokens: Tokens, query: str, named: set[str]
) -> None:
    path = f"/v1/partners/{tokens.partner_id}/referrals?{query}"

    response = await client.get(path, headers=bearer(tokens.partner))

    assert fields_of(response) == named


async def test_a_malformed_partner_id_is_422_naming_it(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    response = await client.get("/v1/partners/AWO_EN/caseload", headers=bearer(tokens.coordinator))

    assert fields_of(response) == {"partner_id"}


async def test_unknown_paths_answer_in_the_same_error_shape(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    response = await client.get("/v1/nothing-here", headers=bearer(tokens.coordinator))

    assert_error(response, 404, "not_found")


# -- the views -----------------------------------------------------------------------------


async def test_outcomes_count_only_the_period_and_split_by_site_and_partner(
    client: httpx.AsyncClient, tokens: Tokens, rows: ReadModel
) -> None:
    site, partner = rid("site"), rid("partner")
    period = "from=1990-01-01&to=1991-01-01"
    headers = bearer(tokens.coordinator)
    before = (await client.get(f"/v1/network/outcomes?{period}", headers=headers)).json()
    inside = [
        await rows.participant(
            site, utc(1990, 1, 10), placed_at=utc(1990, 3, 1), placement_kind="apprenticeship"
        ),
        await rows.participant(
            site, utc(1990, 2, 10), placed_at=utc(1991, 2, 1), placement_kind="employment"
        ),
        await rows.participant(site, utc(1990, 12, 31, 23, 59)),
    ]
    outside = await rows.participant(site, utc(1989, 12, 31, 23, 59))
    for person in [*inside, outside]:
        await rows.link(partner, person, "enrolled", utc(1990, 1, 1))
    await rows.link(partner, inside[0], "placed", utc(1990, 3, 1))

    after = (await client.get(f"/v1/network/outcomes?{period}", headers=headers)).json()

    assert after["period"] == {"from": "1990-01-01T00:00:00Z", "to": "1991-01-01T00:00:00Z"}
    assert after["participants"] - before["participants"] == 3
    assert after["placed"]["total"] - before["placed"]["total"] == 1
    assert after["placed"]["apprenticeship"] - before["placed"]["apprenticeship"] == 1
    assert after["placed"]["employment"] == before["placed"]["employment"]
    assert {"site": site, "participants": 3, "placed": 1} in after["by_site"]
    assert {"partner_id": partner, "participants": 3, "placed": 1} in after["by_partner"]


async def test_a_naive_bound_is_utc_and_an_offset_is_honoured(
    client: httpx.AsyncClient, tokens: Tokens, rows: ReadModel
) -> None:
    site = rid("site")
    await rows.participant(site, utc(1990, 1, 1, 0, 30))
    headers = bearer(tokens.coordinator)

    async def count(query: str) -> int:
        response = await client.get(f"/v1/network/outcomes?{query}", headers=headers)
        assert response.status_code == 200, response.text
        return sum(s["participants"] for s in response.json()["by_site"] if s["site"] == site)

    assert await count("from=1990-01-01T01:00:00&to=1990-02-01") == 0
    assert await count("from=1990-01-01T01:00:00%2B02:00&to=1990-02-01") == 1
    assert await count("from=1990-01-01&to=1990-01-01T00:30:00") == 0
    assert await count("from=1990-01-01&to=1990-01-01T00:30:01") == 1


async def test_caseload_pages_oldest_link_first(
    client: httpx.AsyncClient, tokens: Tokens, rows: ReadModel
) -> None:
    partner = tokens.partner_id
    people = []
    for day in (3, 1, 2):
        person = await rows.participant("hattingen", utc(2024, 7, day))
        await rows.link(partner, person, "enrolled", utc(2024, 7, day))
        people.append(person)
    oldest_first = [people[1], people[2], people[0]]
    headers = bearer(tokens.partner)
    path = f"/v1/partners/{partner}/caseload"

    first = await client.get(f"{path}?limit=2", headers=headers)
    rest = await client.get(f"{path}?limit=2&offset=2", headers=headers)

    ids = [e["participant_id"] for e in first.json() + rest.json()]
    assert [i for i in ids if i in people] == oldest_first
    assert len(first.json()) == 2


async def test_referrals_inbox_and_outbox_pending_first(
    client: httpx.AsyncClient, tokens: Tokens, rows: ReadModel
) -> None:
    sender, receiver = rid("partner"), rid("partner")
    person = await rows.participant("gevelsberg", utc(2024, 8, 1))
    answered = await rows.referral(person, sender, receiver, utc(2024, 8, 2), "accepted")
    pending = await rows.referral(person, sender, receiver, utc(2024, 8, 5), "pending")
    headers = bearer(tokens.coordinator)

    async def listed(partner: str, direction: str) -> list[str]:
        path = f"/v1/partners/{partner}/referrals?direction={direction}"
        response = await client.get(path, headers=headers)
        assert response.status_code == 200, response.text
        return [r["referral_id"] for r in response.json()]

    assert await listed(receiver, "inbox") == [pending, answered]
    assert await listed(sender, "outbox") == [pending, answered]
    assert await listed(sender, "inbox") == []
    assert await listed(receiver, "outbox") == []


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
    if body["status"] == "ok":
        partitions = body["lag"]["partitions"]
        assert partitions and body["lag"]["total"] == sum(p["lag"] for p in partitions)
        assert all(p["lag"] == max(0, p["end_offset"] - p["next_offset"]) for p in partitions)
    else:
        assert body["lag"] == {"total": None, "partitions": []}


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
