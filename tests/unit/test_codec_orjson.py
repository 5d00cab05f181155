"""The fast canonical form is byte for byte the standard library's, the reference."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refnet.events.catalogue import EVENT_TYPES, EventModel
from refnet.events.codec import canonical_json, stdlib_canonical_json, to_canonical_dict
from tests.unit.codec_strategies import events

# Any JSON the standard library writes as valid UTF-8: every Unicode text but lone
# surrogates (control characters, quotes, backslashes, U+2028 and astral ones included).
texts = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
json_values: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | texts,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(texts, inner, max_size=6),
    max_leaves=40,
)


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
@settings(max_examples=60)
@given(data=st.data())
def test_every_catalogue_type_encodes_as_the_standard_library_does(
    event_type: str, data: st.DataObject
) -> None:
    event: EventModel = data.draw(events(event_type))
    body = to_canonical_dict(event)
    assert canonical_json(body) == stdlib_canonical_json(body)


@settings(max_examples=500)
@given(json_values)
def test_any_json_value_encodes_as_the_standard_library_does(value: Any) -> None:
    assert canonical_json(value) == stdlib_canonical_json(value)


def test_keys_sort_by_code_point_across_planes() -> None:
    value = {"\U0001f600": 1, "\uffff": 2, "é": 3, "Z": 4, "a": 5, "": 6}
    assert canonical_json(value) == stdlib_canonical_json(value)
    assert canonical_json(value).startswith(b'{"":6,"Z":4,"a":5')


def test_an_integer_past_64_bits_falls_back_to_the_reference_form() -> None:
    value = {"sequence": 2**70, "b": [-(2**64)]}
    assert (
        canonical_json(value) == b'{"b":[-18446744073709551616],"sequence":1180591620717411303424}'
    )


def test_a_lone_surrogate_is_refused_as_before() -> None:
    with pytest.raises(UnicodeEncodeError):
        canonical_json({"programme": "\ud800"})
