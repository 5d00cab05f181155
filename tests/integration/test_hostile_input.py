"""Hostile input against the API as a real server: schemathesis, and bodies no client sends.

The server is `refnet serve` in a process of its own on a free port, with a
world's settings (its own topics and schemas) and `REFNET_INGEST_MAX_BYTES` at
256 KiB, so that oversized bodies stay cheap. Requests go over real HTTP, so
uvicorn's parsing, chunked transfer and Content-Length handling are part of
what is tested. The schemathesis run writes its figures to
`schemathesis-summary.json` under pytest's tmp dir and prints one line:

    .venv/bin/pytest -q tests/integration/test_hostile_input.py -k schemathesis
"""

from __future__ import annotations

import collections
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import asyncpg
import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import APIOperation, Case, CheckContext, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from refnet.events.settings import Settings
from refnet.services.api.app import create_app
from refnet.services.registry.tokens import issue_token
from tests.integration.world import World, enrolled, run_sync, served_api, show_in_terminal

pytestmark = pytest.mark.integration

MAX_BYTES = 256 * 1024
"""The server's REFNET_INGEST_MAX_BYTES: room for 100,000 nested brackets, and cheap to exceed."""
EXAMPLES = 50
"""Hypothesis examples per operation and generation mode (with a token)."""
EXAMPLES_WITHOUT_TOKEN = 10
PARTNER = "awo-en"
AnyCase = Case[Any]
Operation = APIOperation[Any, Any, Any, Any]


# ------------------------------------------------------------------------------- the server


@dataclass
class Server:
    base_url: str
    world: World
    tokens: dict[str, str]
    """A token per role: `coordinator`, `auditor`, `partner` (for PARTNER)."""
    log: Path

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=60)


async def issue_tokens(world: World) -> dict[str, str]:
    async with world.connection() as proxy:
        conn = cast(asyncpg.Connection, proxy)
        return {
            "coordinator": (await issue_token(conn, "coordinator")).token,
            "auditor": (await issue_token(conn, "auditor")).token,
            "partner": (await issue_token(conn, "partner", PARTNER)).token,
        }


@pytest.fixture(scope="module")
def server(infrastructure: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`refnet serve` on a free port with a world of its own; stopped even if a test fails."""
    log_dir = tmp_path_factory.mktemp("hostile")
    world = World.create(log_dir, ingest_max_bytes=MAX_BYTES)
    try:
        # A worker projects what the tests post, so the health it reports is ok.
        world.start_worker()
        run_sync(world.wait_for_heartbeat())
        tokens = run_sync(issue_tokens(world))
        log = log_dir / "api.log"
        with served_api(world, log) as base_url:
            yield Server(base_url, world, tokens, log)
    finally:
        world.stop_all()
        world.drop()
        run_sync(world.drop_schema())


# ------------------------------------------------------------------------------- checks


def assert_error_body(status: int, body: Any) -> None:
    """The API's one error shape; a 422 names every field it refuses, each with a reason."""
    assert isinstance(body, dict) and set(body) == {"error"}, f"not the error shape: {body!r}"
    error = body["error"]
    assert isinstance(error, dict), f"not the error shape: {body!r}"
    assert {"code", "message", "fields"} <= set(error), f"error lacks a member: {body!r}"
    assert isinstance(error["code"], str) and error["code"], f"no error code: {body!r}"
    assert isinstance(error["message"], str) and error["message"], f"no message: {body!r}"
    assert isinstance(error["fields"], list), f"fields is not a list: {body!r}"
    for problem in error["fields"]:
        assert isinstance(problem.get("field"), str) and problem["field"], f"unnamed: {body!r}"
        assert isinstance(problem.get("reason"), str) and problem["reason"], f"no reason: {body!r}"
    if status == 422:
        assert error["fields"], f"a 422 that names no field: {body!r}"


def error_shape(ctx: CheckContext, response: schemathesis.Response, case: AnyCase) -> bool | None:
    """Every 4xx is the API's error JSON, and a 422 names each field with a reason."""
    if 400 <= response.status_code < 500:
        try:
            body = json.loads(response.content)
        except ValueError as exc:
            raise AssertionError(f"a {response.status_code} whose body is not JSON") from exc
        assert_error_body(response.status_code, body)
    return None


def unauthenticated(
    ctx: CheckContext, response: schemathesis.Response, case: AnyCase
) -> bool | None:
    """Without a token every operation answers 401, before it looks at the parameters."""
    assert response.status_code == 401, f"{response.status_code} without a token"
    return None


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    unsupported_method,
    error_shape,
]


