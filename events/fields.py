"""Annotated field types shared by the envelope and the catalogue.

Times are timezone-aware and normalised to UTC on the way in, so that the
canonical encoding of one instant is always the same bytes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal, TypeVar

from pydantic import AfterValidator, AwareDatetime, PlainSerializer, StringConstraints

REFUSED = "refused"
"""Marker for a sensitive answer the participant declined to give: recorded, never guessed."""

T = TypeVar("T")

Refusable = T | Literal["refused"]
"""A sensitive field: a value from its list, or the explicit refusal."""


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _format_utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


UtcDatetime = Annotated[
    AwareDatetime,
    AfterValidator(_to_utc),
    PlainSerializer(_format_utc, return_type=str, when_used="json"),
]
"""A timezone-aware instant, held in UTC and written as `YYYY-MM-DDTHH:MM:SS.ffffffZ`."""

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", strict=True)]
"""Identifiers from configuration (partners, sites): lower-case letters, digits, dashes."""

Pseudonym = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{6,64}$", strict=True)]
"""An opaque network pseudonym. The narrow alphabet keeps names and e-mail addresses out."""

BusinessId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,100}$", strict=True)]
"""Ids chosen by publishers for referrals, trainings and placements."""

ShortText = Annotated[str, StringConstraints(min_length=1, max_length=200, strict=True)]
"""A short label such as a programme name: bounded so nobody writes case notes into the log."""
