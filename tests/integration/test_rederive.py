"""A release that changes derive's rules re-derives the stored rows from the stored states."""

from __future__ import annotations

import datetime as dt

import pytest

from refnet.events import catalogue as c
from refnet.events import vocabulary as v
from refnet.events.catalogue import EventModel
from refnet.projections.fold.derive import DERIVE_VERSION
from refnet.projections.fold.rules import StateTooOld
from refnet.projections.store.rederive import rederive_if_older
from tests.integration.world import T0, World, enrolled, envelope, new_pid


def _left_and_followed_up(pid: str, after_days: int) -> list[EventModel]:
    left = T0 + dt.timedelta(days=10)
    exited = c.ParticipantExited(
        **envelope(pid, "awo-en", left),
        data=c.ExitedData(
            reason=v.ExitReason.COMPLETED_PROGRAMME, situation=v.Situation.JOB_SEARCHING
        ),
    )
    followed = c.ParticipantFollowedUp(
        **envelope(pid, "awo-en", left + dt.timedelta(days=after_days)),
        data=c.FollowedUpData(situation=v.Situation.IN_EMPLOYMENT),
    )
    return [enrolled(pid), exited, followed]


async def test_rows_of_older_rules_are_re_derived_when_a_worker_starts(running: World) -> None:
    late, inside = new_pid("late"), new_pid("inside")
    running.publish(_left_and_followed_up(late, 300) + _left_and_followed_up(inside, 180))
    await running.wait()
    followup = "SELECT participant_id, followup_situation FROM participants ORDER BY 1"
    assert dict(await running.fetch(followup)) == {inside: "in_employment", late: None}
    assert await running.fetch("SELECT version FROM derive_version") == [(DERIVE_VERSION,)]

    # What version 1 stored: the last follow-up whatever its date.
    running.stop_all()
    await running.fetch("UPDATE participants SET followup_situation = 'in_employment'")
    await running.fetch("UPDATE derive_version SET version = 1")
    await running.fetch("DELETE FROM projection_workers")
    running.start_worker()
    await running.wait_for_heartbeat()

    assert dict(await running.fetch(followup)) == {inside: "in_employment", late: None}
    assert await running.fetch("SELECT version FROM derive_version") == [(DERIVE_VERSION,)]
    # The states themselves were not touched, and nothing was folded twice.
    assert await running.fetch("SELECT count(*) FROM participant_state") == [(2,)]
    assert await running.fetch("SELECT count(*) FROM participants") == [(2,)]


async def test_states_stored_before_the_rules_were_judged_are_refused(running: World) -> None:
    pid = new_pid("old")
    running.publish([enrolled(pid)])
    await running.wait()
    running.stop_all()
    # The form before rejections: a plain list of facts, which `apply` never judged.
    await running.fetch("UPDATE participant_state SET facts = facts -> 'facts'")
    async with running.connection() as conn:
        with pytest.raises(StateTooOld, match=f"participant {pid}.*refnet projections rebuild"):
            await rederive_if_older(conn)
