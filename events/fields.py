"""Annotated field types shared by the envelope and the catalogue.

Times are timezone-aware and normalised to UTC on the way in, so that the
canonical encoding of one instant is always the same bytes.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeAlias, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    PlainSerializer,
    StringConstraints,
)

REFUSED = "refused"
"""Marker for a sensitive answer the participant declined to give: recorded, never guessed."""

T = TypeVar("T")

Refusable: TypeAlias = T | Literal["refused"]
"""A sensitive field: a value from its list, or the explicit refusal."""


def _text_or_datetime(value: Any) -> Any:
    # Numbers are not accepted as times: a Unix timestamp says nothing of its zone.
    if not isinstance(value, str | datetime):
        raise ValueError("expected an ISO 8601 date-time with a timezone")
    return value


def _to_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("date-time out of range") from None


def format_utc(value: datetime) -> str:
    """The canonical text of an instant: fixed width, so text order is time order."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


UtcDatetime = Annotated[
    AwareDatetime,
    BeforeValidator(_text_or_datetime),
    AfterValidator(_to_utc),
    PlainSerializer(format_utc, return_type=str, when_used="json"),
]
"""A timezone-aware instant, held in UTC and written as `YYYY-MM-DDTHH:MM:SS.ffffffZ`."""

SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
SLUG_RULE = (
    "lower-case letters, digits and '-', starting with a letter or digit, at most 63 characters"
)
Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN, strict=True)]
"""Identifiers from configuration (partners, sites): lower-case letters, digits, dashes."""


def is_slug(value: str) -> bool:
    """Whether `value` is a valid partner or site id, for checks outside a model."""
    return re.fullmatch(SLUG_PATTERN, value) is not None


Pseudonym = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{6,64}$", strict=True)]
"""An opaque network pseudonym. The narrow alphabet keeps names and e-mail addresses out."""

BusinessId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,100}$", strict=True)]
"""Ids chosen by publishers for referrals, trainings and placements."""


def _plain_text(value: str) -> str:
    # The read model stores text in PostgreSQL, which takes neither NUL nor a lone
    # surrogate (valid in JSON as "\\ud800"): such an event could never be applied.
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ValueError("control characters (line breaks, tabs, NUL) are not allowed")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("not valid Unicode text (a lone surrogate)") from None
    return value


ShortText = Annotated[
    str, StringConstraints(min_length=1, max_length=200, strict=True), AfterValidator(_plain_text)
]
"""Free text on one line, up to 200 characters, storable anywhere."""


def _not_refused(value: str) -> str:
    if value == REFUSED:
        raise ValueError("'refused' is only for sensitive fields")
    return value


Label = Annotated[ShortText, AfterValidator(_not_refused)]
"""A required label (programme name) where the refusal marker makes no sense."""
"""A short label such as a programme name: bounded so nobody writes case notes into the log."""
