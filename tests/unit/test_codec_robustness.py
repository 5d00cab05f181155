"""The canonical codec on any input: accepted or rejected cleanly, or undecodable."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from refnet.events.catalogue import EVENT_TYPES
from refnet.events.codec import decode, encode, validate
from refnet.events.errors import EventInvalid, EventUndecodable
from tests.unit.examples import valid_example

# ---------------------------------------------------------------- robustness

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@given(
    st.sampled_from(sorted(EVENT_TYPES)),
    st.sampled_from(
        ["event_id", "schema_version", "partner_id", "site", "participant_id", "occurred_at"]
        + ["recorded_at", "correlation_id", "sequence", "signature", "data", "type"]
    ),
    json_values,
)
def test_any_value_in_any_field_is_accepted_or_rejected_cleanly(
    event_type: str, field: str, value: Any
) -> None:
    raw = valid_example(event_type) | {field: value}

    try:
        event = decode(json.dumps(raw).encode())
    except EventInvalid as exc:
        assert exc.problems
    else:
        assert decode(encode(event)) == event


@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_escape_as_other_errors(data: bytes) -> None:
    with pytest.raises((EventUndecodable, EventInvalid)):
        decode(data)


# ---------------------------------------------------------------- undecodable


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not json",
        b'{"type": "participant.enrolled",',
        b"[]",
        b'[{"type": "participant.enrolled"}]',
        b'"participant.enrolled"',
        b"42",
        b"null",
        "[1, 2]",
    ],
)
def test_not_a_json_object_is_undecodable(data: bytes | str) -> None:
    with pytest.raises(EventUndecodable):
        decode(data)


def _valid_bytes() -> bytes:
    return encode(validate(valid_example("participant.enrolled")))


@pytest.mark.parametrize(
    "data",
    [
        _valid_bytes().replace(b'"ESF+ Bleiberecht EN"', b'"ESF+ \xff EN"'),
        _valid_bytes().replace(b'"female"', b'"f\xc3male"'),  # truncated sequence
        b"\xc0\xaf{}",  # overlong encoding
    ],
)
def test_invalid_utf8_is_undecodable(data: bytes) -> None:
    with pytest.raises(EventUndecodable):
        decode(data)


@pytest.mark.parametrize(
    "data",
    [
        _valid_bytes().decode("utf-8").encode("utf-16"),
        _valid_bytes().decode("utf-8").encode("utf-16-be"),
        _valid_bytes().decode("utf-8").encode("utf-32"),
        _valid_bytes().replace(b'"ESF+ Bleiberecht EN"', b'"ESF+ \xed\xa0\x80 EN"'),  # surrogate
    ],
    ids=["utf-16", "utf-16-be", "utf-32", "encoded-surrogate"],
)
def test_input_that_is_not_strict_utf8_is_undecodable(data: bytes) -> None:
    with pytest.raises(EventUndecodable):
        decode(data)
