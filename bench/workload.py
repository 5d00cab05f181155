"""A synthetic, realistic event history: the catalogue's types in causal order per participant.

Events are plain dicts of Python values (UUIDs, aware datetimes, enum values as text),
as a partner's system would hand them to the model constructors; building the models
(validation) is left to the benchmark so that it can be timed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import uuid
from collections.abc import Callable
from typing import Any

from refnet.services.demo.network import PARTNER_SITES

Raw = dict[str, Any]

PARTNERS = list(PARTNER_SITES)
PROGRAMME = "ESF Plus: Netzwerk Ennepe-Ruhr und Bochum"
SERVICES = [
    "counselling",
    "language_course",
    "qualification",
    "apprenticeship_placement",
    "job_placement",
    "recognition_of_qualifications",
]
STATUSES = ["aufenthaltsgestattung", "duldung", "aufenthaltserlaubnis"]
PERMISSIONS = ["employment_permitted", "employment_with_authority_permission", "not_permitted"]
HISTORY_START = dt.datetime(2023, 1, 2, tzinfo=dt.UTC)


class _Story:
    """One participant's events, day by day, with a case (correlation) id."""

    def __init__(self, rng: random.Random, pid: str, start_day: int) -> None:
        self.rng = rng
        self.pid = pid
        self.intake = rng.choice(PARTNERS)
        self.site = rng.choice(PARTNER_SITES[self.intake])
        self.case = uuid.UUID(int=rng.getrandbits(128), version=4)
        self.day = start_day
        self.events: list[Raw] = []
        self.serial = 0

    def add(self, partner: str, type_: str, data: Raw, cause: Raw | None = None) -> Raw:
        self.day += self.rng.randint(1, 12)
        occurred = HISTORY_START + dt.timedelta(
            days=self.day, seconds=self.rng.randrange(7 * 3600, 16 * 3600)
        )
        sites = PARTNER_SITES[partner]
        event: Raw = {
            "event_id": uuid.UUID(int=self.rng.getrandbits(128), version=4),
            "type": type_,
            "partner_id": partner,
            "site": self.site if self.site in sites else sites[0],
            "participant_id": self.pid,
            "occurred_at": occurred,
            "recorded_at": occurred + dt.timedelta(seconds=self.rng.randrange(60, 4 * 3600)),
            "correlation_id": self.case,
            "data": data,
        }
        cause = cause or (self.events[-1] if self.events else None)
        if cause is not None:  # what led to it: the event answered, else the case's last one
            event["causation_id"] = cause["event_id"]
        self.events.append(event)
        return event

    def business_id(self, partner: str, tag: str) -> str:
        self.serial += 1
        return f"{partner}:{tag}:{self.pid}:{self.serial:03d}"


def enrolment_data(rng: random.Random) -> Raw:
    return {
        "programme": PROGRAMME,
        "residence_status": rng.choice(STATUSES),
        "work_permission": rng.choice(PERMISSIONS),
        "sgb2_eligible": rng.random() < 0.6,
        "employment_status": rng.choice(["unemployed", "long_term_unemployed", "inactive"]),
        "education_level": rng.choice(["isced_0_2", "isced_3_4", "isced_5_8"]),
        "age_band": rng.choice(["under_18", "18_29", "30_54", "55_plus"]),
        "gender": rng.choice(["female", "male", "diverse", "refused"]),
        "third_country_national": rng.random() < 0.96,
        "german_level": rng.choice(["none", "A1", "A2", "B1", "B2"]),
        "consent_to_share": True,
    }


def _referral(s: _Story) -> None:
    to = s.rng.choice([p for p in PARTNERS if p != s.intake])
    rid = s.business_id(s.intake, "ref")
    sent = s.add(
        s.intake,
        "referral.sent",
        {"referral_id": rid, "to_partner": to, "service": s.rng.choice(SERVICES)},
    )
    if s.rng.random() < 0.7:
        s.add(to, "referral.accepted", {"referral_id": rid}, sent)
    else:
        s.add(to, "referral.declined", {"referral_id": rid, "reason": "no_capacity"}, sent)


