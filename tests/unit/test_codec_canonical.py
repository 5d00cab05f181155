"""The canonical codec: one event has exactly one byte form, and it reads back."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from refnet.events.catalogue import EVENT_TYPES, EventModel
from refnet.events.codec import decode, encode, validate
from refnet.events.errors import EventInvalid
from tests.unit.codec_strategies import CANONICAL_TIME, DATA, UTC, events, instants
from tests.unit.examples import valid_example


def test_strategies_cover_every_event_type() -> None:
    assert set(DATA) == set(EVENT_TYPES)


# ---------------------------------------------------------------- round trip


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
@given(data=st.data())
def test_decode_inverts_encode(event_type: str, data: st.DataObject) -> None:
    event = data.draw(events(event_type))

    decoded = decode(encode(event))

    assert type(decoded) is type(event)
    assert decoded == event


@given(events())
def test_encode_is_stable(event: EventModel) -> None:
    once = encode(event)

    assert encode(decode(once)) == once
    assert encode(validate(json.loads(once))) == once


@given(events())
def test_decode_accepts_text_as_well_as_bytes(event: EventModel) -> None:
    assert decode(encode(event).decode("utf-8")) == event


# ---------------------------------------------------------------- canonical form


def _outside_strings(text: str) -> str:
    """`text` with every JSON string literal removed."""
    kept: list[str] = []
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        else:
            kept.append(char)
    return "".join(kept)


def _assert_sorted_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)
    return dict(pairs)


@given(events())
def test_canonical_bytes_are_sorted_compact_utf8_without_nulls(event: EventModel) -> None:
    text = encode(event).decode("utf-8")  # strict UTF-8

    assert not re.search(r"\s", _outside_strings(text))
    raw = json.loads(text, object_pairs_hook=_assert_sorted_keys)
    assert None not in raw.values()
    assert text == json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@given(events())
def test_times_are_written_in_utc_with_z(event: EventModel) -> None:
    raw = json.loads(encode(event))

    for field in ("occurred_at", "recorded_at"):
        assert CANONICAL_TIME.match(raw[field]), raw[field]
        parsed = dt.datetime.fromisoformat(raw[field])
        assert parsed.utcoffset() == dt.timedelta(0)
        assert parsed == getattr(event, field)
    assert event.occurred_at.tzinfo is UTC
    assert event.recorded_at.tzinfo is UTC


@given(
    instants,
    st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1),
    st.sampled_from(sorted(EVENT_TYPES)),
)
def test_one_instant_in_any_offset_has_one_byte_form(
    instant: dt.datetime, offset_minutes: int, event_type: str
) -> None:
    zone = dt.timezone(dt.timedelta(minutes=offset_minutes))
    in_utc = valid_example(event_type) | {
        "occurred_at": instant.isoformat(),
        "recorded_at": instant.isoformat(),
    }
    elsewhere = valid_example(event_type) | {
        "occurred_at": instant.astimezone(zone).isoformat(),
        "recorded_at": instant.astimezone(zone).isoformat(),
    }

    assert encode(validate(elsewhere)) == encode(validate(in_utc))


def test_plus_two_hours_encodes_like_utc() -> None:
    berlin_summer = valid_example("participant.placed") | {
        "occurred_at": "2025-06-02T10:30:00+02:00",
        "recorded_at": "2025-06-02T12:00:00.5+02:00",
    }
    utc = valid_example("participant.placed") | {
        "occurred_at": "2025-06-02T08:30:00Z",
        "recorded_at": "2025-06-02T10:00:00.500000Z",
    }

    canonical = encode(validate(berlin_summer))

    assert canonical == encode(validate(utc))
    assert b'"occurred_at":"2025-06-02T08:30:00.000000Z"' in canonical
    assert b'"recorded_at":"2025-06-02T10:00:00.500000Z"' in canonical


def test_early_years_round_trip() -> None:
    event = validate(
        valid_example("participant.followed_up") | {"occurred_at": "0999-12-31T00:00:00Z"}
    )

    assert decode(encode(event)) == event


@pytest.mark.parametrize("value", ["0001-01-01T00:30:00+02:00", "9999-12-31T23:30:00-02:00"])
def test_time_outside_the_utc_range_is_a_field_problem(value: str) -> None:
    raw = valid_example("participant.followed_up") | {"occurred_at": value}

    with pytest.raises(EventInvalid) as caught:
        validate(raw)
    assert [p.field for p in caught.value.problems] == ["occurred_at"]
