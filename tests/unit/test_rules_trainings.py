"""PRODUCT.md "How outcomes are counted": trainings, their ends and their outcomes."""

from __future__ import annotations

from refnet.projections.fold.derive import derive
from tests.unit.history import at_offsets, day, fold, retract, stamp
from tests.unit.outcome_events import enrol, rejected, stored, training, verdicts

# ---------------------------------------------------------------- trainings


def test_a_started_training_is_open() -> None:
    (row,) = fold(enrol(), training("started", 3, kind="vocational_qualification")).trainings

    assert (row.training_id, row.partner_id, row.kind) == (
        "t1",
        "hwk-dortmund-aba",
        "vocational_qualification",
    )
    assert (row.started_at, row.ended_at, row.outcome) == (stamp(day(3)), None, None)


def test_a_training_completed_with_a_qualification_is_qualified() -> None:
    (row,) = fold(
        enrol(), training("started", 3), training("completed", 60, qualification_gained=True)
    ).trainings

    assert (row.ended_at, row.outcome) == (stamp(day(60)), "qualified")


def test_a_training_completed_without_a_qualification_is_completed() -> None:
    (row,) = fold(
        enrol(), training("started", 3), training("completed", 60, qualification_gained=False)
    ).trainings

    assert (row.ended_at, row.outcome) == (stamp(day(60)), "completed")


def test_a_discontinued_training_is_discontinued() -> None:
    (row,) = fold(enrol(), training("started", 3), training("discontinued", 20)).trainings

    assert (row.ended_at, row.outcome) == (stamp(day(20)), "discontinued")


def test_retracting_the_completion_reopens_the_training() -> None:
    completion = training("completed", 60)

    (row,) = fold(
        enrol(), training("started", 3), completion, retract(completion, at=day(61))
    ).trainings

    assert (row.ended_at, row.outcome) == (None, None)


def test_the_first_logged_end_of_a_training_counts_a_second_is_rejected() -> None:
    judged, rows = verdicts(
        enrol(),
        training("started", 3),
        training("completed", 60, qualification_gained=True),
        training("discontinued", 20),
    )

    assert judged[-1] == rejected("training t1 was already completed")
    assert [(t.ended_at, t.outcome) for t in rows.trainings] == [(stamp(day(60)), "qualified")]


def test_of_two_stored_ends_of_a_training_the_first_by_occurred_at_counts() -> None:
    facts = at_offsets(
        enrol(),
        training("started", 3),
        training("completed", 60, qualification_gained=True),
        training("discontinued", 20),
    )

    (row,) = derive(stored(facts)).trainings

    assert (row.ended_at, row.outcome) == (stamp(day(20)), "discontinued")


def test_a_retracted_start_removes_the_training() -> None:
    start = training("started", 3)

    rows = fold(enrol(), start, training("completed", 60), retract(start, at=day(4)))

    assert rows.trainings == []


def test_a_stored_end_without_a_start_is_not_a_training() -> None:
    assert derive(stored(at_offsets(enrol(), training("completed", 60)))).trainings == []


def test_each_training_id_is_tracked_on_its_own() -> None:
    rows = fold(
        enrol(),
        training("started", 3, tid="lang"),
        training("started", 5, tid="qual"),
        training("discontinued", 9, tid="lang"),
    )

    assert {(t.training_id, t.outcome, t.ended_at) for t in rows.trainings} == {
        ("lang", "discontinued", stamp(day(9))),
        ("qual", None, None),
    }
