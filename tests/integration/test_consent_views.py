"""Consent in every partner view: contact details reach a referral's recipient only with consent.

One world: contact details sealed by the `Publisher` under each participant's
data key from the registry, projected by a real worker (which never decrypts),
and opened by the API (JSON) and the dashboard (HTML) for the partner the
participant's standing consent covers. A withdrawal or an erasure request
takes effect in every view once projected; a partner that is neither the
recipient nor the enroller never sees the details.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from refnet.events.catalogue import NETWORK, EventModel
from refnet.events.codec import validate
from refnet.events.contact import ClearContactData, ClearContactRecorded, ContactDetails
from refnet.events.publisher import Publisher
from refnet.services.api.app import create_app
from refnet.services.demo.generator import demo_history, demo_network, expected_summary
from refnet.services.registry.data_keys import PostgresDataKeyStore, load_kek
from refnet.services.registry.tokens import issue_token
from tests.integration.api_client import CSRF
from tests.integration.world import World, run_sync
from tests.unit.examples import valid_example

pytestmark = pytest.mark.integration

ENROLLER, RECEIVER, BYSTANDER, OTHER = "awo-en", "jobcenter-en", "bobeq", "caritas-witten"
BASE = "http://refnet.test"
START = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)


def pid(tag: str) -> str:
    return f"p-{tag}-{uuid.uuid4().hex[:8]}"


def event(kind: str, partner: str, participant: str, minutes: int, **data: Any) -> EventModel:
    raw = valid_example(kind)
    at = (START + dt.timedelta(minutes=minutes)).isoformat()
    raw.update(event_id=str(uuid.uuid4()), partner_id=partner, participant_id=participant,
               site="schwelm", occurred_at=at, recorded_at=at)  # fmt: skip
    raw["data"].update(data)
    return validate(raw)


def contact(participant: str, phone: str) -> ClearContactRecorded:
    at = START + dt.timedelta(minutes=1)
    details = ContactDetails(name="Erika Beispiel", phone=phone, email="erika@example.org")
    return ClearContactRecorded(
        event_id=uuid.uuid4(), partner_id=ENROLLER, site="schwelm", participant_id=participant,
        occurred_at=at, recorded_at=at, data=ClearContactData(contact=details),
    )  # fmt: skip


def consent(
    participant: str, given: bool, minutes: int, recipient: str | None = None
) -> EventModel:
    kind = "consent.given" if given else "consent.withdrawn"
    return event(kind, ENROLLER, participant, minutes, purpose="pass_contact_details",
                 recipient=recipient)  # fmt: skip


def referred(participant: str, phone: str, *consents: EventModel) -> list[Any]:
    """Enrolled by ENROLLER with contact details, `consents`, then referred to RECEIVER."""
    return [
        event("participant.enrolled", ENROLLER, participant, 0),
        contact(participant, phone),
        *consents,
        event("referral.sent", ENROLLER, participant, 10, referral_id=f"ref-{participant}",
              to_partner=RECEIVER, service="counselling"),
    ]  # fmt: skip


@dataclass(frozen=True)
class Scene:
    world: World
    app: FastAPI
    keys: PostgresDataKeyStore
    tokens: dict[str, str]
    people: dict[str, str]  # role in the story -> participant id

    def publish(self, events: list[Any]) -> None:
        publisher = Publisher(
            self.world.settings, signer_for=self.world.keys.signer, data_keys=self.keys
        )
        assert publisher.publish(events).delivered == len(events)


PHONES = {"consented": "+49 30 23125101", "refused": "+49 30 23125102",
          "other_only": "+49 30 23125103", "withdraws": "+49 30 23125104",
          "erased": "+49 30 23125105"}  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    made = World.create(tmp_path_factory.mktemp("consent"))
    run_sync(made.register_keys([NETWORK]))
    made.start_worker()
    try:
        yield made
    finally:
        made.dispose()


@pytest.fixture(scope="module")
async def scene(world: World) -> AsyncIterator[Scene]:
    people = {role: pid(role[:4]) for role in PHONES}
    app = create_app(world.settings)
    async with app.router.lifespan_context(app):
        keys = PostgresDataKeyStore(world.settings, load_kek(world.settings))
        if getattr(app.state, "data_keys", None) is None:
            app.state.data_keys = keys
        async with world.connection() as conn:
            tokens = {
                partner: (await issue_token(conn, "partner", partner)).token
                for partner in (ENROLLER, RECEIVER, BYSTANDER)
            } | {"coordinator": (await issue_token(conn, "coordinator")).token}
        scene = Scene(world, app, keys, tokens, people)
        everyone = PHONES.keys()
        given = {"consented", "withdraws", "erased"}
        events = [
            e
            for role in everyone
            for e in referred(
                people[role],
                PHONES[role],
                *([consent(people[role], True, 2)] if role in given else []),
                *([consent(people[role], True, 2, OTHER)] if role == "other_only" else []),
            )
        ]
        scene.publish(events)
        await world.wait(timeout=120)
        yield scene


def api(scene: Scene) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=scene.app), base_url=BASE)


async def inbox(scene: Scene, partner: str = RECEIVER) -> dict[str, dict[str, Any]]:
    async with api(scene) as http:
        answer = await http.get(f"/v1/partners/{partner}/inbox", headers=bearer(scene, partner))
    assert answer.status_code == 200, answer.text
    return {entry["participant_id"]: entry for entry in answer.json()}


def bearer(scene: Scene, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {scene.tokens[who]}"}


@asynccontextmanager
async def dashboard(scene: Scene, partner: str) -> AsyncIterator[httpx.AsyncClient]:
    async with api(scene) as http:
        form = await http.get("/sign-in")
        found = CSRF.search(form.text)
        assert found
        data = {"token": scene.tokens[partner], "csrf": found.group(1), "next": "/partner/inbox"}
        assert (await http.post("/sign-in", data=data)).status_code == 303
        yield http


# ------------------------------------------------------------------ the API


async def test_with_consent_the_recipient_sees_the_phone_number_in_its_inbox(scene: Scene) -> None:
    entry = (await inbox(scene))[scene.people["consented"]]

    assert entry["contact"]["phone"] == PHONES["consented"]
    assert entry["contact"]["name"] == "Erika Beispiel"
    assert entry["contact_withheld"] is None
    async with scene.world.connection() as conn:
        reads = await conn.fetch(
            "SELECT role, partner_id, what FROM record_reads WHERE participant_id = $1",
            scene.people["consented"],
        )
    assert ("partner", RECEIVER, "partner inbox") in [tuple(r) for r in reads]


async def test_without_consent_the_inbox_shows_none_and_says_why(scene: Scene) -> None:
    entries = await inbox(scene)

    for role in ("refused", "other_only"):
        entry = entries[scene.people[role]]
        assert entry["contact"] is None
        assert entry["contact_withheld"] == f"no consent to pass contact details to {RECEIVER}"
    assert PHONES["refused"] not in str(entries)


async def test_the_referral_detail_shows_them_to_its_receiver_and_its_enrolling_sender(
    scene: Scene,
) -> None:
    person = scene.people["consented"]
    async with api(scene) as http:
        for partner in (RECEIVER, ENROLLER):
            answer = await http.get(
                f"/v1/partners/{partner}/referrals/ref-{person}", headers=bearer(scene, partner)
            )
            assert answer.status_code == 200, answer.text
            assert answer.json()["contact"]["phone"] == PHONES["consented"]


async def test_a_partner_neither_recipient_nor_enroller_never_sees_them(scene: Scene) -> None:
    person = scene.people["consented"]
    async with api(scene) as http:
        headers = bearer(scene, BYSTANDER)
        detail = await http.get(f"/v1/partners/{BYSTANDER}/referrals/ref-{person}", headers=headers)
        lists = [await http.get(f"/v1/partners/{BYSTANDER}/{view}", headers=headers)
                 for view in ("inbox", "caseload")]  # fmt: skip
        coordinator = await http.get(f"/v1/partners/{RECEIVER}/inbox",
                                     headers=bearer(scene, "coordinator"))  # fmt: skip
    assert detail.status_code == 404
    assert all(r.status_code == 200 and person not in r.text for r in lists)
    assert all(PHONES[role] not in coordinator.text for role in PHONES)
    shown = {e["participant_id"]: e for e in coordinator.json()}[person]
    assert shown["contact_withheld"] == "contact details are shown only to the partner's own staff"


# ------------------------------------------------------------------ the dashboard


async def test_the_dashboard_inbox_shows_the_phone_with_consent_and_the_reason_without(
    scene: Scene,
) -> None:
    async with dashboard(scene, RECEIVER) as http:
        page = await http.get("/partner/inbox", headers={"Accept-Language": "de"})

    assert page.status_code == 200
    assert PHONES["consented"] in page.text
    assert PHONES["refused"] not in page.text and PHONES["other_only"] not in page.text
    assert f"Keine Einwilligung zur Weitergabe der Kontaktdaten an {RECEIVER}." in page.text


async def test_the_enroller_sees_its_own_intake_in_its_caseload(scene: Scene) -> None:
    async with dashboard(scene, ENROLLER) as http:
        page = await http.get("/partner/caseload")
    assert page.status_code == 200
    assert PHONES["refused"] in page.text  # its own intake: no consent needed


# ------------------------------------------------------------------ later events


async def test_after_a_withdrawal_and_an_erasure_request_no_view_shows_them(scene: Scene) -> None:
    withdraws, erased = scene.people["withdraws"], scene.people["erased"]
    assert (await inbox(scene))[withdraws]["contact"]["phone"] == PHONES["withdraws"]

    request = event("privacy.erasure_requested", NETWORK, erased, 30, reason="asked in person")
    scene.publish([consent(withdraws, False, 20), request])
    await scene.world.wait(timeout=60)

    entries = await inbox(scene)
    assert entries[withdraws]["contact"] is None
    assert entries[withdraws]["contact_withheld"] == (
        f"no consent to pass contact details to {RECEIVER}"
    )
    assert entries[erased]["contact_withheld"] == "erasure requested: processing restricted"
    async with dashboard(scene, RECEIVER) as http:
        page = await http.get("/partner/inbox")
    async with dashboard(scene, ENROLLER) as http:
        caseload = await http.get("/partner/caseload")
    assert PHONES["withdraws"] not in page.text and PHONES["erased"] not in page.text
    assert PHONES["erased"] not in caseload.text  # not even for its own intake
    assert PHONES["withdraws"] in caseload.text


# ------------------------------------------------------------------ the demo network


@pytest.fixture
def demo_world(tmp_path: Path) -> Iterator[World]:
    made = World.create(tmp_path)
    made.start_worker()
    try:
        yield made
    finally:
        made.dispose()


async def test_the_demo_network_keeps_its_figures_and_the_log_holds_no_clear_contact(
    demo_world: World,
) -> None:
    network = demo_network()
    keys = PostgresDataKeyStore(demo_world.settings, load_kek(demo_world.settings))
    publisher = Publisher(demo_world.settings, signer_for=demo_world.keys.signer, data_keys=keys)
    assert publisher.publish(network).delivered == len(network)
    await demo_world.wait(timeout=240)

    outcomes = await demo_world.outcomes()
    assert (outcomes.participants, outcomes.placed.total) == (413, 148)
    assert expected_summary(demo_history()).referrals_sent == outcomes.referrals.sent
    clear = [e.data.contact for e in network if isinstance(e, ClearContactRecorded)]
    raw = b"\n".join(await asyncio.to_thread(demo_world.read_raw_log))
    for details in clear[:50]:
        for text in (details.name, details.phone, details.email):
            assert text is not None and text.encode() not in raw
    async with demo_world.connection() as conn:
        stored = await conn.fetchval("SELECT count(*) FROM contacts")
    assert stored == len({e.participant_id for e in network if isinstance(e, ClearContactRecorded)})
