"""How health judges the workers' heartbeats: stuck, gone, or events waiting for nobody."""

from __future__ import annotations

from refnet.projections.worker.heartbeat import (
    GONE_AFTER,
    WorkerCounters,
    WorkerStatus,
    projection_verdict,
)


def status(state: str = "ok", **changes: object) -> WorkerStatus:
    values: dict[str, object] = {
        "worker_id": "w1",
        "host": "h",
        "pid": 1,
        "state": state,
        "partitions": [0, 1],
        "batches": 3,
        "applied": 30,
        "refused_batches": 0,
        "last_refusal": None,
        "stuck_seconds": 0.0,
        "last_error": None,
        "silent_seconds": 1.0,
    }
    return WorkerStatus.model_validate(values | changes)


def test_running_workers_are_up_and_their_refusals_are_counted() -> None:
    up, detail = projection_verdict([status(refused_batches=2), status(worker_id="w2")], lag=0)
    assert up is True
    assert detail == "2 workers running; 2 batches refused and sought back"
    assert projection_verdict([status()], lag=0)[1].startswith("1 worker running;")


def test_a_stuck_worker_makes_the_projection_down_and_says_why() -> None:
    stuck = status("stuck", stuck_seconds=75.0, last_error="read model write failed: refused")
    up, detail = projection_verdict([stuck, status(worker_id="w2")], lag=10)
    assert up is False
    assert "1 of 2 workers make no progress" in detail and "read model write failed" in detail


def test_events_waiting_with_no_live_worker_is_down_and_an_idle_projection_is_not_judged() -> None:
    gone = status("gone", silent_seconds=GONE_AFTER + 1)
    assert projection_verdict([gone], lag=5) == (
        False,
        "no worker is running and 5 events wait in the log",
    )
    assert projection_verdict([gone], lag=0) == (None, "no worker is running")
    assert projection_verdict([], lag=None) == (None, "no worker is running")


def test_counters_are_stuck_from_the_first_failure_until_a_batch_applies() -> None:
    counters = WorkerCounters("group")
    assert counters.stuck_seconds == 0.0
    counters.failed("database down")
    counters.refused("refused batch")
    assert counters.stuck_seconds > 0.0
    assert counters.refused_batches == 1 and counters.last_refusal == "refused batch"
    counters.progressed(applied=7)
    assert counters.stuck_seconds == 0.0 and counters.last_error is None
    assert (counters.batches, counters.applied) == (1, 7)
