"""Who may read and publish what: every endpoint of the app against every kind of caller.

The endpoints come from the app's own route table (and its OpenAPI schema), so a
new one cannot escape: it either falls under a rule below or the test fails. A
world of its own holds, for each of the seven demo partners, one participant it
enrolled and referred on to the next partner, and one event the projection
rejected; so every partner's caseload, referrals, inbox, outbox and rejections
have rows, and a refusal that leaked them would show. Each answer is checked for
its exact status; refusals carry the error JSON and no participant at all;
allowed reads carry only the rows of the partner in the path.

Each enrolled participant's contact details are recorded (sealed) by the
partner that enrolled them, and nobody consented to pass them on: every answer
is checked for them too, and only the enrolling partner's own token may see
them (its own intake), never the partner a referral went to, nor the coordinator.

The matrix (endpoint x kind of caller -> statuses) is printed at the end of the
run and written as Markdown to `authorization-matrix.md` in the test's tmp dir.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import re
import secrets
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from typer.testing import CliRunner

from refnet.events import catalogue as c
from refnet.events.catalogue import EventModel
from refnet.events.contact import ClearContactData, ClearContactRecorded, ContactDetails
from refnet.events.publisher import Publisher
from refnet.events.settings import Settings
from refnet.events.vocabulary import Service
from refnet.services.api.app import create_app
from refnet.services.api.deps import pooled
from refnet.services.cli.tokens import tokens_app
from refnet.services.demo.network import DEMO_PARTNERS
from refnet.services.localstack.process import settings_env
from refnet.services.registry.data_keys import PostgresDataKeyStore, load_kek
from refnet.services.registry.tokens import issue_token, revoke_token
from tests.integration.world import T0, World, enrolled, placed, run_sync, show_in_terminal

pytestmark = pytest.mark.integration

BASE = "http://refnet.test"
RUN = uuid.uuid4().hex[:8]
"""Participant ids of this run start with it, so any of them in a body is found by a regex."""
SEEDED = re.compile(rf"az{RUN}-[a-z]+-\d")
PUBLIC = {"/openapi.json", "/docs", "/docs/oauth2-redirect"}
"""Routes without data, open to anyone: the API's description and its documentation page."""
DASHBOARD_OPEN = {"/", "/sign-in", "/language/{lang}", "/static/{name}"}
"""Dashboard routes anyone may open: the start page, signing in, the language, the CSS."""
INVALID = ("no token", "revoked", "expired", "malformed")
UNUSED_REASON = f"authorization matrix {RUN}"
"""The reason of every report of unused numbers the matrix posts, to find what was recorded."""


# ------------------------------------------------------------------------------- the world


def person(kind: str, n: int) -> str:
    return f"az{RUN}-{kind}-{n}"


def next_partner(n: int) -> int:
    return (n + 1) % len(DEMO_PARTNERS)


def seed_events() -> list[EventModel]:
    """For partner n: `enrolled-n` enrolled and referred to partner n+1; `stranger-n` placed
    without an enrolment, which the projection rejects."""
    events: list[EventModel] = []
    for n, partner in enumerate(DEMO_PARTNERS):
        pid = person("enrolled", n)
        events.append(enrolled(pid, partner=partner, at=T0))
        data = c.ReferralSentData(
            referral_id=f"ref-{RUN}-{n}",
            to_partner=DEMO_PARTNERS[next_partner(n)],
            service=Service.COUNSELLING,
        )
        at = T0 + timedelta(days=1)
        envelope: dict[str, Any] = {
            "event_id": uuid.uuid4(),
            "partner_id": partner,
            "site": "witten",
            "participant_id": pid,
            "occurred_at": at,
            "recorded_at": at,
        }
        events.append(c.ReferralSent(**envelope, data=data))
        events.append(placed(person("stranger", n), partner=partner, at=T0))
    return events


def phone(n: int) -> str:
    """The (fictitious) phone number of `enrolled-n`, recorded by partner n."""
    return f"+49 30 23125{200 + n:03d}"


PHONES = re.compile(r"\+49 30 23125(2\d\d)")


