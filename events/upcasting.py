"""Upcasters: turn an event written in an older schema version into the current shape.

Readers call `upcast` on the raw JSON object before validation, so folds only
ever see the current models. Each step lifts one version of one type by one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from refnet.events.catalogue import CURRENT_SCHEMA_VERSION
from refnet.events.errors import EventInvalid, Problem

Raw = dict[str, Any]
Upcaster = Callable[[Raw], Raw]

_STEPS: dict[tuple[str, int], Upcaster] = {}


def upcaster(event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register a function that lifts `event_type` from `from_version` to the next."""

    def register(func: Upcaster) -> Upcaster:
        _STEPS[(event_type, from_version)] = func
        return func

    return register


def upcast_path_exists(event_type: str, from_version: int, to_version: int) -> bool:
    """Whether registered steps lift `event_type` from `from_version` to `to_version`.

    Each step lifts by one version, so every version in between needs its own step;
    `from_version == to_version` needs none.
    """
    if from_version > to_version:
        return False
    return all((event_type, v) in _STEPS for v in range(from_version, to_version))


def upcast(raw: Raw) -> Raw:
    """Lift `raw` step by step to the current schema version; current events pass through."""
    version = raw.get("schema_version", CURRENT_SCHEMA_VERSION)
    if version == CURRENT_SCHEMA_VERSION or not isinstance(version, int):
        return raw  # validation reports a wrong type or unknown version precisely
    event_type = raw.get("type")
    while isinstance(event_type, str) and version < CURRENT_SCHEMA_VERSION:
        step = _STEPS.get((event_type, version))
        if step is None:
            raise EventInvalid(
                [Problem("schema_version", f"no upcaster for {event_type} version {version}")]
            )
        raw = step(raw)
        lifted = raw.get("schema_version")
        if not isinstance(lifted, int) or lifted <= version:
            raise EventInvalid([Problem("schema_version", f"upcaster did not lift {version}")])
        version = lifted
    return raw


# v0 of participant.enrolled (the pilot's spreadsheet export) wrote gender as a
# one-letter code and the age band as "18-29"; it had no recorded_at, because
# the pilot recorded events as they happened.
_V0_GENDER = {"f": "female", "m": "male", "d": "diverse", "x": "not_stated"}
_V0_AGE_BAND = {"<18": "under_18", "18-29": "18_29", "30-54": "30_54", "55+": "55_plus"}


@upcaster("participant.enrolled", 0)
def _enrolled_v0_to_v1(raw: Raw) -> Raw:
    body = raw.get("data")
    if not isinstance(body, dict):
        # Lift the version anyway: validation then reports the malformed body.
        return {**raw, "schema_version": 1}
    data = dict(body)
    gender = data.get("gender")
    if isinstance(gender, str):
        data["gender"] = _V0_GENDER.get(gender, gender)
    if "age_group" in data:
        age = data.pop("age_group")
        data["age_band"] = _V0_AGE_BAND.get(age, age) if isinstance(age, str) else age
    lifted = {**raw, "data": data, "schema_version": 1}
    lifted.setdefault("recorded_at", raw.get("occurred_at"))
    return lifted