@dataclass
class Tally:
    """What the run did: examples per operation and pass, statuses, and every failure."""

    examples: collections.Counter[tuple[str, str]] = field(default_factory=collections.Counter)
    statuses: collections.Counter[tuple[str, int]] = field(default_factory=collections.Counter)
    failures: list[dict[str, Any]] = field(default_factory=list)

    def run(
        self,
        case: AnyCase,
        label: str,
        headers: dict[str, str],
        checks: list[Callable[..., bool | None]],
        session: requests.Session,
    ) -> None:
        """Send `case` with `headers`, check the answer, and count it; never raises.

        A negative case that negates the security scheme (no or a malformed
        Authorization header) is sent as generated, and must be refused with 401.
        """
        if headers and case.operation.schema.is_security_param_negated(case):
            label, headers, checks = f"{label}, auth negated", {}, [*checks, unauthenticated]
        self.examples[(case.operation.label, label)] += 1
        try:
            response = case.call(session=session, headers=headers, timeout=60)
        except requests.RequestException as exc:
            self._fail(case, label, None, f"no answer: {exc!r}", case.as_curl_command(headers))
            return
        self.statuses[(case.operation.label, response.status_code)] += 1
        try:
            case.validate_response(response, checks=checks, headers=headers)
        except (FailureGroup, AssertionError) as exc:
            failures = exc.exceptions if isinstance(exc, FailureGroup) else (exc,)
            titles = "; ".join(getattr(f, "title", None) or str(f) for f in failures)
            curl = case.as_curl_command(headers)
            self._fail(case, label, response.status_code, titles, curl, str(exc)[:2000])

    def _fail(
        self, case: AnyCase, label: str, status: int | None, title: str, curl: str, detail: str = ""
    ) -> None:
        operation = case.operation.label
        self.failures.append(
            {"operation": operation, "pass": label, "status": status, "title": title}
            | {"curl": curl, "detail": detail}
        )

    def summary(self, operations: int) -> dict[str, Any]:
        by_pass: collections.Counter[str] = collections.Counter()
        for (_, label), count in self.examples.items():
            by_pass[label] += count
        by_operation: dict[str, dict[str, int]] = collections.defaultdict(dict)
        for (operation, label), count in sorted(self.examples.items()):
            by_operation[operation][label] = count
        statuses: dict[str, dict[str, int]] = collections.defaultdict(dict)
        for (operation, status), count in sorted(self.statuses.items()):
            statuses[operation][str(status)] = count
        return {
            "schemathesis": schemathesis.__version__,
            "operations": operations,
            "examples": sum(self.examples.values()),
            "examples_by_pass": dict(by_pass),
            "failures": len(self.failures),
            "by_operation": by_operation,
            "statuses": statuses,
            "failure_details": self.failures,
        }


def fuzz(
    operation: Operation,
    mode: GenerationMode,
    examples: int,
    run_one: Callable[[AnyCase], None],
) -> None:
    """Up to `examples` generated cases of `operation`, derandomized so every run is the same."""

    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: AnyCase) -> None:
        run_one(case)

    run()


def token_for(operation: Operation) -> str:
    """The role that gets past authorisation: partners publish, auditors read the audit
    views, the coordinator reads the rest."""
    if operation.method.upper() == "POST":
        return "partner"
    return "auditor" if operation.path.startswith("/v1/audit/") else "coordinator"


def without_auth(case: AnyCase) -> AnyCase:
    for name in [k for k in case.headers or {} if k.lower() == "authorization"]:
        del case.headers[name]
    return case


# ------------------------------------------------------------------------------- schemathesis


def served_operations() -> list[str]:
    """`METHOD /path` of every operation the app documents; built without any I/O."""
    paths = create_app(Settings()).openapi()["paths"]
    return sorted(f"{method.upper()} {path}" for path, ops in paths.items() for method in ops)


@pytest.fixture
def schema(server: Server) -> schemathesis.BaseSchema:
    """The served schema, loaded afresh for each test: schemathesis learns from the answers
    it gets, and one operation's run must not steer another's."""
    return schemathesis.openapi.from_url(f"{server.base_url}/openapi.json")


