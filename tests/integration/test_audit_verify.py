"""`refnet audit verify` end to end: a real log and a real read model, tampered with.

Each test writes a history through the real broker and a real worker, then
tampers with one thing (a byte of an event, a signature, a removed or
misplaced sequence number, a read-model row) and runs the command as its own
process: it must exit 1 and name exactly that problem, or 0 on a clean history.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from refnet.events import catalogue as c
from refnet.events import vocabulary as v
from refnet.events.signing import CounterSequence, Signer
from refnet.projections.worker.log_reader import read_log
from refnet.projections.worker.signatures import key_documents
from refnet.services.localstack.process import settings_env
from tests.integration.world import T0, World, enrolled, envelope, new_pid, placed, retracted

pytestmark = pytest.mark.integration


def pid() -> str:
    return new_pid("v")


def referral(person: str, sender: str, receiver: str, rid: str) -> c.ReferralSent:
    data = c.ReferralSentData(referral_id=rid, to_partner=receiver, service=v.Service.COUNSELLING)
    return c.ReferralSent(**envelope(person, sender, T0 + dt.timedelta(days=1)), data=data)


def acceptance(person: str, receiver: str, rid: str) -> c.ReferralAccepted:
    data = c.ReferralAcceptedData(referral_id=rid)
    return c.ReferralAccepted(**envelope(person, receiver, T0 + dt.timedelta(days=2)), data=data)


def training(person: str, partner: str) -> c.TrainingStarted:
    data = c.TrainingStartedData(training_id=f"t-{person}", kind=v.TrainingKind.LANGUAGE_COURSE)
    return c.TrainingStarted(**envelope(person, partner, T0 + dt.timedelta(days=3)), data=data)


def clean_history(world: World) -> list[str]:
    """Enrolments, a referral loop, a training, placements, a retraction and one rejection."""
    people = [pid() for _ in range(6)]
    events: list[c.EventModel] = [enrolled(p, partner="awo-en") for p in people]
    events += [
        referral(people[0], "awo-en", "bobeq", "r-1"),
        acceptance(people[0], "bobeq", "r-1"),
        training(people[1], "caritas-witten"),
        placed(people[0], partner="bobeq", at=T0 + dt.timedelta(days=20)),
    ]
    late = placed(people[2], partner="bobeq", at=T0 + dt.timedelta(days=21))
    events += [late, retracted(late, T0 + dt.timedelta(days=22))]
    events.append(placed(pid(), partner="bobeq"))  # nobody enrolled: a rejection
    assert world.publish(events) == len(events)
    return people


def verify(world: World, *args: str) -> subprocess.CompletedProcess[str]:
    """`refnet audit verify ARGS` as its own process, with the world's settings."""
    argv = [sys.executable, "-m", "refnet.services.cli.main", "audit", "verify", *args]
    env = settings_env(world.settings) | {"COLUMNS": "200"}
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=240, check=False)


async def verify_json(world: World, *args: str) -> tuple[int, dict[str, Any]]:
    done = await asyncio.to_thread(verify, world, "--json", *args)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


def kinds(report: dict[str, Any]) -> set[str]:
    return {d["kind"] for d in report["discrepancies"]}


def offset_of(world: World, event_id: str) -> tuple[int, int]:
    """(partition, offset) of the record carrying `event_id`, read from the log."""
    for record in read_log(world.settings):
        if record.value is not None and event_id.encode() in record.value:
            return record.partition, record.offset
    raise AssertionError(f"{event_id} is not on the log")


# ------------------------------------------------------------------- clean


async def test_a_clean_history_is_intact(running: World, tmp_path: Path) -> None:
    clean_history(running)
    await running.wait()

    code, report = await verify_json(running)
    assert code == 0, report["discrepancies"]
    assert report["intact"] is True
    assert report["discrepancies"] == []
    assert report["records"] == report["verified"] == running.log_size() == 13
    assert report["publishers"] == {"awo-en": 7, "bobeq": 5, "caritas-witten": 1}
    tables = report["read_model"]["tables"]
    assert all(t["equal"] for t in tables.values())
    expected_rows = {
        "participant_state": 7,  # six enrolled, one only rejected
        "participants": 6,
        "referrals": 1,
        "trainings": 1,
        "partner_links": 8,  # six enrolments, one acceptance, one placement
        "rejections": 1,
        "contacts": 0,
        "consents": 6,  # each enrolment's consent_to_share, as share_case_data
        "dead_letters": 0,
    }
    assert {t: v["live"] for t, v in tables.items()} == expected_rows
    assert report["read_model"]["replayed"] == 13

    shown = await asyncio.to_thread(verify, running)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "INTACT" in shown.stdout and "NOT INTACT" not in shown.stdout
    assert "13 records, 13 with a valid signature, from 3 publisher(s)" in shown.stdout

    # The same proof from a key file, without the read model.
    async with running.connection() as conn:
        documents = await key_documents(conn)
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps(documents))
    code, log_only = await verify_json(running, "--keys", str(keys), "--log-only")
    assert code == 0 and log_only["read_model"] is None and log_only["verified"] == 13

    missing = await asyncio.to_thread(verify, running, "--keys", str(tmp_path / "none.json"))
    assert missing.returncode == 2
    assert "error: could not verify: --keys" in missing.stderr


