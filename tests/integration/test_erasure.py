"""Erasure and crypto-shredding on the real broker and database.

A participant with sealed contact details is erased: with no retention duty
the key goes at once, and the details no longer open from the log, nor from an
archive exported before the erasure and restored after it; the outcomes, the
ESF+ figures and `refnet audit verify` do not change, and a second `shred-due`
changes and records nothing. With a running duty processing is restricted and
the key is kept until `--today` is past the duty's last day.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from refnet.events import catalogue as c
from refnet.events.codec import decode
from refnet.events.contact import ContactDetails
from refnet.events.sealing import DataKey, KeyGone, seal_contact
from refnet.events.settings import Settings
from refnet.projections.worker.log_reader import read_log
from refnet.services.api.app import create_app
from refnet.services.cli.main import app
from refnet.services.localstack.process import settings_env
from refnet.services.registry.data_keys import PostgresDataKeyStore, load_kek
from refnet.services.registry.tokens import issue_token
from tests.integration.world import T0, World, enrolled, envelope, new_pid, placed, run_sync
from tests.integration.world_events import opens

pytestmark = pytest.mark.integration

PROGRAMME = "Netzwerk Integration"  # the programme of `world.enrolled`
PHONE = "+49 2302 555 0142"
DETAILS = ContactDetails(name="Amina Haddad", phone=PHONE, email="amina@example.org")


def cli(settings: Settings, *args: str) -> Result:
    env = settings_env(settings)
    # settings_env writes a dict as Python's repr; the setting is read as JSON.
    payments = {k: v.isoformat() for k, v in settings.retention_last_payment.items()}
    env["REFNET_RETENTION_LAST_PAYMENT"] = json.dumps(payments)
    return CliRunner().invoke(app, list(args), env=env)


def ok(settings: Settings, *args: str) -> Result:
    result = cli(settings, *args)
    assert result.exit_code == 0, result.output
    return result


async def _key_for(settings: Settings, pid: str) -> DataKey:
    async with World(settings, Path(".")).connection() as conn:
        return await PostgresDataKeyStore(conn, load_kek(settings)).key_for(pid)


async def _existing(settings: Settings, pid: str) -> DataKey | None:
    async with World(settings, Path(".")).connection() as conn:
        return await PostgresDataKeyStore(conn, load_kek(settings)).existing(pid)


async def _destroy_unrecorded(settings: Settings, pid: str) -> str | None:
    async with World(settings, Path(".")).connection() as conn:
        return await PostgresDataKeyStore(conn, load_kek(settings)).destroy(pid)


def with_contact(world: World) -> tuple[str, c.ContactRecorded, DataKey]:
    """An enrolled, placed participant whose contact details are sealed on the log."""
    pid = new_pid("erase")
    key: DataKey = run_sync(_key_for(world.settings, pid))
    event_id = uuid.uuid4()
    sealed = seal_contact(
        key, DETAILS, event_id=str(event_id), participant_id=pid, partner_id="awo-en"
    )
    at = T0 + dt.timedelta(hours=1)
    contact = c.ContactRecorded(
        **envelope(pid, "awo-en", at, event_id), data=c.ContactRecordedData(sealed=sealed)
    )
    world.publish([enrolled(pid), contact, placed(pid, at=T0 + dt.timedelta(days=3))])
    return pid, contact, key


def privacy_events(settings: Settings, pid: str) -> list[c.EventModel]:
    key = pid.encode()
    events = [decode(r.value or b"") for r in read_log(settings) if r.key == key]
    return [e for e in events if e.type.startswith("privacy.")]


def contact_on_log(settings: Settings, pid: str) -> c.ContactRecorded:
    key = pid.encode()
    found = [decode(r.value or b"") for r in read_log(settings) if r.key == key]
    (contact,) = [e for e in found if isinstance(e, c.ContactRecorded)]
    return contact


async def esf_figures(settings: Settings) -> dict[str, Any]:
    """`GET /v1/network/esf` for the coordinator, without its stamp (when it was counted)."""
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        async with World(settings, Path(".")).connection() as conn:
            token = (await issue_token(conn, "coordinator")).token
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://refnet.test") as http:
            answer = await http.get("/v1/network/esf", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    body.pop("period")
    return body


@pytest.fixture
def restored(world: World) -> Iterator[World]:
    """A second log topic beside the world's, sharing its registry (and so its data keys)."""
    tag = uuid.uuid4().hex[:10]
    other = world.sibling(topic_events=f"test-{tag}", topic_dead_letter=f"test-{tag}-dead")
    yield other
    other.dispose()  # its read model; the shared registry goes with the world


