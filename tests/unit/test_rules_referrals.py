"""PRODUCT.md "How outcomes are counted": referrals, their answers, withdrawals and links."""

from __future__ import annotations

import pytest

from refnet.projections.fold.derive import derive
from refnet.projections.fold.rules import APPLIED
from tests.unit.history import at_offsets, day, ev, fold, retract, stamp
from tests.unit.outcome_events import (
    accepted,
    declined,
    enrol,
    links,
    rejected,
    sent,
    stored,
    verdicts,
)

# ---------------------------------------------------------------- referrals


def test_a_referral_without_an_answer_is_pending() -> None:
    (referral,) = fold(enrol(), sent()).referrals

    assert referral.state == "pending"
    assert (referral.answered_at, referral.decline_reason, referral.withdrawn_at) == (None,) * 3
    assert (referral.from_partner, referral.to_partner, referral.service) == (
        "awo-en",
        "bobeq",
        "counselling",
    )
    assert (referral.referral_id, referral.sent_at, referral.site) == (
        "r1",
        stamp(day(2)),
        "schwelm",
    )


def test_an_accepted_referral_is_accepted_with_its_answer_time() -> None:
    (referral,) = fold(enrol(), sent(at=2), accepted(at=5)).referrals

    assert (referral.state, referral.answered_at) == ("accepted", stamp(day(5)))
    assert referral.decline_reason is None


def test_a_declined_referral_is_declined_with_its_reason() -> None:
    (referral,) = fold(enrol(), sent(at=2), declined(at=6, reason="not_eligible")).referrals

    assert (referral.state, referral.answered_at) == ("declined", stamp(day(6)))
    assert referral.decline_reason == "not_eligible"


def test_only_the_first_logged_answer_counts_a_second_is_rejected() -> None:
    (_, _, first, second), rows = verdicts(enrol(), sent(), declined(at=9), accepted(at=5))

    assert (first, second) == (APPLIED, rejected("referral r1 was already declined"))
    assert (rows.referrals[0].state, rows.referrals[0].answered_at) == ("declined", stamp(day(9)))


def test_of_two_stored_answers_the_first_by_occurred_at_counts() -> None:
    facts = at_offsets(enrol(), sent(), declined(at=9), accepted(at=5))

    (referral,) = derive(stored(facts)).referrals

    assert (referral.state, referral.answered_at) == ("accepted", stamp(day(5)))


def test_stored_answers_at_the_same_instant_are_ordered_by_log_offset() -> None:
    facts = at_offsets(enrol(), sent(), declined(at=5), accepted(at=5))

    (referral,) = derive(stored(facts[::-1])).referrals

    assert referral.state == "declined"


def test_a_stored_answer_from_a_partner_other_than_the_receiver_is_ignored() -> None:
    facts = at_offsets(enrol(), sent(to="bobeq"), accepted(by="jobcenter-en"))

    (referral,) = derive(stored(facts)).referrals

    assert referral.state == "pending"


def test_a_wrong_partners_earlier_answer_does_not_shadow_the_receivers() -> None:
    (referral,) = fold(enrol(), sent(), accepted(by="jobcenter-en", at=3), declined(at=6)).referrals

    assert (referral.state, referral.answered_at) == ("declined", stamp(day(6)))


def test_a_retracted_answer_leaves_the_referral_pending() -> None:
    answer = accepted(at=5)

    rows = fold(enrol(), sent(), answer, retract(answer, at=day(6)))

    assert rows.referrals[0].state == "pending"
    assert ("bobeq", "accepted") not in links(rows.links)


def test_retracting_the_answer_lets_a_new_answer_count() -> None:
    first = accepted(at=5)

    (referral,) = fold(enrol(), sent(), first, retract(first, at=day(6)), declined(at=7)).referrals

    assert (referral.state, referral.answered_at) == ("declined", stamp(day(7)))


def test_each_referral_id_is_answered_on_its_own() -> None:
    rows = fold(
        enrol(),
        sent("r1", to="bobeq"),
        sent("r2", to="caritas-witten", at=3),
        sent("r3", to="jobcenter-en", at=4),
        accepted("r1", by="bobeq"),
        declined("r2", by="caritas-witten"),
    )

    assert {(r.referral_id, r.to_partner, r.state) for r in rows.referrals} == {
        ("r1", "bobeq", "accepted"),
        ("r2", "caritas-witten", "declined"),
        ("r3", "jobcenter-en", "pending"),
    }