def contact_events() -> list[ClearContactRecorded]:
    """`enrolled-n`'s contact details, recorded by partner n; no consent to pass them on."""
    return [
        ClearContactRecorded(
            event_id=uuid.uuid4(),
            partner_id=partner,
            site="witten",
            participant_id=person("enrolled", n),
            occurred_at=T0,
            recorded_at=T0,
            data=ClearContactData(contact=ContactDetails(name="Max Beispiel", phone=phone(n))),
        )  # fmt: skip
        for n, partner in enumerate(DEMO_PARTNERS)
    ]


def data_keys(world: World) -> PostgresDataKeyStore:
    return PostgresDataKeyStore(world.settings, load_kek(world.settings))


def visible_to(partner: str) -> set[str]:
    """The seeded participants whose rows `partner`'s views may show."""
    n = DEMO_PARTNERS.index(partner)
    before = (n - 1) % len(DEMO_PARTNERS)
    return {person("enrolled", n), person("stranger", n), person("enrolled", before)}


def expected_rows(endpoint: str, partner: str) -> set[str]:
    """Who must be listed by the seeded views: each of them has rows for every partner."""
    n = DEMO_PARTNERS.index(partner)
    own, received = person("enrolled", n), person("enrolled", (n - 1) % len(DEMO_PARTNERS))
    by_view = {
        "GET /v1/partners/{partner_id}/caseload": {own},
        "GET /v1/partners/{partner_id}/referrals?direction=inbox": {received},
        "GET /v1/partners/{partner_id}/referrals?direction=outbox": {own},
        "GET /v1/partners/{partner_id}/inbox": {received},
        "GET /v1/partners/{partner_id}/outbox": {own},
        "GET /v1/partners/{partner_id}/rejections": {person("stranger", n)},
        "GET /v1/partners/{partner_id}/referrals/{referral_id}": {own},
    }
    return by_view.get(endpoint, set())


def child_env(settings: Settings) -> dict[str, str]:
    """`settings_env` without unset settings, which would reach the child as "None"."""
    env = settings_env(settings) | {"PYTHONUNBUFFERED": "1"}
    for name, value in settings.model_dump().items():
        if value is None:
            env.pop(f"REFNET_{name.upper()}", None)
    return env


def start_worker(world: World) -> None:
    log = (world.log_dir / "worker.log").open("ab")
    argv = [sys.executable, "-m", "refnet.services.cli.main", "projections", "run"]
    env = child_env(world.settings)
    # Its faust data directory goes under the world's tmp dir, not the working directory.
    worker = subprocess.Popen(
        argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=world.log_dir
    )
    world.workers.append(worker)


