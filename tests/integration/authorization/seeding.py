"""The authorisation suite's world: a seed for every demo partner, and every kind of caller."""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from fastapi import FastAPI

from refnet.events import catalogue as c
from refnet.events.catalogue import EventModel
from refnet.events.contact import ClearContactData, ClearContactRecorded, ContactDetails
from refnet.events.settings import Settings
from refnet.events.vocabulary import Service
from refnet.services.api.deps import pooled
from refnet.services.demo.network import DEMO_PARTNERS
from refnet.services.localstack.process import settings_env
from refnet.services.registry.data_keys import PostgresDataKeyStore, load_kek
from refnet.services.registry.tokens import issue_token, revoke_token
from tests.integration.world import T0, World, enrolled, placed

BASE = "http://refnet.test"
RUN = uuid.uuid4().hex[:8]
"""Participant ids of this run start with it, so any of them in a body is found by a regex."""
SEEDED = re.compile(rf"az{RUN}-[a-z]+-\d")
PUBLIC = {
    "/openapi.json",
    "/asyncapi.json",
    "/docs",
    "/docs/oauth2-redirect",
    "/metrics",
    "/livez",
    "/readyz",
}
"""Routes without personal data, open to anyone: the API's description and the Kafka log's
(AsyncAPI), its documentation page, the orchestrator's probes, and the Prometheus metrics
(counts and timings only; `REFNET_API_METRICS=false` turns them off where the port faces
the internet)."""
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