def test_a_referral_id_sent_twice_is_one_referral_the_first_sent() -> None:
    (referral,) = fold(enrol(), sent(to="bobeq", at=3), sent(to="caritas-witten", at=2)).referrals

    assert (referral.to_partner, referral.sent_at) == ("caritas-witten", stamp(day(2)))


def test_an_accepted_referral_links_the_receiver_since_the_answer() -> None:
    rows = fold(enrol(at=1), sent(to="bobeq"), accepted(at=6))

    assert [(link.partner_id, link.role, link.since) for link in rows.links] == [
        ("awo-en", "enrolled", stamp(day(1))),
        ("bobeq", "accepted", stamp(day(6))),
    ]


def test_a_partner_accepting_two_referrals_is_linked_since_the_earlier_answer() -> None:
    rows = fold(
        enrol("bobeq"),
        sent("r1", to="bobeq", at=2),
        sent("r2", to="bobeq", at=3),
        accepted("r1", at=9),
        accepted("r2", at=5),
    )

    assert [(link.role, link.since) for link in rows.links] == [
        ("accepted", stamp(day(5))),
        ("enrolled", stamp(day(1))),
    ]


@pytest.mark.parametrize("answer", [None, "declined"])
def test_a_referral_that_is_not_accepted_links_nobody(answer: str | None) -> None:
    events = [enrol(), sent()] + ([declined()] if answer else [])

    assert links(fold(*events).links) == {("awo-en", "enrolled")}


# ---------------------------------------------------------------- withdrawals


def test_a_withdrawn_referral_is_shown_as_withdrawn_to_its_sender() -> None:
    referral = sent(at=2)

    (row,) = fold(enrol(), referral, retract(referral, at=day(3))).referrals

    assert (row.state, row.withdrawn_at) == ("withdrawn", stamp(day(3)))
    assert (row.answered_at, row.decline_reason) == (None, None)
    assert (row.referral_id, row.from_partner, row.to_partner, row.sent_at) == (
        "r1",
        "awo-en",
        "bobeq",
        stamp(day(2)),
    )


def test_a_withdrawn_referral_can_no_longer_be_answered() -> None:
    referral = sent()

    judged, rows = verdicts(enrol(), referral, retract(referral, at=day(3)), accepted(at=4))

    assert judged[-1] == rejected("no referral r1 for this participant")
    assert [r.state for r in rows.referrals] == ["withdrawn"]
    assert ("bobeq", "accepted") not in links(rows.links)


def test_retracting_the_withdrawal_makes_the_referral_pending_again() -> None:
    referral = sent()
    withdrawal = retract(referral, at=day(3))

    (row,) = fold(enrol(), referral, withdrawal, retract(withdrawal, at=day(4))).referrals

    assert (row.state, row.withdrawn_at) == ("pending", None)


def test_a_referral_withdrawn_once_of_two_sends_with_its_id_stays_sent() -> None:
    first = sent(to="bobeq", at=2)

    (row,) = fold(enrol(), first, sent(to="bobeq", at=3), retract(first, at=day(4))).referrals

    assert (row.state, row.sent_at) == ("pending", stamp(day(3)))


def test_a_stored_withdrawal_of_an_answered_referral_hides_its_answer() -> None:
    referral = sent()
    facts = at_offsets(enrol(), referral, accepted(), retract(referral, at=day(5)))

    rows = derive(stored(facts))

    assert [(r.state, r.answered_at) for r in rows.referrals] == [("withdrawn", None)]
    assert links(rows.links) == {("awo-en", "enrolled")}


# ------------------------------------------------------------- partner links


def test_the_links_list_every_role_once_per_partner_in_a_stable_order() -> None:
    rows = fold(
        ev("participant.enrolled", "bobeq", day(2)),
        ev("participant.placed", "bobeq", day(40)),
        ev("participant.enrolled", "awo-en", day(1)),
        sent(by="awo-en", to="bobeq"),
        accepted(by="bobeq", at=5),
    )

    assert [(link.partner_id, link.role, link.since) for link in rows.links] == [
        ("awo-en", "enrolled", stamp(day(1))),
        ("bobeq", "accepted", stamp(day(5))),
        ("bobeq", "enrolled", stamp(day(2))),
        ("bobeq", "placed", stamp(day(40))),
    ]