def test_erasure_without_a_duty_shreds_the_key_everywhere_and_changes_no_figure(
    world: World, restored: World, tmp_path: Path
) -> None:
    pid, contact, key = with_contact(world)
    world.start_worker()
    run_sync(world.wait())
    assert opens(key, contact_on_log(world.settings, pid)) == DETAILS
    outcomes, esf = run_sync(world.outcomes()), run_sync(esf_figures(world.settings))
    archive = tmp_path / "archive"
    ok(world.settings, "audit", "export", str(archive))

    erased = ok(world.settings, "privacy", "erase", pid, "--reason", "Antrag nach Art. 17 DSGVO")
    assert f"data key {key.key_id} was destroyed" in erased.output
    run_sync(world.wait())
    assert run_sync(_existing(world.settings, pid)) is None
    with pytest.raises(KeyGone):
        run_sync(_key_for(world.settings, pid))
    recorded = privacy_events(world.settings, pid)
    assert [e.type for e in recorded] == ["privacy.erasure_requested", "privacy.key_destroyed"]
    destroyed = recorded[1]
    assert isinstance(destroyed, c.KeyDestroyed)
    assert (destroyed.data.key_id, destroyed.data.reason.value) == (key.key_id, "erasure")
    assert destroyed.partner_id == c.NETWORK
    assert PHONE not in json.dumps([e.model_dump(mode="json") for e in recorded])

    size = world.log_size()
    again = ok(world.settings, "privacy", "shred-due")
    assert "destroyed 0 keys (0 destructions recorded)" in again.output
    ok(world.settings, "privacy", "erase", pid, "--reason", "Antrag nach Art. 17 DSGVO")
    assert world.log_size() == size  # asked twice: recorded once, nothing destroyed again

    assert run_sync(world.outcomes()) == outcomes
    assert run_sync(esf_figures(world.settings)) == esf
    ok(world.settings, "audit", "verify")

    # An archive made before the erasure, restored after it: the ciphertext is there,
    # byte for byte, and nothing opens it any more.
    ok(restored.settings, "audit", "restore", str(archive))
    old = contact_on_log(restored.settings, pid)
    assert old.data.sealed == contact.data.sealed
    assert run_sync(_existing(restored.settings, pid)) is None
    answer = tmp_path / "answer"
    ok(restored.settings, "privacy", "export", pid, "--output", str(answer))
    report = json.loads((answer / f"{pid}.json").read_text())
    (sealed,) = [e for e in report["events"] if "contact" in e]
    assert sealed["contact"] == {"state": "destroyed", "key_id": key.key_id}
    assert PHONE not in (answer / f"{pid}.json").read_text()
    assert "unwiderruflich gelöscht" in (answer / f"{pid}.html").read_text()
    # The archive predates the erasure: no record of it, and still nothing opens.
    assert [e["event"]["type"] for e in report["events"]] == [
        "participant.enrolled",
        "participant.contact_recorded",
        "participant.placed",
    ]
    assert report["consents"][0]["purpose"] == "share_case_data"  # the enrolment's consent
    reads = "SELECT role, what FROM record_reads WHERE participant_id = $1"
    assert run_sync(world.fetch(reads, pid)) == [
        ("operator", "privacy export; reason: Auskunftsersuchen nach Art. 15 DSGVO")
    ]


