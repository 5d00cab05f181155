"""Signed events end to end: the projections apply only events a registered key vouches for.

Forged, unsigned, altered and retired-key events are put straight onto the log
and must end in the dead-letter topic with their reason, leaving every
outcome as it was.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from refnet.events.codec import encode
from refnet.events.signing import CounterSequence, Signer, SigningKey
from refnet.services.registry.keys import register_key, retire_key
from tests.integration.world import T0, World, enrolled, new_pid, placed

pytestmark = pytest.mark.integration


def pid() -> str:
    return new_pid("s")


async def test_forged_unsigned_and_altered_events_are_dead_lettered(running: World) -> None:
    honest = pid()
    running.publish([enrolled(honest, partner="caritas-witten")])
    await running.wait()
    before = await running.outcomes()

    # bobeq signs an event that names caritas-witten: a partner signing as another.
    bobeq = running.keys.signer("bobeq")
    victim = pid()
    forged = bobeq.encode_at(enrolled(victim, partner="caritas-witten"), 1_000)
    running.publish_raw(victim.encode(), forged)
    # No signature at all.
    running.publish_unsigned([enrolled(pid(), partner="awo-en")])
    # A correctly signed placement, then one byte of its body changed.
    caritas = running.keys.signer("caritas-witten")
    signed = caritas.encode_at(placed(honest, partner="caritas-witten"), 1_001)
    altered = signed.replace(b'"employment"', b'"apprenticeship"')
    assert altered != signed
    running.publish_raw(honest.encode(), altered)
    await running.wait()

    assert await running.outcomes() == before
    parked = await running.fetch('SELECT reason FROM dead_letters ORDER BY partition, "offset"')
    reasons = sorted(r[0] for r in parked)
    assert len(reasons) == 3
    assert any(
        r == "forged: signed with bobeq's key but names partner caritas-witten" for r in reasons
    )
    assert any(r == "unsigned: no publisher_id, sequence, signature" for r in reasons)
    assert any(r.startswith("bad signature: no registered key of caritas-witten") for r in reasons)
    assert sorted(running.dead_letter_reasons(expected=3)) == reasons


async def test_a_retired_key_vouches_only_for_what_was_recorded_before(running: World) -> None:
    old = running.keys.signer("hwk-dortmund-aba")
    retired_at = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    new_key = SigningKey.generate()
    async with running.connection() as conn:
        await retire_key(conn, old.key.key_id, retired_at)
        await register_key(conn, new_key.public_key, "hwk-dortmund-aba", label="2025 key")
    new = Signer(new_key, "hwk-dortmund-aba-2025", CounterSequence())

    before_retirement, after_old, after_new = pid(), pid(), pid()
    late = retired_at + dt.timedelta(days=3)
    events = [
        (before_retirement, old, enrolled(before_retirement, partner="hwk-dortmund-aba", at=T0)),
        (after_old, old, enrolled(after_old, partner="hwk-dortmund-aba", at=late)),
        (after_new, new, enrolled(after_new, partner="hwk-dortmund-aba", at=late)),
    ]
    for n, (person, signer, event) in enumerate(events):
        running.publish_raw(person.encode(), signer.encode_at(event, 5_000 + n))
    await running.wait()

    enrolled_ids = {r[0] for r in await running.fetch("SELECT participant_id FROM participants")}
    assert enrolled_ids == {before_retirement, after_new}
    [(reason,)] = await running.fetch("SELECT reason FROM dead_letters")
    assert reason.startswith(f"retired key: signed with hwk-dortmund-aba's key {old.key.key_id}")


async def test_a_key_registered_while_the_worker_runs_is_used(running: World) -> None:
    first = pid()
    running.publish([enrolled(first)])
    await running.wait()  # the worker has loaded its keys by now
    await running.register_keys(["partner-neu"])
    second = pid()
    running.publish([enrolled(second, partner="partner-neu")])
    await running.wait()
    assert (await running.outcomes()).participants == 2
    assert await running.fetch("SELECT reason FROM dead_letters") == []


async def test_signature_covers_publisher_and_sequence(running: World) -> None:
    person = pid()
    signer = running.keys.signer("awo-en")
    body = json.loads(signer.encode_at(enrolled(person), 7))
    body["sequence"] = 8  # a replayed event renumbered to hide a gap
    running.publish_raw(person.encode(), json.dumps(body).encode())
    # The unaltered event is a plain re-encoding away: proof the check is on content.
    good = signer.signed_at(enrolled(pid()), 9)
    running.publish_raw(good.participant_id.encode(), encode(good))
    await running.wait()
    assert (await running.outcomes()).participants == 1
    [(reason,)] = await running.fetch("SELECT reason FROM dead_letters")
    assert reason.startswith("bad signature")


def test_partner_keys_commands_register_list_and_retire(world: World) -> None:
    from typer.testing import CliRunner

    from refnet.services.cli.partner_keys import keys_app
    from refnet.services.localstack.process import settings_env

    runner = CliRunner()
    env = settings_env(world.settings) | {"COLUMNS": "200"}
    made = runner.invoke(keys_app, ["generate", "caritas-witten-2"], env=env)
    assert made.exit_code == 0, made.output
    public = made.output.strip().splitlines()[-1]
    assert len(public) == 43
    again = runner.invoke(keys_app, ["generate", "caritas-witten-2"], env=env)
    assert again.exit_code == 1 and "exists already" in again.output

    outside = SigningKey.generate()
    pem = world.log_dir / "partner.pub.pem"
    from cryptography.hazmat.primitives import serialization

    from refnet.events.signing import load_public

    pem.write_bytes(
        load_public(outside.public_key).public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    added = runner.invoke(keys_app, ["add", "diakonie-mark-ruhr", str(pem)], env=env)
    assert added.exit_code == 0, added.output
    assert outside.key_id in added.output
    stolen = runner.invoke(keys_app, ["add", "bobeq", str(pem)], env=env)
    assert stolen.exit_code == 1 and "already registered for diakonie-mark-ruhr" in stolen.output
    bad = runner.invoke(keys_app, ["add", "bobeq", "not-a-key"], env=env)
    assert bad.exit_code == 1 and "public key" in bad.output

    retired = runner.invoke(
        keys_app, ["retire", outside.key_id, "--at", "2025-06-01T00:00:00"], env=env
    )
    assert retired.exit_code == 0, retired.output
    listed = runner.invoke(keys_app, ["list"], env=env)
    assert listed.exit_code == 0
    assert outside.key_id in listed.output and "2025-06-01 00:00" in listed.output
    unknown = runner.invoke(keys_app, ["retire", "0123456789abcdef"], env=env)
    assert unknown.exit_code == 1 and "no key" in unknown.output
