"""The demo's planning types: a person's traits and steps, the seeded generator, and helpers.

Every id comes from the generator's counters under one seed, so a history is the
same every time it is made.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from pydantic import BaseModel

from refnet.events.catalogue import (
    EnrolledData,
    EventModel,
)
from refnet.events.vocabulary import (
    PlacementKind,
)
from refnet.services.demo.network import _LATE_SHARE, HISTORY_END, NAMESPACE, PARTNER_SITES

T = TypeVar("T")

Body = Callable[[dt.date], BaseModel]


@dataclass(frozen=True, slots=True)
class DemoSummary:
    """The outcome counts of a history, as the fold derives them."""

    participants: int
    placed: int
    apprenticeship: int
    employment: int
    referrals_sent: int
    referrals_accepted: int
    referrals_declined: int
    referrals_pending: int


@dataclass(frozen=True, slots=True)
class _Traits:
    """The special cases one participant's story must contain."""

    placed: bool = False
    double_reported: bool = False
    wrong_kind: bool = False
    wrong_placement: bool = False
    second_enrolment: bool = False
    duplicate_enrolment: bool = False
    mistaken_decline: bool = False


@dataclass(frozen=True, slots=True)
class _Step:
    """One planned event, `day` days after the participant's first enrolment."""

    day: int
    partner: str
    make: Callable[..., EventModel]
    body: Body
    event_id: uuid.UUID
    required: bool


@dataclass(slots=True)
class _Person:
    """One participant's planned story; `serving[0]` is the intake partner."""

    pid: str
    site: str
    profile: EnrolledData
    traits: _Traits
    serving: list[str]
    steps: list[_Step] = field(default_factory=list)
    day: int = 0
    start: int = 0
    leaning: PlacementKind | None = None
    placer: str | None = None
    kind: PlacementKind | None = None
    qualified: bool = False


class _Generator:
    """The seeded random source and the counters that make every id fixed."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self._events = 0
        self._ids = 0

    def event_id(self) -> uuid.UUID:
        self._events += 1
        return uuid.uuid5(NAMESPACE, f"{self.seed}:{self._events}")

    def business_id(self, partner: str, tag: str) -> str:
        self._ids += 1
        return f"{partner}:{tag}:{self._ids:05d}"

    def add(
        self,
        person: _Person,
        gap: int,
        partner: str,
        make: Callable[..., EventModel],
        data: BaseModel | Body,
        required: bool = False,
    ) -> uuid.UUID:
        """Plan an event `gap` days after the previous one; returns its event id."""
        person.day += gap
        return self.add_at(person, person.day, partner, make, data, required)

    def add_at(
        self,
        person: _Person,
        day: int,
        partner: str,
        make: Callable[..., EventModel],
        data: BaseModel | Body,
        required: bool = False,
    ) -> uuid.UUID:
        body = _fixed(data) if isinstance(data, BaseModel) else data
        event_id = self.event_id()
        person.steps.append(_Step(day, partner, make, body, event_id, required))
        return event_id


def _moment(rng: random.Random, day: dt.date) -> dt.datetime:
    """A time during office hours; one event per step and day keeps a story in order."""
    midnight = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    return midnight + dt.timedelta(seconds=rng.randrange(7 * 3600, 16 * 3600))


def _recorded(rng: random.Random, occurred: dt.datetime, late_ok: bool) -> dt.datetime:
    if late_ok and rng.random() < _LATE_SHARE:
        late = occurred + dt.timedelta(days=rng.randint(3, 21), seconds=rng.randrange(14_400))
        if late.date() <= HISTORY_END:
            return late
    return occurred + dt.timedelta(seconds=rng.randrange(60, 4 * 3600))


def _site_of(partner: str, home: str) -> str:
    sites = PARTNER_SITES[partner]
    return home if home in sites else sites[0]


def _fixed(data: BaseModel) -> Body:
    return lambda _day: data


def _pick(rng: random.Random, weights: Mapping[T, float]) -> T:
    return rng.choices(list(weights), weights=list(weights.values()))[0]