def test_a_running_duty_restricts_and_keeps_the_key_until_it_ends(
    world: World, tmp_path: Path
) -> None:
    # Only the commands judge the duty; the worker needs no retention setting.
    payments = {PROGRAMME: dt.date(2029, 6, 30)}  # the duty runs until 2034-12-31
    settings = world.settings.model_copy(update={"retention_last_payment": payments})
    _duty(world, settings, tmp_path)


def _duty(world: World, settings: Settings, tmp_path: Path) -> None:
    pid, _contact, key = with_contact(world)
    # A run that destroyed this one's key and stopped before recording it.
    crashed, _, crashed_key = with_contact(world)
    world.start_worker()
    run_sync(world.wait())

    erased = ok(settings, "privacy", "erase", pid, "--reason", "Antrag vom 2026-11-30")
    assert "processing is restricted" in erased.output
    assert "runs until 2034-12-31" in erased.output
    ok(settings, "privacy", "erase", crashed, "--reason", "Antrag vom 2026-11-30")
    run_sync(world.wait())
    assert run_sync(_existing(world.settings, pid)) == key
    assert run_sync(_destroy_unrecorded(world.settings, crashed)) == crashed_key.key_id
    # While the key lives, the person's own access request still opens their details.
    answer = tmp_path / "answer"
    ok(settings, "privacy", "export", pid, "--output", str(answer), "--reason", "Auskunft")
    (sealed,) = [e for e in json.loads((answer / f"{pid}.json").read_text())["events"]
                 if "contact" in e]  # fmt: skip
    assert sealed["contact"] == {"state": "open", "details": DETAILS.model_dump(exclude_none=True)}
    assert PHONE in (answer / f"{pid}.html").read_text()
    size = world.log_size()

    waiting = ok(settings, "privacy", "shred-due", "--today", "2034-12-31", "--json")
    body = json.loads(waiting.stdout)
    assert body["destroyed"] == []
    assert sorted(r["participant_id"] for r in body["restricted"]) == sorted([pid, crashed])
    assert {r["retention_until"] for r in body["restricted"]} == {"2034-12-31"}
    dry = json.loads(ok(settings, "privacy", "shred-due", "--today", "2035-01-01",
                        "--dry-run", "--json").stdout)  # fmt: skip
    assert {d["participant_id"]: d["key_id"] for d in dry["destroyed"]} == {
        pid: key.key_id,
        crashed: None,
    }
    assert world.log_size() == size
    assert run_sync(_existing(world.settings, pid)) == key

    due = json.loads(ok(settings, "privacy", "shred-due", "--today", "2035-01-01",
                        "--json").stdout)  # fmt: skip
    assert sorted(due["destroyed"], key=lambda d: str(d["key_id"])) == sorted(
        [
            {"participant_id": pid, "key_id": key.key_id, "reason": "retention_ended",
             "recorded": True},
            # destroyed before, recorded only now, under the key it had
            {"participant_id": crashed, "key_id": crashed_key.key_id,
             "reason": "retention_ended", "recorded": True},
        ],
        key=lambda d: str(d["key_id"]),
    )  # fmt: skip
    assert run_sync(_existing(world.settings, pid)) is None
    assert world.log_size() == size + 2
    # At once, before the worker saw the records: nothing is destroyed or recorded again.
    ok(settings, "privacy", "shred-due", "--today", "2035-01-01")
    assert world.log_size() == size + 2
    run_sync(world.wait())
    after = ok(settings, "privacy", "shred-due", "--today", "2035-01-01")
    assert "destroyed 0 keys" in after.output
    assert world.log_size() == size + 2
    for who in (pid, crashed):
        types = [e.type for e in privacy_events(world.settings, who)]
        assert types == ["privacy.erasure_requested", "privacy.key_destroyed"]
    ok(world.settings, "audit", "verify")
