"""The app's endpoints, the access rule of each, and the matrix of the answers observed."""

from __future__ import annotations

import collections
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI

from refnet.services.demo.network import DEMO_PARTNERS
from tests.integration.authorization.seeding import (
    DASHBOARD_OPEN,
    INVALID,
    PHONES,
    PUBLIC,
    RUN,
    SEEDED,
    UNUSED_REASON,
    Caller,
    expected_rows,
    person,
    visible_to,
)
from tests.integration.world import enrolled

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
