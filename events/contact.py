"""A participant's contact details in clear: validated here, never put on the log like this.

Publishers hand these to the gateway (over TLS), the Python client or the CSV
import, which seal them under the participant's data key into a
`participant.contact_recorded` event (`events/sealing.py`). Only the API opens
them again, for a partner whose view the participant's consent covers.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from refnet.events.catalogue import Envelope

_PHONE = re.compile(r"^\+?[0-9][0-9 ()/.-]{3,28}[0-9]$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+$")


def _phone(value: str) -> str:
    digits = sum(c.isdigit() for c in value)
    if not _PHONE.fullmatch(value) or not 5 <= digits <= 15:
        raise ValueError("expected a phone number: digits, spaces, ()/.- and an optional leading +")
    return value


def _email(value: str) -> str:
    if len(value) > 254 or not _EMAIL.fullmatch(value):
        raise ValueError("expected an e-mail address such as name@example.org")
    return value


def _one_line(value: str) -> str:
    if any(ord(c) < 0x20 and c != "\n" or ord(c) == 0x7F for c in value):
        raise ValueError("control characters are not allowed")
    return value


_Text = StringConstraints(min_length=1, max_length=400, strip_whitespace=True)
Name = Annotated[str, _Text, StringConstraints(max_length=200), AfterValidator(_one_line)]
Phone = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_phone)]
Email = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_email)]
PostalAddress = Annotated[str, _Text, AfterValidator(_one_line)]
LanguageCode = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}$")]
"""ISO 639-1 or -3 code of the language the person prefers (`de`, `ar`, `prs`)."""


class ContactDetails(BaseModel):
    """How to reach a participant; every field optional, at least one given."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Name | None = None
    phone: Phone | None = None
    email: Email | None = None
    postal_address: PostalAddress | None = None
    preferred_language: LanguageCode | None = None

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # Which details are given, never what they are: a repr ends up in logs.
        for name, value in self:
            if value is not None:
                yield name, "***"

    @model_validator(mode="after")
    def _something(self) -> ContactDetails:
        if not any(v is not None for v in self.model_dump().values()):
            raise PydanticCustomError(
                "empty_contact", "give at least one contact detail", {"field": "contact"}
            )
        return self


class ClearContactData(BaseModel):
    """What a publisher sends in a `participant.contact_recorded` event's `data`: in clear."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    contact: ContactDetails


class ClearContactRecorded(Envelope):
    """A `participant.contact_recorded` event as a publisher writes it, before it is sealed.

    Never on the log and not in the catalogue's union: `seal_event` (`events/sealing.py`)
    turns it into the catalogue's `ContactRecorded`, whose data is only ciphertext.
    """

    type: Literal["participant.contact_recorded"] = "participant.contact_recorded"
    data: ClearContactData
