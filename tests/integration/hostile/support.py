"""The hostile-input suite's server, its checks of every answer, and requests no client sends."""

from __future__ import annotations

import collections
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import asyncpg
import httpx
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
from tests.integration.world import World, enrolled

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


def _unstamped(body: object) -> object:
    """A report without the instant it was made: two calls are made at two instants."""
    if isinstance(body, dict) and isinstance(body.get("period"), dict):
        return body | {"period": {k: v for k, v in body["period"].items() if k != "as_of"}}
    return body
