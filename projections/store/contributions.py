"""What one participant's rows contribute to the kept counts, worked out in Python.

The live worker holds each participant's rows before and after a batch (it
derives them from the states it folds), so it can move the counts by the
difference without asking PostgreSQL what the rows contribute: that asking cost
three quarters of a small batch's time. Each function here mirrors one measure
of `counts.MEASURES`, which stays the definition (a recount, a partial day and
the drift check run its SQL); `tests/integration/test_read_counts.py` holds the
two equal for every participant of the demo history, and `audit verify` names
any kept count that differs from a recount.

Instants stay the rows' UTC strings (`...Z`): their order is the instants' order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Final

from refnet.projections.fold.rows import ParticipantRows, TrainingRow
from refnet.projections.store.counts import (
    ACCEPTED,
    ANSWER_BIN,
    FLOW_ANSWER_BIN,
    PLACED,
    PLACEMENT_BIN,
    REFERRAL_STATES,
    REFERRED,
    TRAINING_STARTED,
    Contribution,
)

_OPEN: Final = "infinity"  # a training not ended; sorts after every UTC string


def contributions(rows: ParticipantRows) -> Counter[Contribution]:
    """Every contribution of one participant's rows, as `counts.MEASURES` would select them."""
    out: Counter[Contribution] = Counter()
    p = rows.participant
    live = [r for r in rows.referrals if r.state != "withdrawn"]
    cohort_at = p.first_enrolled_at if p.enrolled else None
    if cohort_at is not None:
        stages = (
            (REFERRED if live else 0)
            | (ACCEPTED if any(r.state == "accepted" for r in live) else 0)
            | (TRAINING_STARTED if rows.trainings else 0)
            | (PLACED if p.placed_at is not None else 0)
        )
        out["cohort", cohort_at, "", "", stages] += 1
        out["site.participants", cohort_at, p.site or "", "", 0] += 1
    if p.placed_at is not None:
        out["placed", p.placed_at, p.placement_kind or "", p.site or "", int(p.enrolled)] += 1
        if cohort_at is not None:
            days = _bin(cohort_at, p.placed_at, PLACEMENT_BIN)
            out["placement.days", p.placed_at, "", "", days] += 1
    if p.enrolled and p.exited_at is not None:
        out["exits", p.exited_at, "", "", 0] += 1
    if p.enrolled:
        out["sites", None, p.site or "", "", 0] += 1
    for r in live:
        state = REFERRAL_STATES[r.state]
        out["referrals", r.sent_at, "", "", state] += 1
        out["flows", r.sent_at, r.from_partner, r.to_partner, state] += 1
        if r.answered_at is not None:
            hours = _bin(r.sent_at, r.answered_at, ANSWER_BIN)
            out["answer.days", r.sent_at, "", "", hours] += 1
            days = _bin(r.sent_at, r.answered_at, FLOW_ANSWER_BIN)
            out["flow.answer.days", r.sent_at, r.from_partner, r.to_partner, days] += 1
    for start, end in training_spans(rows.trainings):
        out["training.start", start, "", "", 0] += 1
        if end != _OPEN:
            out["training.end", end, "", "", 0] += 1
    linked = {(link.partner_id, link.role) for link in rows.links}
    partners = {partner for partner, _ in linked}
    for partner in partners:
        out["partners", None, partner, "", 0] += 1
        if cohort_at is not None and (
            (partner, "enrolled") in linked or (partner, "accepted") in linked
        ):
            out["partner.participants", cohort_at, partner, "", 0] += 1
        if p.placed_at is not None and (partner, "placed") in linked:
            out["partner.placed", p.placed_at, partner, "", 0] += 1
    return out


def training_spans(trainings: Iterable[TrainingRow]) -> list[tuple[str, str]]:
    """A participant's trainings merged into spans (start, end], as `counts._SPANS` merges them."""
    spans: list[tuple[str, str]] = []
    reach: str | None = None  # the latest end of the trainings before this one
    for start, end in sorted(
        (t.started_at, _OPEN if t.ended_at is None else max(t.ended_at, t.started_at))
        for t in trainings
    ):
        if reach is not None and start <= reach:
            first, last = spans[-1]
            spans[-1] = (first, max(last, end))
        else:
            spans.append((start, end))
        reach = end if reach is None else max(reach, end)
    return spans


def delta(
    before: Counter[Contribution], after: Counter[Contribution], into: Counter[Contribution]
) -> None:
    """Add what changed from `before` to `after` (new ones +n, gone ones -n) to `into`."""
    for key, n in after.items():
        moved = n - before.get(key, 0)
        if moved:
            into[key] += moved
    for key, n in before.items():
        if key not in after:
            into[key] -= n


def _bin(start: str, end: str, width: int) -> int:
    """floor(seconds from start to end / width), exactly, as the measures' SQL bins it."""
    span = datetime.fromisoformat(end) - datetime.fromisoformat(start)
    micros = (span.days * 86400 + span.seconds) * 1_000_000 + span.microseconds
    return micros // (width * 1_000_000)