# --------------------------------------------------------------- the log


async def test_a_changed_byte_is_a_bad_signature(running: World) -> None:
    people = clean_history(running)
    caritas = running.keys.signer("caritas-witten")
    event = placed(people[3], partner="caritas-witten", at=T0 + dt.timedelta(days=30))
    signed = caritas.encode_at(event, caritas.reserve(1))  # its next number: no gap
    altered = signed.replace(b'"employment"', b'"apprenticeship"')
    assert altered != signed
    running.publish_raw(people[3].encode(), altered)
    await running.wait()

    code, report = await verify_json(running)
    assert code == 1
    [problem] = report["discrepancies"]
    assert problem["kind"] == "bad signature"
    assert problem["message"].startswith("bad signature: no registered key of caritas-witten")
    assert problem["event_id"] == str(event.event_id)
    assert (problem["partition"], problem["offset"]) == offset_of(running, str(event.event_id))
    # The worker parked it too: the read model still equals the replay.
    assert all(t["equal"] for t in report["read_model"]["tables"].values())

    shown = await asyncio.to_thread(verify, running)
    assert shown.returncode == 1
    assert "NOT INTACT: 1 discrepancies (bad signature 1)" in shown.stdout
    assert f"event {event.event_id}: bad signature" in shown.stdout


async def test_an_event_signed_with_another_partners_key_is_a_forgery(running: World) -> None:
    clean_history(running)
    bobeq = running.keys.signer("bobeq")
    victim = pid()
    event = enrolled(victim, partner="caritas-witten")
    running.publish_raw(victim.encode(), bobeq.encode_at(event, bobeq.reserve(1)))
    await running.wait()

    code, report = await verify_json(running)
    assert code == 1
    [problem] = report["discrepancies"]
    assert problem["kind"] == "forged"
    assert problem["message"] == "forged: signed with bobeq's key but names partner caritas-witten"
    assert problem["event_id"] == str(event.event_id)


async def test_a_removed_event_is_a_gap_in_its_publishers_sequence(running: World) -> None:
    clean_history(running)
    # A second publisher of bobeq's (another of its systems) whose number 2 never arrives.
    batch = Signer(running.keys.signer("bobeq").key, "bobeq-batch", CounterSequence())
    for number in (0, 1, 3):
        person = pid()
        running.publish_raw(person.encode(), batch.encode_at(enrolled(person, "bobeq"), number))
    await running.wait()

    code, report = await verify_json(running)
    assert code == 1
    assert [(d["kind"], d["message"]) for d in report["discrepancies"]] == [
        ("sequence gap", "publisher bobeq-batch: 1 missing (number 2)")
    ]
    assert report["discrepancies"][0]["detail"]["ranges"] == [[2, 2]]
    assert report["publishers"]["bobeq-batch"] == 3

    shown = await asyncio.to_thread(verify, running)
    assert shown.returncode == 1
    assert "publisher bobeq-batch: 1 missing (number 2)" in shown.stdout
    assert "a gap is a number nothing explains" in shown.stdout


