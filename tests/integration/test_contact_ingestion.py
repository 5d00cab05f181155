"""Contact details through every door: sealed on the way in, never on the log in clear.

Each door (`POST /v1/events`, `refnet publish`, the CSV import) takes the details in
clear; the test then reads the topic's raw bytes, as a consumer of the log would,
and opens the sealed event with the participant's key from the registry's store.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import stat
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from typer.testing import CliRunner

from refnet.events.catalogue import ContactRecorded
from refnet.events.codec import decode
from refnet.events.contact import ContactDetails
from refnet.events.sealing import KeyGone
from refnet.events.settings import Settings
from refnet.services.api.deps import pooled
from refnet.services.cli.import_csv import import_file
from refnet.services.cli.main import app as cli
from refnet.services.localstack import stack
from refnet.services.localstack.process import settings_env
from refnet.services.registry.data_keys import (
    KekMismatch,
    PostgresDataKeyStore,
    check_kek,
    load_kek,
)
from refnet.services.registry.tokens import issue_token
from tests.integration.world import T0, World, envelope, new_pid, served_api_process, world_kek
from tests.integration.world_events import opens

pytestmark = pytest.mark.integration

BASE = "http://refnet.test"
DETAILS = {
    "name": "Amina Haddad",
    "phone": "+49 176 5550123",
    "email": "amina.haddad@example.org",
    "preferred_language": "ar",
}
# How each detail could show up in raw bytes: as written, and in JSON's escaping.
IN_CLEAR = [b"Amina", b"Haddad", b"5550123", b"amina.haddad", b"example.org"]


def contact_item(pid: str, partner: str = "awo-en", **details: str) -> dict[str, Any]:
    item = envelope(pid, partner, T0) | {"type": "participant.contact_recorded"}
    item["data"] = {"contact": details or DETAILS}
    return jsonable(item)


def jsonable(item: dict[str, Any]) -> dict[str, Any]:
    """`item` as a client sends it: times in ISO 8601, ids as text."""
    ready: dict[str, Any] = json.loads(json.dumps(item, default=_text))
    return ready


def _text(value: Any) -> str:
    return value.isoformat() if isinstance(value, dt.datetime) else str(value)


def assert_nothing_in_clear(world: World) -> list[bytes]:
    raw = world.read_raw_log()
    for value in raw:
        for clear in IN_CLEAR:
            assert clear not in value, f"{clear!r} in clear on the log: {value[:200]!r}"
    return raw


async def opened(world: World, event: ContactRecorded) -> ContactDetails:
    """The event's details, opened with its participant's key from the registry."""
    async with world.connection() as conn:
        key = await PostgresDataKeyStore(conn, load_kek(world.settings)).existing(
            event.participant_id
        )
    assert key is not None
    return opens(key, event)


def contacts_on_the_log(world: World) -> list[ContactRecorded]:
    return [e for e in map(decode, world.read_raw_log()) if isinstance(e, ContactRecorded)]


async def partner_token(app: FastAPI, partner: str = "awo-en") -> dict[str, str]:
    async with pooled(app.state.pool) as conn:
        issued = await issue_token(conn, "partner", partner)
    return {"Authorization": f"Bearer {issued.token}"}


# ------------------------------------------------------------------ the gateway


async def test_the_gateway_seals_what_a_partner_sends_in_clear(
    world: World, app: FastAPI, client: httpx.AsyncClient
) -> None:
    auth = await partner_token(app)
    item = contact_item(new_pid("c"))

    first = await client.post("/v1/events", json=[item], headers=auth)
    again = await client.post("/v1/events", json=[item], headers=auth)

    assert first.status_code == 202, first.text
    assert again.status_code == 202 and again.json()["duplicates"] == 1, again.text
    raw = assert_nothing_in_clear(world)
    assert len(raw) == 1  # the re-post published nothing
    [event] = contacts_on_the_log(world)
    assert str(event.event_id) == item["event_id"] and event.publisher_id == "gateway"
    assert await opened(world, event) == ContactDetails.model_validate(DETAILS)
    assert app.state.data_keys is not None


async def test_the_gateway_refuses_bad_details_and_ciphertexts_naming_the_field(
    world: World, app: FastAPI, client: httpx.AsyncClient
) -> None:
    auth = await partner_token(app)
    bad = contact_item(new_pid("c"), phone="not a number")
    forged = contact_item(new_pid("c"))
    forged["data"] = {"sealed": {"key_id": "k" * 16, "nonce": "n" * 16, "ciphertext": "c" * 32}}

    answer = await client.post("/v1/events", json=[bad, forged], headers=auth)

    assert answer.status_code == 422, answer.text
    fields = [(f["index"], f["field"]) for f in answer.json()["error"]["fields"]]
    assert fields == [(0, "data.contact.phone"), (1, "data.sealed")]
    assert world.log_size() == 0


async def test_an_erased_participant_gets_no_new_contact_details(
    world: World, app: FastAPI, client: httpx.AsyncClient
) -> None:
    auth = await partner_token(app)
    pid = new_pid("c")
    assert (await client.post("/v1/events", json=[contact_item(pid)], headers=auth)).is_success
    store: PostgresDataKeyStore = app.state.data_keys
    destroyed = await store.destroy(pid)

    answer = await client.post("/v1/events", json=[contact_item(pid)], headers=auth)

    assert destroyed is not None and await store.destroy(pid) is None
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["fields"][0]["field"] == "participant_id"
    with pytest.raises(KeyGone):
        await store.key_for(pid)
    assert world.log_size() == 1


# ------------------------------------------------------------------ the key store


async def test_concurrent_first_use_makes_one_key(world: World) -> None:
    kek = load_kek(world.settings)
    pid = new_pid("k")
    async with world.connection() as conn:
        await check_kek(conn, kek)
    stores = [PostgresDataKeyStore(world.settings, kek) for _ in range(6)]

    keys = await asyncio.gather(*(s.key_for(pid) for s in stores))

    assert len({k.key_id for k in keys}) == 1 and len({k.secret for k in keys}) == 1
    rows = await world.fetch("SELECT key_id, wrapped FROM data_keys WHERE participant_id = $1", pid)
    assert len(rows) == 1 and keys[0].secret not in bytes(rows[0][1])


async def test_a_destroyed_key_keeps_its_row_without_the_key(world: World) -> None:
    async with world.connection() as conn:
        store = PostgresDataKeyStore(conn, load_kek(world.settings))
        made = await store.key_for(pid := new_pid("k"))
        assert await store.destroy(pid, reason="erasure") == made.key_id
        never = await store.destroy(other := new_pid("k"))
        with pytest.raises(KeyGone):
            await store.key_for(other)  # erased before any key: none is made later
    rows = await world.fetch(
        "SELECT key_id, wrapped, destroyed_at IS NOT NULL, destroyed_reason FROM data_keys "
        "WHERE participant_id = $1",
        pid,
    )
    assert [tuple(r) for r in rows] == [(made.key_id, None, True, "erasure")]
    assert never is None


async def test_another_kek_is_refused_once_the_registry_has_one(world: World) -> None:
    async with world.connection() as conn:
        await check_kek(conn, load_kek(world.settings))
        with pytest.raises(KekMismatch, match="wrapped under key-encryption key"):
            await check_kek(conn, bytes(32))


def test_the_api_refuses_to_start_with_a_wrong_kek(world: World, tmp_path: Path) -> None:
    async def first_use() -> None:
        async with world.connection() as conn:
            await check_kek(conn, load_kek(world.settings))

    asyncio.run(first_use())
    wrong = World(world.settings.model_copy(update={"kek": world_kek("another")}), tmp_path)
    log = tmp_path / "serve.log"

    with pytest.raises(RuntimeError, match="exited with") as caught:
        with served_api_process(wrong, log):
            pass

    assert "the API cannot start: the registry's data keys are wrapped under" in str(caught.value)


def test_the_api_refuses_to_start_without_a_kek(world: World, tmp_path: Path) -> None:
    missing = tmp_path / "no-kek"
    settings = world.settings.model_copy(update={"kek": None, "kek_file": missing})
    log = tmp_path / "serve.log"

    with pytest.raises(RuntimeError, match="exited with") as caught:
        with served_api_process(World(settings, tmp_path), log):
            pass

    assert f"no key-encryption key: REFNET_KEK is not set and there is no file {missing}" in str(
        caught.value
    )


# ------------------------------------------------------------------ refnet publish


async def test_refnet_publish_seals_contact_details(world: World, tmp_path: Path) -> None:
    pid = new_pid("j")
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps(contact_item(pid)) + "\n")

    result = CliRunner().invoke(cli, ["publish", str(path)], env=settings_env(world.settings))

    assert result.exit_code == 0, result.output
    assert_nothing_in_clear(world)
    [event] = contacts_on_the_log(world)
    assert event.participant_id == pid and event.publisher_id == "awo-en"
    assert (await opened(world, event)).phone == DETAILS["phone"]


def test_refnet_publish_refuses_a_ciphertext_and_personal_free_text(
    world: World, tmp_path: Path
) -> None:
    forged = contact_item(new_pid("j"))
    forged["data"] = {"sealed": {"key_id": "k" * 16, "nonce": "n" * 16, "ciphertext": "c" * 32}}
    retraction = envelope(new_pid("j"), "awo-en", T0) | {
        "type": "event.retracted",
        "data": {"retracted_event_id": str(uuid.uuid4()), "reason": "mail amina@example.org"},
    }
    path = tmp_path / "events.jsonl"
    lines = [json.dumps(forged), json.dumps(jsonable(retraction))]
    path.write_text("\n".join(lines) + "\n")

    result = CliRunner().invoke(cli, ["publish", str(path)], env=settings_env(world.settings))

    assert result.exit_code == 1
    assert "line 1: data.sealed: is sealed at the door" in result.output
    assert "line 2: data.reason: holds what looks like an e-mail address" in result.output
    assert world.log_size() == 0


# ------------------------------------------------------------------ the CSV import


async def test_the_csv_import_seals_the_contact_columns(world: World, tmp_path: Path) -> None:
    pid = new_pid("s")
    header = "type,participant_id,site,occurred_at,referral_id,to_partner,service,"
    header += "name,phone,email,consent_contact_details,consent_follow_up"
    row = f"referral.sent,{pid},witten,2024-03-04,ref-{pid},bobeq,language_course,"
    row += f"{DETAILS['name']},{DETAILS['phone']},{DETAILS['email']},bobeq,ja"
    path = tmp_path / "cases.csv"
    path.write_text(f"{header}\n{row}\n", encoding="utf-8")

    report = import_file(world.settings, "awo-en", path)
    again = import_file(world.settings, "awo-en", path)

    assert report.published == again.published == 4
    assert_nothing_in_clear(world)
    types = sorted(decode(v).type for v in world.read_raw_log())
    assert types.count("participant.contact_recorded") == 2  # re-imported: the same event id
    events = contacts_on_the_log(world)
    assert len({e.event_id for e in events}) == 1
    for event in events:
        assert (await opened(world, event)).email == DETAILS["email"]
    assert types.count("consent.given") == 4


# ------------------------------------------------------------------ the local stack


async def test_stack_up_makes_the_kek_file_once(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "kek"
    settings = Settings(kek=None, kek_file=path)

    first = await stack.up(settings)
    made = path.read_bytes()
    second = await stack.up(settings)

    assert (first.kek_made, second.kek_made) == (True, False)
    assert path.read_bytes() == made and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(load_kek(settings)) == 32
