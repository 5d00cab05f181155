"""A pool of one participant's events in log order, and histories drawn from it."""

from __future__ import annotations

from hypothesis import strategies as st

from refnet.projections.fold.facts import Fact
from refnet.projections.fold.rows import ParticipantRows
from refnet.projections.fold.rules import ParticipantState, Verdict, apply
from tests.unit.history import PID, at_offsets, day, ev, retract

# The fold's events are real catalogue events (see `history.py`), log positions
# are chosen by each test. `apply` takes facts in log order, as the projection does.


# A pool of one participant's events in log order: ties in occurred_at, two
# partners, answers from the wrong partner and second answers, a retraction
# logged before its original, foreign retractions, retractions of retractions,
# a withdrawal and an answer after it. Which of them break a rule depends on
# which others a history holds.
_ENROL_A = ev("participant.enrolled", "awo-en", day(1), site="witten", gender="male")
_ENROL_C = ev("participant.enrolled", "caritas-witten", day(0), site="hattingen")
_RETRACT_C = retract(_ENROL_C, at=day(3))
_ENROL_B = ev("participant.enrolled", "bobeq", day(1), site="bochum", gender="female")
_FOREIGN_RETRACT = retract(_ENROL_A, partner="bobeq", at=day(2))
_SENT = ev(
    "referral.sent", "awo-en", day(2), referral_id="r1", to_partner="bobeq", service="counselling"
)
_FOREIGN_DECLINE = ev("referral.declined", "jobcenter-en", day(3), referral_id="r1")
_DECLINE = ev("referral.declined", "bobeq", day(4), referral_id="r1", reason="no_capacity")
_RETRACT_DECLINE = retract(_DECLINE, at=day(4, hours=2))
_ACCEPT = ev("referral.accepted", "bobeq", day(4), referral_id="r1")
_WITHDRAW = retract(_SENT, at=day(5))
_UNDO_RETRACT_DECLINE = retract(_RETRACT_DECLINE, at=day(5, hours=1))
_SENT_2 = ev(
    "referral.sent", "bobeq", day(6), referral_id="r2", to_partner="awo-en", service="other"
)
_WITHDRAW_2 = retract(_SENT_2, at=day(7))
_ACCEPT_2 = ev("referral.accepted", "awo-en", day(8), referral_id="r2")
_UNDO_WITHDRAW_2 = retract(_WITHDRAW_2, at=day(9))
_STARTED = ev("training.started", "hwk-dortmund-aba", day(6), training_id="t1")
_DISCONTINUED = ev("training.discontinued", "hwk-dortmund-aba", day(30), training_id="t1")
_COMPLETED = ev("training.completed", "hwk-dortmund-aba", day(30), training_id="t1")
_RESIDENCE = ev("residence_status.changed", "jobcenter-en", day(8), residence_status="duldung")
_PLACE_B = ev("participant.placed", "bobeq", day(20), kind="apprenticeship")
_PLACE_A = ev("participant.placed", "awo-en", day(20), kind="employment")
_RETRACT_PLACE_A = retract(_PLACE_A, at=day(21))
_UNDO_RETRACT_PLACE_A = retract(_RETRACT_PLACE_A, at=day(22))
_EXIT = ev("participant.exited", "awo-en", day(40), situation="job_searching")
_CORRECTION = ev(
    "participant.exited", "awo-en", day(41), recorded=day(50), situation="in_employment"
)
_FOLLOW_UP = ev("participant.followed_up", "awo-en", day(220), situation="in_employment")
_EARLY_RETRACT_FOLLOW_UP = retract(_FOLLOW_UP, at=day(1))

_POOL_EVENTS = [
    _EARLY_RETRACT_FOLLOW_UP,  # logged before its original
    _ENROL_A,
    _ENROL_C,
    _RETRACT_C,
    _ENROL_B,
    _FOREIGN_RETRACT,
    _SENT,
    _FOREIGN_DECLINE,
    _DECLINE,
    _RETRACT_DECLINE,
    _ACCEPT,
    _WITHDRAW,
    _UNDO_RETRACT_DECLINE,
    _SENT_2,
    _WITHDRAW_2,
    _ACCEPT_2,
    _UNDO_WITHDRAW_2,
    _STARTED,
    _DISCONTINUED,
    _COMPLETED,
    _RESIDENCE,
    _PLACE_B,
    _PLACE_A,
    _RETRACT_PLACE_A,
    _UNDO_RETRACT_PLACE_A,
    _EXIT,
    _CORRECTION,
    _FOLLOW_UP,
]
POOL: list[Fact] = at_offsets(*_POOL_EVENTS)
RETRACTION = "event.retracted"


@st.composite
def histories(draw: st.DrawFn) -> list[Fact]:
    """Any part of the pool, in log order."""
    chosen = draw(st.lists(st.sampled_from(POOL), unique_by=lambda f: f.event_id))
    return sorted(chosen, key=lambda f: (f.partition, f.offset))


def counted(rows: ParticipantRows) -> ParticipantRows:
    """The rows without withdrawn referrals, which only their sender sees."""
    kept = [r for r in rows.referrals if r.state != "withdrawn"]
    return ParticipantRows(rows.participant, kept, rows.trainings, rows.links)


def _judged(facts: list[Fact]) -> tuple[ParticipantState, list[Verdict]]:
    state = ParticipantState(PID)
    return state, [apply(state, fact) for fact in facts]