async def test_reordered_repeated_and_resent_numbers_are_reported(running: World) -> None:
    clean_history(running)
    hwk = Signer(running.keys.signer("hwk-dortmund-aba").key, "hwk-cms", CounterSequence())
    partner = "hwk-dortmund-aba"
    person = pid()  # one participant: one partition, where order is defined
    first = enrolled(person, partner)
    second = enrolled(person, partner, at=T0 + dt.timedelta(days=1))
    third = placed(person, partner, at=T0 + dt.timedelta(days=5))
    running.publish_raw(person.encode(), hwk.encode_at(first, 0))
    running.publish_raw(person.encode(), hwk.encode_at(third, 2))
    running.publish_raw(person.encode(), hwk.encode_at(second, 1))  # after 2: reordered
    one, other = pid(), pid()
    running.publish_raw(one.encode(), hwk.encode_at(enrolled(one, partner), 3))
    running.publish_raw(other.encode(), hwk.encode_at(enrolled(other, partner), 3))  # repeat
    again = pid()
    resent = hwk.encode_at(enrolled(again, partner), 4)
    running.publish_raw(again.encode(), resent)
    running.publish_raw(again.encode(), resent)  # the same bytes twice
    await running.wait()

    code, report = await verify_json(running)
    assert code == 1
    found = {d["kind"]: d for d in report["discrepancies"]}
    assert len(report["discrepancies"]) == 3
    assert set(found) == {"sequence reordering", "sequence repeat", "sequence re-send"}
    reorder = found["sequence reordering"]
    assert reorder["event_id"] == str(second.event_id)
    assert "publisher hwk-cms" in reorder["message"]
    assert "number 1 at offset" in reorder["message"] and "after number 2" in reorder["message"]
    assert found["sequence repeat"]["message"].startswith(
        "publisher hwk-cms: number 3 carried by 2 different events"
    )
    assert len(found["sequence re-send"]["detail"]["records"]) == 2
    assert "sent 2 times, identical copies" in found["sequence re-send"]["message"]
    # A re-send is a duplicate to the fold, and no gap: the model still equals the replay.
    assert all(t["equal"] for t in report["read_model"]["tables"].values())


# -------------------------------------------------------- the read model


async def test_a_read_model_row_edited_by_hand_is_found(running: World) -> None:
    people = clean_history(running)
    await running.wait()
    async with running.connection() as conn:
        await conn.execute(
            "UPDATE participants SET site = 'bochum' WHERE participant_id = $1", people[4]
        )
        await conn.execute(
            "DELETE FROM partner_links WHERE participant_id = $1 AND role = 'accepted'", people[0]
        )

    code, report = await verify_json(running)
    assert code == 1
    # The rows were edited under the counts kept from them: those differ too.
    drift = [d["message"] for d in report["discrepancies"] if d["kind"] == "kept counts"]
    assert any(
        m.startswith("a kept count differs from its rows: site.participants ") for m in drift
    )
    assert any("partner.participants" in m for m in drift)
    rows = [d for d in report["discrepancies"] if d["kind"] != "kept counts"]
    messages = sorted((d["kind"], d["message"]) for d in rows)
    assert messages == [
        (
            "table participants",
            f"participants: row participant_id={people[4]} differs: "
            "site: live 'bochum', replay 'witten'",
        ),
        (
            "table partner_links",
            f"partner_links: only in the replay: partner_id=bobeq, "
            f"participant_id={people[0]}, role=accepted",
        ),
    ]
    edited = next(d for d in report["discrepancies"] if d["kind"] == "table participants")
    assert edited["detail"]["columns"] == {"site": {"live": "bochum", "replay": "witten"}}

    # A model that stopped short is behind; the replay stops where it stands.
    running.stop_all()
    running.publish([enrolled(pid())])
    code, behind = await verify_json(running, "--wait", "1")
    assert code == 1
    assert kinds(behind) == {
        "read model behind",
        "kept counts",
        "table participants",
        "table partner_links",
    }
    lag = next(d for d in behind["discrepancies"] if d["kind"] == "read model behind")
    assert lag["message"].startswith("read model 1 events behind the log")
    assert behind["records"] == 14 and behind["read_model"]["replayed"] == 13


async def test_a_kept_count_edited_by_hand_is_found(running: World) -> None:
    clean_history(running)
    await running.wait()
    async with running.connection() as conn:
        await conn.execute(
            "UPDATE read_counts SET n = n + 2 WHERE ctid = (SELECT ctid FROM read_counts"
            " WHERE measure = 'cohort' AND span = 'all' LIMIT 1)"
        )
    code, report = await verify_json(running)
    assert code == 1
    assert kinds(report) == {"kept counts"}
    (found,) = report["discrepancies"]
    assert found["message"].startswith("a kept count differs from its rows: cohort all ")
    kept, counted = re.findall(r"kept (\d+), counted (\d+)$", found["message"])[0]
    assert int(kept) == int(counted) + 2