@pytest.fixture(scope="module")
def tally(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Tally]:
    """Every schemathesis example of the module; its figures are printed and kept at the end."""
    shared = Tally()
    yield shared
    if not shared.examples:
        return
    path = tmp_path_factory.mktemp("schemathesis") / "schemathesis-summary.json"
    summary = shared.summary(len({operation for operation, _ in shared.examples}))
    path.write_text(json.dumps(summary, indent=2))
    passes = ", ".join(f"{label} {n}" for label, n in sorted(summary["examples_by_pass"].items()))
    failing = sorted({f["operation"] for f in shared.failures})
    line = (
        f"schemathesis {schemathesis.__version__}: {summary['operations']} operations, "
        f"{summary['examples']} examples ({passes}), {summary['failures']} failures"
        + (f" (in {', '.join(failing)})" if failing else "")
        + f"; figures in {path}"
    )
    show_in_terminal(request, [line])


def test_the_schema_served_is_the_one_the_tests_cover(schema: schemathesis.BaseSchema) -> None:
    served = sorted(result.ok().label for result in schema.get_all_operations())  # type: ignore[union-attr]

    assert served == served_operations()
    assert len(served) >= 8


@pytest.mark.parametrize("label", served_operations())
def test_schemathesis_finds_no_5xx_and_every_error_names_its_fields(
    server: Server, schema: schemathesis.BaseSchema, tally: Tally, label: str
) -> None:
    operation = schema.find_operation_by_label(label)
    assert operation is not None, label
    session = requests.Session()
    headers = server.auth(token_for(operation))

    def with_token(case: AnyCase, mode: str) -> None:
        tally.run(case, mode, headers, CHECKS, session)

    def without_token(case: AnyCase) -> None:
        checks = [*CHECKS, unauthenticated]
        tally.run(without_auth(case), "without a token", {}, checks, session)

    # The cases schemathesis derives from the schema's boundaries: limits, wrong types,
    # missing parameters, unexpected methods and content types, no Authorization.
    config = schema.config.generation_for(operation=operation)
    modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
    for case in schema.iter_coverage_cases(
        operation, generation_modes=modes, generation_config=config
    ):
        with_token(case, "coverage")
    for mode in modes:

        def in_mode(case: AnyCase, mode: str = mode.value) -> None:
            with_token(case, mode)

        fuzz(operation, mode, EXAMPLES, in_mode)
    fuzz(operation, GenerationMode.POSITIVE, EXAMPLES_WITHOUT_TOKEN, without_token)

    ran = {name for (op, name) in tally.examples if op == label}
    assert {"coverage", "positive", "without a token"} <= ran
    assert any(name.startswith("negative") for name in ran)
    failures = [f for f in tally.failures if f["operation"] == label]
    unique = {(f["status"], f["title"]): f for f in failures}
    report = "\n\n".join(
        f"{label} -> {status}: {title}\n  {f['curl']}\n{f['detail']}"
        for (status, title), f in list(unique.items())[:10]
    )
    assert not failures, f"{len(failures)} failures, {len(unique)} distinct:\n{report}"


# ------------------------------------------------------------------------------- bodies


def event_json(partner: str = PARTNER) -> dict[str, Any]:
    event = enrolled(f"hostile-{uuid.uuid4().hex[:12]}", partner=partner)
    body: dict[str, Any] = event.model_dump(mode="json", exclude_none=True)
    return body