def _training(s: _Story) -> None:
    tid = s.business_id(s.intake, "trn")
    kind = s.rng.choice(["language_course", "vocational_qualification", "internship"])
    start = s.add(s.intake, "training.started", {"training_id": tid, "kind": kind})
    if s.rng.random() < 0.8:
        gained = s.rng.random() < 0.6
        done = {"training_id": tid, "qualification_gained": gained}
        s.add(s.intake, "training.completed", done, start)
    else:
        s.add(s.intake, "training.discontinued", {"training_id": tid}, start)


def _residence(s: _Story) -> None:
    s.add(
        s.intake,
        "residence_status.changed",
        {
            "residence_status": "aufenthaltserlaubnis",
            "work_permission": "employment_permitted",
            "valid_from": (HISTORY_START + dt.timedelta(days=s.day)).date(),
        },
    )


def _mistake(s: _Story) -> None:
    wrong = s.add(s.intake, "participant.followed_up", {"situation": "other"})
    reason = {"retracted_event_id": wrong["event_id"], "reason": "entered for the wrong person"}
    s.add(s.intake, "event.retracted", reason, wrong)


_EPISODES: list[tuple[Callable[[_Story], None], float]] = [
    (_referral, 0.45),
    (_training, 0.35),
    (_residence, 0.12),
    (_mistake, 0.08),
]


def _closing(s: _Story) -> None:
    placed = s.rng.random() < 0.4
    if placed:
        kind = s.rng.choice(["apprenticeship", "employment"])
        start = (HISTORY_START + dt.timedelta(days=s.day + 20)).date()
        pid = s.business_id(s.intake, "plc")
        s.add(
            s.intake, "participant.placed", {"placement_id": pid, "kind": kind, "start_date": start}
        )
    situation = "in_employment" if placed else "job_searching"
    reason = "placed" if placed else s.rng.choice(["completed_programme", "moved_away"])
    s.add(s.intake, "participant.exited", {"reason": reason, "situation": situation})
    s.add(s.intake, "participant.followed_up", {"situation": situation})


def story(rng: random.Random, pid: str, length: int) -> list[Raw]:
    """`length` events of one participant: enrolment, episodes, then leaving if room."""
    s = _Story(rng, pid, rng.randrange(0, 400))
    s.add(s.intake, "participant.enrolled", enrolment_data(rng))
    episodes, weights = zip(*_EPISODES, strict=True)
    while len(s.events) < length - 3:
        rng.choices(episodes, weights)[0](s)
    if len(s.events) < length:
        _closing(s)
    while len(s.events) < length:
        s.add(s.intake, "participant.followed_up", {"situation": "in_education_or_training"})
    return s.events[:length]  # a cut story is a case still in progress


def pseudonym(seed: str, n: int) -> str:
    return "p-" + hashlib.blake2b(f"{seed}:{n}".encode(), digest_size=8).hexdigest()


def lengths(rng: random.Random, events: int, participants: int) -> list[int]:
    """Story lengths summing to `events`, varying around the mean."""
    base, extra = divmod(events, participants)
    sizes = [base + (i < extra) for i in range(participants)]
    for i in range(0, participants - 1, 2):
        swing = min(sizes[i], sizes[i + 1]) - 1
        shift = rng.randint(-swing // 2, swing // 2) if swing > 1 else 0
        sizes[i] += shift
        sizes[i + 1] -= shift
    return sizes


def history(events: int, participants: int, seed: str = "bench") -> list[Raw]:
    """`events` events of `participants` people in log order (when recorded)."""
    rng = random.Random(seed)
    participants = max(1, min(participants, events))
    everything: list[Raw] = []
    for n, length in enumerate(lengths(rng, events, participants)):
        everything.extend(story(rng, pseudonym(seed, n), length))
    everything.sort(key=lambda e: e["recorded_at"])
    return everything


def enrolment(rng: random.Random, pid: str, now: dt.datetime) -> Raw:
    """A fresh enrolment happening now (the latency probe)."""
    partner = rng.choice(PARTNERS)
    return {
        "event_id": uuid.UUID(int=rng.getrandbits(128), version=4),
        "type": "participant.enrolled",
        "partner_id": partner,
        "site": PARTNER_SITES[partner][0],
        "participant_id": pid,
        "occurred_at": now,
        "recorded_at": now,
        "correlation_id": uuid.UUID(int=rng.getrandbits(128), version=4),
        "data": enrolment_data(rng),
    }