@pytest.fixture(scope="module")
def authz_world(infrastructure: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A world whose read model holds the seed, applied by a real worker."""
    world = World.create(tmp_path_factory.mktemp("authz"))
    try:
        assert world.publish(seed_events()) == 3 * len(DEMO_PARTNERS)
        publisher = Publisher(
            world.settings, signer_for=world.keys.signer, data_keys=data_keys(world)
        )
        assert publisher.publish(contact_events()).delivered == len(DEMO_PARTNERS)
        start_worker(world)
        run_sync(world.wait())
        rejected = run_sync(world.fetch("SELECT participant_id FROM rejections"))
        assert {r[0] for r in rejected} == {person("stranger", n) for n in range(7)}
        yield world
    finally:
        world.stop_all()
        world.drop()
        run_sync(world.drop_schema())


@pytest.fixture(scope="module")
async def app(authz_world: World) -> AsyncIterator[FastAPI]:
    application = create_app(authz_world.settings)
    async with application.router.lifespan_context(application):
        if getattr(application.state, "data_keys", None) is None:
            application.state.data_keys = data_keys(authz_world)
        yield application


@pytest.fixture(scope="module")
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        yield http


# ------------------------------------------------------------------------------- callers


@dataclass(frozen=True)
class Caller:
    """Who sends a request: `kind` is its column in the matrix."""

    name: str
    kind: str
    headers: dict[str, str] = field(default_factory=dict, hash=False)
    role: str | None = None  # for valid tokens: coordinator, auditor or partner
    partner: str | None = None
    token: str | None = None


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def make_callers(app: FastAPI) -> list[Caller]:
    """A valid token per partner, coordinator and auditor, and every way to hold none."""
    async with pooled(app.state.pool) as conn:
        callers = [
            Caller(p, "partner", bearer(t.token), "partner", p, t.token)
            for p in DEMO_PARTNERS
            for t in [await issue_token(conn, "partner", p)]
        ]
        coordinator = await issue_token(conn, "coordinator")
        auditor = await issue_token(conn, "auditor")
        callers += [
            Caller(
                "coordinator",
                "coordinator",
                bearer(coordinator.token),
                "coordinator",
                token=coordinator.token,
            ),
            Caller("auditor", "auditor", bearer(auditor.token), "auditor", token=auditor.token),
            Caller("no Authorization header", "no token"),
        ]
        for role, partner in (("coordinator", None), ("partner", DEMO_PARTNERS[0])):
            revoked = await issue_token(conn, role, partner)
            assert await revoke_token(conn, revoked.token_id)
            expired = await issue_token(conn, role, partner, expires_in=timedelta(days=1))
            await conn.execute(
                "UPDATE api_tokens SET created_at = now() - interval '2 days',"
                " expires_at = now() - interval '1 second' WHERE token_id = $1",
                expired.token_id,
            )
            callers += [
                Caller(f"revoked {role}", "revoked", bearer(revoked.token), token=revoked.token),
                Caller(f"expired {role}", "expired", bearer(expired.token), token=expired.token),
            ]
    token_id, secret = coordinator.token_id, coordinator.token.split("_", 2)[2]
    malformed = {
        "wrong prefix": bearer(f"xx_{token_id}_{secret}"),
        "truncated": bearer(coordinator.token[:-12]),
        "id only": bearer(f"rn_{token_id}"),
        "unknown id": bearer(f"rn_{secrets.token_hex(6)}_{secret}"),
        "right id, wrong secret": bearer(f"rn_{token_id}_{secrets.token_urlsafe(32)}"),
        "empty bearer": {"Authorization": "Bearer "},
        "basic scheme": {"Authorization": f"Basic {coordinator.token}"},
        "token without scheme": {"Authorization": coordinator.token},
    }
    callers += [Caller(f"malformed: {n}", "malformed", h) for n, h in malformed.items()]
    return callers


@pytest.fixture(scope="module")
async def callers(app: FastAPI) -> list[Caller]:
    return await make_callers(app)


# ------------------------------------------------------------------------------- endpoints


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # as routed, e.g. /v1/partners/{partner_id}/referrals
    query: tuple[tuple[str, str], ...] = ()

    @property
    def label(self) -> str:
        query = "&".join(f"{k}={v}" for k, v in self.query)
        return f"{self.method} {self.path}" + (f"?{query}" if query else "")

    @property
    def partner_scoped(self) -> bool:
        return "{partner_id}" in self.path


def route_table(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every route the app serves, however its routers are included."""
    found: set[tuple[str, str]] = set()

    def walk(routes: list[Any]) -> None:
        for route in routes:
            contexts = getattr(route, "effective_route_contexts", None)
            if contexts is not None:  # a router included into the app (FastAPI >= 0.16x)
                for context in contexts():
                    found.update((m, context.path) for m in context.methods or ())
            elif hasattr(route, "original_router"):
                walk(route.original_router.routes)
            elif getattr(route, "methods", None) is not None:
                found.update((m, route.path) for m in route.methods)
            elif hasattr(route, "routes"):
                walk(route.routes)

    walk(list(app.routes))
    return {(method, path) for method, path in found if method != "HEAD"}


def endpoints(app: FastAPI) -> list[Endpoint]:
    """Every route, once per value of each required enum query parameter, POSTs last."""
    documented = app.openapi()["paths"]
    routes = route_table(app)
    in_schema = {(m.upper(), p) for p, ops in documented.items() for m in ops}
    assert in_schema <= routes, f"documented but not routed: {in_schema - routes}"
    result: list[Endpoint] = []
    for method, path in sorted(routes, key=lambda r: (r[0] == "POST", r[1], r[0])):
        parameters = documented.get(path, {}).get(method.lower(), {}).get("parameters", [])
        required = [p for p in parameters if p["in"] == "query" and p.get("required")]
        variants: list[tuple[tuple[str, str], ...]] = [()]
        for parameter in required:
            values = parameter["schema"].get("enum")
            assert values, f"{method} {path}: no value known for required {parameter['name']!r}"
            variants = [v + ((parameter["name"], value),) for v in variants for value in values]
        result += [Endpoint(method, path, query) for query in variants]
    return result


def api_endpoints(app: FastAPI) -> list[Endpoint]:
    """The JSON API's endpoints (bearer tokens); the dashboard's pages read a cookie."""
    return [e for e in endpoints(app) if e.path.startswith("/v1/") or e.path in PUBLIC]


def rule(endpoint: Endpoint) -> str | None:
    """The access rule of deps.py that governs `endpoint`, or None if there is none yet."""
    method, path = endpoint.method, endpoint.path
    if method == "GET" and path in PUBLIC:
        return "public"
    if method == "GET" and path == "/v1/health":
        return "any token"
    if method == "GET" and path.startswith("/v1/network/"):
        return "coordinator or auditor"
    if method == "GET" and path.startswith("/v1/partners/{partner_id}/"):
        return "coordinator or the partner"
    if method == "POST" and path == "/v1/events":
        return "the partner of the event"
    if method == "POST" and path == "/v1/sequences/unused":
        return "the partner's own publisher id"
    if method == "GET" and path.startswith("/v1/audit/"):
        return "auditor"
    if method == "POST" and path.startswith("/v1/privacy/"):
        return "coordinator"
    if path in DASHBOARD_OPEN:
        return "public"
    if not path.startswith("/v1/"):
        return "dashboard session"  # a signed-in cookie, not a bearer token: see below
    return None


def expected_status(endpoint: Endpoint, caller: Caller, partner: str | None) -> int:
    """What the rules say `caller` gets from `endpoint` for the partner in the path or event."""
    which = rule(endpoint)
    if which == "public":
        return 200
    if caller.kind in INVALID:
        return 401
    if which == "any token":
        return 200
    if which == "coordinator or auditor":
        return 200 if caller.role in ("coordinator", "auditor") else 403
    if which == "coordinator or the partner":
        return 200 if caller.role == "coordinator" or caller.partner == partner else 403
    if which == "the partner of the event":
        return 202 if caller.role == "partner" and caller.partner == partner else 403
    if which == "the partner's own publisher id":
        return 201 if caller.role == "partner" and caller.partner == partner else 403
    if which == "auditor":
        return 200 if caller.role == "auditor" else 403
    if which == "coordinator":
        return 202 if caller.role == "coordinator" else 403
    raise AssertionError(f"no rule for {endpoint.label}")


def test_every_route_falls_under_an_access_rule() -> None:
    app = create_app(Settings())
    table = endpoints(app)
    labels = {e.label for e in table}

    assert [e.label for e in table if rule(e) is None] == []
    # The views this test seeds rows for are all there (a renamed one would go unchecked).
    assert labels >= {
        "GET /v1/network/outcomes",
        "GET /v1/health",
        "POST /v1/events",
        "POST /v1/sequences/unused",
        "GET /v1/partners/{partner_id}/caseload",
        "GET /v1/partners/{partner_id}/referrals?direction=inbox",
        "GET /v1/partners/{partner_id}/referrals?direction=outbox",
        "GET /v1/partners/{partner_id}/inbox",
        "GET /v1/partners/{partner_id}/outbox",
        "GET /v1/partners/{partner_id}/rejections",
        "GET /v1/audit/outcomes",
        "GET /v1/audit/participants/{participant_id}/history",
    }


# ------------------------------------------------------------------------------- the matrix


@dataclass
class Matrix:
    """Observed statuses per endpoint and column, and every answer that broke a rule."""

    cells: dict[tuple[str, str], collections.Counter[int]] = field(
        default_factory=lambda: collections.defaultdict(collections.Counter)
    )
    wrong: list[str] = field(default_factory=list)

    COLUMNS = (
        "partner: own id",
        "partner: other id or none",
        "coordinator",
        "auditor",
        "no token",
        "revoked",
        "expired",
        "malformed",
    )

    def record(self, endpoint: Endpoint, caller: Caller, partner: str | None, status: int) -> None:
        column = caller.kind
        if caller.kind == "partner":
            column = "partner: own id" if caller.partner == partner else "partner: other id or none"
        self.cells[(endpoint.label, column)][status] += 1

    def markdown(self, labels: list[str]) -> str:
        head = "| endpoint | " + " | ".join(self.COLUMNS) + " |"
        lines = [head, "|" + "---|" * (len(self.COLUMNS) + 1)]
        for label in labels:
            cells = []
            for column in self.COLUMNS:
                seen = self.cells.get((label, column))
                text = " / ".join(f"{s} ×{n}" for s, n in sorted(seen.items())) if seen else "–"
                cells.append(text)
            lines.append(f"| `{label}` | " + " | ".join(cells) + " |")
        return "\n".join(lines)


def check_answer(
    endpoint: Endpoint, caller: Caller, partner: str | None, answer: httpx.Response
) -> list[str]:
    """What is wrong with `answer` besides its status: leaks, shapes, challenges."""
    problems: list[str] = []
    seen = set(SEEDED.findall(answer.text))
    # Only the enrolling partner's own staff see its intake's details; nobody consented more.
    own = partner is not None and caller.role == "partner" and caller.partner == partner
    shown = {int(m) - 200 for m in PHONES.findall(answer.text)}
    allowed_phones = {DEMO_PARTNERS.index(partner)} if own and partner else set()
    if not shown <= allowed_phones:
        problems.append(f"contact details without consent: of enrolled-{sorted(shown)}")
    if answer.status_code in (401, 403):
        body = answer.json()
        error = body.get("error") if isinstance(body, dict) else None
        if set(body) != {"error"} or not isinstance(error, dict):
            problems.append(f"a refusal that is not the error JSON: {answer.text[:200]}")
        elif error.get("code") != {401: "unauthenticated", 403: "forbidden"}[answer.status_code]:
            problems.append(f"code {error.get('code')!r}")
        if seen:
            problems.append(f"a refusal that names participants {sorted(seen)}")
        if answer.status_code == 401:
            if not answer.headers.get("WWW-Authenticate", "").startswith("Bearer"):
                problems.append("a 401 without a Bearer challenge")
    elif answer.status_code == 200 and partner is not None and endpoint.method == "GET":
        allowed = visible_to(partner)
        if not seen <= allowed:
            problems.append(f"rows of other partners: {sorted(seen - allowed)}")
        if not expected_rows(endpoint.label, partner) <= seen:
            problems.append(
                f"missing its own rows {sorted(expected_rows(endpoint.label, partner))}"
            )
    return problems


async def send(
    client: httpx.AsyncClient, endpoint: Endpoint, caller: Caller, partner: str | None
) -> tuple[httpx.Response, str | None]:
    """The answer, and for a post of events the id of the valid event it carried (naming
    `partner`); a report of unused numbers names `partner` as its publisher."""
    path = endpoint.path.replace("{partner_id}", partner or "")
    path = path.replace("{participant_id}", person("enrolled", 0))
    # The referral the partner in the path sent (the coordinator reads the same one).
    path = path.replace(
        "{referral_id}", f"ref-{RUN}-{DEMO_PARTNERS.index(partner or DEMO_PARTNERS[0])}"
    )
    if endpoint.path == "/v1/sequences/unused":
        number = secrets.randbelow(2**40)
        ranges = [{"first": number, "last": number}]
        report = {"publisher_id": partner or "", "ranges": ranges, "reason": UNUSED_REASON}
        return await client.post(path, json=report, headers=caller.headers), None
    if endpoint.path == "/v1/privacy/erasures":
        # The partner's rejected stranger: erased once per partner, counts unchanged.
        stranger = person("stranger", DEMO_PARTNERS.index(partner or DEMO_PARTNERS[0]))
        erasure = {"participant_id": stranger, "reason": UNUSED_REASON}
        return await client.post(path, json=erasure, headers=caller.headers), None
    if endpoint.method == "POST":
        event = enrolled(f"az{RUN}-posted-{uuid.uuid4().hex[:10]}", partner=partner or "")
        body = event.model_dump(mode="json", exclude_none=True)
        answer = await client.post(path, json=body, headers=caller.headers)
        return answer, str(event.event_id)
    params = dict(endpoint.query)
    return await client.request(endpoint.method, path, params=params, headers=caller.headers), None


async def test_every_endpoint_answers_every_caller_as_the_rules_say(
    app: FastAPI,
    client: httpx.AsyncClient,
    callers: list[Caller],
    authz_world: World,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    matrix = Matrix()
    table = api_endpoints(app)
    published: dict[str, bool] = {}  # event_id posted -> whether the rules let it through

    async def probe(endpoint: Endpoint, caller: Caller, partner: str | None) -> None:
        want = expected_status(endpoint, caller, partner)
        answer, event_id = await send(client, endpoint, caller, partner)
        matrix.record(endpoint, caller, partner, answer.status_code)
        problems = check_answer(endpoint, caller, partner, answer)
        if answer.status_code != want:
            problems.insert(0, f"{answer.status_code}, expected {want}: {answer.text[:200]}")
        if event_id is not None:
            published[event_id] = want == 202
        where = f"{endpoint.label} as {caller.name} for {partner}"
        matrix.wrong += [f"{where}: {problem}" for problem in problems]

    async def written() -> tuple[int, list[str]]:
        """The log's size, and the publishers of the unused numbers the matrix reported."""
        reported = await authz_world.fetch(
            "SELECT publisher_id FROM unused_sequences WHERE reason = $1", UNUSED_REASON
        )
        return await asyncio.to_thread(authz_world.log_size), sorted(r[0] for r in reported)

    for endpoint in table:
        scoped = endpoint.partner_scoped or endpoint.method == "POST"
        partners: list[str | None] = list(DEMO_PARTNERS) if scoped else [None]
        cases = [(caller, partner) for caller in callers for partner in partners]
        allowed = [(c, p) for c, p in cases if expected_status(endpoint, c, p) < 300]
        if endpoint.method == "POST":
            size, reported = await written()
        for caller, partner in cases:
            if (caller, partner) not in allowed:
                await probe(endpoint, caller, partner)
        if endpoint.method == "POST":
            # Every refusal came first: neither the log nor the registry may have grown.
            assert await written() == (size, reported)
        for caller, partner in allowed:
            await probe(endpoint, caller, partner)
        if endpoint.label == "POST /v1/events":
            assert await written() == (size + len(allowed), reported)
        elif endpoint.label == "POST /v1/privacy/erasures":
            # Each erasure request and its key's destruction (no retention duty runs).
            assert await written() == (size + 2 * len(allowed), reported)
        elif endpoint.method == "POST":
            # Each partner's own report, once: nothing reaches the log.
            assert await written() == (size, sorted(reported + [p for _, p in allowed if p]))

    report = matrix.markdown([e.label for e in table])
    (tmp_path / "authorization-matrix.md").write_text(report + "\n")
    title = f"authorization matrix ({tmp_path / 'authorization-matrix.md'}):"
    show_in_terminal(request, [title, *report.splitlines()])
    assert matrix.wrong == [], "\n".join(matrix.wrong[:40])
    # The gateway remembers exactly the events it published: one per partner, its own.
    recorded = await authz_world.fetch(
        "SELECT event_id::text FROM ingested_events WHERE event_id = ANY($1::uuid[])",
        list(published),
    )
    assert {r[0] for r in recorded} == {e for e, ok in published.items() if ok}
    assert sum(published.values()) == len(DEMO_PARTNERS)
    assert len(published) == len(DEMO_PARTNERS) * len(callers)


# ------------------------------------------------------------------------------- contacts


async def test_a_partner_without_consent_never_sees_contact_details(
    client: httpx.AsyncClient, callers: list[Caller]
) -> None:
    """Each partner sees the phone of its own intake; the referral it received carries none."""
    partners = {c.partner: c for c in callers if c.kind == "partner"}
    coordinator = next(c for c in callers if c.kind == "coordinator")
    for n, partner in enumerate(DEMO_PARTNERS):
        before = (n - 1) % len(DEMO_PARTNERS)
        headers = partners[partner].headers
        base = f"/v1/partners/{partner}"
        caseload = (await client.get(f"{base}/caseload", headers=headers)).json()
        inbox = (await client.get(f"{base}/inbox", headers=headers)).json()
        received = await client.get(f"{base}/referrals/ref-{RUN}-{before}", headers=headers)
        sent = await client.get(f"{base}/referrals/ref-{RUN}-{n}", headers=headers)
        as_coordinator = await client.get(f"{base}/caseload", headers=coordinator.headers)

        mine = next(e for e in caseload if e["participant_id"] == person("enrolled", n))
        assert mine["contact"]["phone"] == phone(n)
        assert sent.json()["contact"]["phone"] == phone(n)
        reason = f"no consent to pass contact details to {partner}"
        theirs = next(e for e in inbox if e["participant_id"] == person("enrolled", before))
        assert (theirs["contact"], theirs["contact_withheld"]) == (None, reason)
        assert (received.json()["contact"], received.json()["contact_withheld"]) == (None, reason)
        assert phone(before) not in received.text + str(inbox)
        assert not PHONES.findall(as_coordinator.text)


# ------------------------------------------------------------------------------- tokens


async def test_tokens_are_stored_only_as_digests(
    app: FastAPI, callers: list[Caller], authz_world: World
) -> None:
    tokens = [c.token for c in callers if c.token is not None]
    rows = await authz_world.fetch("SELECT token_id, row_to_json(t)::text FROM api_tokens t")
    stored: dict[str, str] = dict(rows)
    digests = dict(await authz_world.fetch("SELECT token_id, secret_sha256 FROM api_tokens"))

    assert len(tokens) == len(DEMO_PARTNERS) + 2 + 4
    for token in tokens:
        _, token_id, secret = token.split("_", 2)
        assert token_id in stored
        for text in stored.values():
            assert secret not in text and token not in text
            assert secret.encode().hex() not in text
        assert bytes(digests[token_id]) == hashlib.sha256(secret.encode()).digest()


async def test_a_token_revoked_with_the_cli_is_refused_everywhere(
    app: FastAPI, client: httpx.AsyncClient, authz_world: World
) -> None:
    cli = CliRunner()
    env = child_env(authz_world.settings)
    partner = DEMO_PARTNERS[1]
    issued = await asyncio.to_thread(
        cli.invoke, tokens_app, ["issue", "--role", "partner", "--partner", partner], env=env
    )
    assert issued.exit_code == 0, issued.output
    token = issued.stdout.strip()
    token_id = token.split("_")[1]
    caller = Caller("cli", "partner", bearer(token), "partner", partner, token)
    table = api_endpoints(app)
    before = [(await send(client, e, caller, partner))[0].status_code for e in table]

    revoked = await asyncio.to_thread(cli.invoke, tokens_app, ["revoke", token_id], env=env)
    listed = await asyncio.to_thread(cli.invoke, tokens_app, ["list"], env=env | {"COLUMNS": "200"})
    after = {e.label: (await send(client, e, caller, partner))[0] for e in table}

    assert revoked.exit_code == 0, revoked.output
    assert re.search(rf"{token_id}\s.*revoked", listed.stdout), listed.stdout
    assert 200 in before and 202 in before
    for endpoint in table:
        answer = after[endpoint.label]
        if rule(endpoint) == "public":
            assert answer.status_code == 200
        else:
            assert answer.status_code == 401, (endpoint.label, answer.text)
            assert check_answer(endpoint, Caller("revoked", "revoked"), partner, answer) == []


async def test_no_dashboard_page_answers_a_bearer_token_or_an_anonymous_caller(
    app: FastAPI, client: httpx.AsyncClient, callers: list[Caller]
) -> None:
    # The dashboard reads its session cookie only: a bearer token, good or bad,
    # opens no page and posts nothing (both lead to the sign-in form, or a refusal).
    pages = [e for e in endpoints(app) if rule(e) == "dashboard session"]
    assert {e.label for e in pages} >= {"GET /network", "GET /partner/inbox", "GET /audit/timeline"}
    for endpoint in pages:
        path = endpoint.path.replace("{partner_id}", "awo-en")
        for caller in callers:
            answer = await client.request(endpoint.method, path, headers=caller.headers)
            where = (endpoint.label, caller.name, answer.text[:200])
            if endpoint.method == "GET" or answer.status_code == 303:
                assert answer.status_code == 303, where
                assert answer.headers["location"].startswith("/sign-in"), where
            else:
                assert answer.status_code in (401, 403), where