def refused(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """`response` is the error JSON with `status` (and `code`); its `error` member."""
    assert response.status_code == status, response.text[:2000]
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert_error_body(status, body)
    if code is not None:
        assert body["error"]["code"] == code, body
    error: dict[str, Any] = body["error"]
    return error


def test_a_body_over_the_limit_is_413(server: Server) -> None:
    before = server.world.log_size()
    with server.client() as http:
        huge = b"[" + b" " * MAX_BYTES + b"]"
        answer = http.post("/v1/events", content=huge, headers=server.auth("partner"))

    error = refused(answer, 413, "too_large")
    assert str(MAX_BYTES) in error["message"]
    assert server.world.log_size() == before


def test_a_chunked_body_without_length_is_cut_off_at_the_limit(server: Server) -> None:
    def chunks(total: int) -> Iterator[bytes]:
        yield b"["
        for _ in range(total // (16 * 1024)):
            yield b" " * 16 * 1024
        yield b"]"

    before = server.world.log_size()
    with server.client() as http:
        answer = http.post(
            "/v1/events", content=chunks(2 * MAX_BYTES), headers=server.auth("partner")
        )
        valid = json.dumps(event_json()).encode()
        small = http.post("/v1/events", content=iter([valid]), headers=server.auth("partner"))

    assert answer.request.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in answer.request.headers
    refused(answer, 413, "too_large")
    # The same way of sending, within the limit, is read and published.
    assert small.request.headers["transfer-encoding"] == "chunked"
    assert small.status_code == 202, small.text
    assert server.world.log_size() == before + 1


@pytest.mark.parametrize(
    "body",
    [b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 40_000 + b"1" + b"}" * 40_000],
    ids=["100k arrays", "40k objects"],
)
def test_deeply_nested_json_is_400(server: Server, body: bytes) -> None:
    assert len(body) <= MAX_BYTES
    with server.client() as http:
        answer = http.post("/v1/events", content=body, headers=server.auth("partner"))

    refused(answer, 400, "too_deep")


@pytest.mark.parametrize(
    "body",
    [
        json.dumps(event_json()).replace("Netzwerk", "Netzw\u00e9rk").encode("latin-1"),
        json.dumps(event_json()).encode("utf-16"),
        b'{"type": "participant.enrolled", "site": "\xc3\x28"}',
    ],
    ids=["latin-1", "utf-16", "broken sequence"],
)
def test_a_body_that_is_not_utf8_is_400_naming_the_encoding(server: Server, body: bytes) -> None:
    with server.client() as http:
        answer = http.post("/v1/events", content=body, headers=server.auth("partner"))

    error = refused(answer, 400, "bad_encoding")
    assert "UTF-8" in error["message"]


@pytest.mark.parametrize("body", [b"42", b'"an event"', b"null", b"true", b"[1, [2]]"])
def test_json_that_is_not_an_object_or_array_of_objects_is_422(server: Server, body: bytes) -> None:
    with server.client() as http:
        answer = http.post("/v1/events", content=body, headers=server.auth("partner"))

    error = refused(answer, 422, "events_invalid")
    assert {(p["index"], p["field"]) for p in error["fields"]} == {
        (n, "event") for n in range(len(json.loads(body)) if body.startswith(b"[") else 1)
    }


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
def test_a_body_declared_as_something_else_than_json_is_415(
    server: Server, content_type: str
) -> None:
    before = server.world.log_size()
    with server.client() as http:
        answer = http.post(
            "/v1/events",
            content=json.dumps(event_json()).encode(),
            headers=server.auth("partner") | {"Content-Type": content_type},
        )

    error = refused(answer, 415, "unsupported_media_type")
    assert "application/json" in error["message"]
    assert server.world.log_size() == before


@pytest.mark.parametrize(
    "content_type",
    [None, "application/json", "application/json; charset=utf-8", "application/vnd.refnet+json"],
)
def test_json_without_or_with_a_json_content_type_is_read(
    server: Server, content_type: str | None
) -> None:
    headers = server.auth("partner")
    if content_type is not None:
        headers["Content-Type"] = content_type
    with server.client() as http:
        request = http.build_request(
            "POST", "/v1/events", content=json.dumps(event_json()).encode(), headers=headers
        )
        assert request.headers.get("content-type") == content_type
        answer = http.send(request)

    assert answer.status_code == 202, answer.text
    assert answer.json()["accepted"] == 1


def test_text_holding_nul_is_422_naming_the_field_and_publishes_nothing(server: Server) -> None:
    # PostgreSQL's text and jsonb cannot hold U+0000: an event carrying one would stop
    # the projection at every start, so the gateway refuses it at the door.
    bad = event_json()
    bad["data"]["programme"] = "Netzwerk\u0000Integration"
    fine = event_json()
    before = server.world.log_size()
    with server.client() as http:
        answer = http.post("/v1/events", json=[fine, bad], headers=server.auth("partner"))

    error = refused(answer, 422, "events_invalid")
    assert [(p["index"], p["field"]) for p in error["fields"]] == [(1, "data.programme")]
    assert server.world.log_size() == before


def test_lone_surrogates_are_422_in_valid_utf8_json(server: Server) -> None:
    # `"\ud800"` is valid JSON but not a character; quoting it back must not break the answer.
    event = event_json()
    raw = json.dumps(event).replace(event["event_id"], "\\ud800")
    raw = raw.replace('"Netzwerk Integration"', '"\\udfff"')
    with server.client() as http:
        answer = http.post("/v1/events", content=raw.encode(), headers=server.auth("partner"))

    error = refused(answer, 422, "events_invalid")
    assert {p["field"] for p in error["fields"]} == {"event_id", "data.programme"}
    answer.content.decode("utf-8")  # strict: raises if the body is not UTF-8


# ------------------------------------------------------------------------------- URLs


def read_operations(server: Server) -> list[tuple[str, list[dict[str, Any]]]]:
    """Every GET path of the served schema with its parameters."""
    with server.client() as http:
        paths = http.get("/openapi.json").json()["paths"]
    return [(path, ops["get"].get("parameters", [])) for path, ops in paths.items() if "get" in ops]


def valid_url(path: str, parameters: list[dict[str, Any]]) -> tuple[str, dict[str, str]]:
    """`path` with PARTNER as its partner, a participant and a referral no event names (their
    views answer 404), and every required query parameter's first value."""
    query = {
        p["name"]: p["schema"]["enum"][0]
        for p in parameters
        if p["in"] == "query" and p.get("required")
    }
    url = path.replace("{partner_id}", PARTNER).replace("{participant_id}", NOBODY)
    return url.replace("{referral_id}", NOBODY), query


NOBODY = "nobody-here"


def reader(path: str) -> str:
    """The role that may read `path`: auditors the audit views, the coordinator the rest."""
    return "auditor" if path.startswith("/v1/audit/") else "coordinator"


LONG = 60 * 1024
"""A path segment or query value of 60 KiB: a URL far past any real one, under uvicorn's limits."""


def test_long_parameters_on_read_routes_are_422_naming_them(server: Server) -> None:
    seen = set()
    with server.client() as http:
        for path, parameters in read_operations(server):
            url, query = valid_url(path, parameters)
            for parameter in parameters:
                name = parameter["name"]
                if parameter["in"] == "path":
                    target, params = path.replace(f"{{{name}}}", "a" * LONG), query
                else:
                    target, params = url, query | {name: "9" * LONG}
                answer = http.get(target, params=params, headers=server.auth(reader(path)))
                error = refused(answer, 422, "invalid_request")
                assert name in {p["field"] for p in error["fields"]}, (path, name, error)
                seen.add(name)

    assert seen >= {"partner_id", "from", "to", "limit", "offset", "direction", "state"}


def _unstamped(body: object) -> object:
    """A report without the instant it was made: two calls are made at two instants."""
    if isinstance(body, dict) and isinstance(body.get("period"), dict):
        return body | {"period": {k: v for k, v in body["period"].items() if k != "as_of"}}
    return body


def test_unknown_query_parameters_are_ignored_everywhere(server: Server) -> None:
    with server.client() as http:
        for path, parameters in read_operations(server):
            url, query = valid_url(path, parameters)
            if path in ("/v1/audit/outcomes", "/v1/audit/esf"):  # as of now unless told: pin it
                query |= {"as_of": "2025-01-01"}
            plain = http.get(url, params=query, headers=server.auth(reader(path)))
            extra = query | {"unknown": "1", "limit_": "x", "partner_id": "x", "pad": "y" * LONG}
            noisy = http.get(url, params=extra, headers=server.auth(reader(path)))
            found = 404 if NOBODY in url else 200
            assert plain.status_code == noisy.status_code == found, (path, noisy.text)
            if path != "/v1/health":  # its lag moves between two calls
                assert _unstamped(plain.json()) == _unstamped(noisy.json()), path
        posted = http.post(
            "/v1/events", params={"unknown": "1"}, json=event_json(), headers=server.auth("partner")
        )

    assert posted.status_code == 202, posted.text


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("from=9999-12-31T23:59:59-23:59", "from"),  # valid, but past the UTC calendar
        ("to=0001-01-01T00:00:00%2B14:00", "to"),
        ("from=0.5", "from"),  # a number, not a Unix timestamp
        ("to=99999999999999", "to"),
        ("from=2024-02-30", "from"),
        ("to=2024-01-01T25:00:00", "to"),
    ],
)
def test_period_bounds_that_are_no_iso_8601_utc_time_are_422(
    server: Server, query: str, named: str
) -> None:
    with server.client() as http:
        answer = http.get(f"/v1/network/outcomes?{query}", headers=server.auth("coordinator"))

    error = refused(answer, 422, "invalid_request")
    assert [p["field"] for p in error["fields"]] == [named]
