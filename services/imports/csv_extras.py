"""The events a spreadsheet row adds: its contact details and consent (`ADDED_COLUMNS`).

A row of any type may carry the participant's contact details (`name`, `phone`,
`email`, `postal_address`, `preferred_language`) and consent cells; each adds an
event with the row's envelope (partner, site, participant, times). The contact
details become a `participant.contact_recorded` in clear, sealed by the publisher
before anything is signed, so the log only sees the ciphertext.

Ids: an added event's id is derived from its row's event id and its column
(`uuid5(NAMESPACE, "<event id>/<column>")`), so a re-imported row adds the same
events again, which the projections count once. No id is ever derived from
contact details: an id is on the log in clear, and a hash of a phone number
confirms a guessed one even after the participant's key is destroyed. A changed
detail therefore goes on a new row (a `participant.contact_recorded` row, dated
when it changed), not into an old row re-imported.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import TypeAdapter, ValidationError

from refnet.events.catalogue import EventModel
from refnet.events.codec import validate
from refnet.events.contact import ClearContactRecorded
from refnet.events.errors import EventInvalid, Problem
from refnet.events.fields import Slug
from refnet.events.sealing import clear_contact
from refnet.services.imports.csv_layout import ALL_RECIPIENTS, CONTACT_COLUMNS

Incoming = EventModel | ClearContactRecorded
ColumnError = tuple[str, str]
"""(column name, reason) of a problem with an added column."""

_CONTACT = tuple(c.name for c in CONTACT_COLUMNS)
_PARTNER_ID: TypeAdapter[str] = TypeAdapter(Slug)
_SLUG_ERROR = "expected a partner id (a-z, 0-9, `-`) or `all` (`alle`)"


def added_id(main_id: uuid.UUID, column: str, namespace: uuid.UUID) -> uuid.UUID:
    """The id of the event that `column` adds to the row whose event is `main_id`."""
    return uuid.uuid5(namespace, f"{main_id}/{column}")


def added_events(
    main: Incoming,
    added: Mapping[str, Any],
    namespace: uuid.UUID,
) -> tuple[list[Incoming], list[ColumnError]]:
    """The events `added` (column → cell value) adds to the row of `main`, or the problems."""
    envelope = main.model_dump(
        mode="json",
        exclude_none=True,
        include={"partner_id", "site", "participant_id", "occurred_at", "recorded_at"},
    )
    events: list[Incoming] = []
    errors: list[ColumnError] = []

    def add(column: str, make: Callable[[dict[str, Any]], Incoming], data: Any) -> None:
        raw = envelope | {"event_id": str(added_id(main.event_id, column, namespace))}
        try:
            events.append(make(raw | {"data": data}))
        except EventInvalid as exc:
            errors.extend(_at_column(column, p) for p in exc.problems)

    contact = {name: added[name] for name in _CONTACT if name in added}
    if contact:
        add("contact", lambda raw: clear_contact(raw | {"type": "participant.contact_recorded"}),
            {"contact": contact})  # fmt: skip
    if "consent_contact_details" in added:
        recipient = _recipient(str(added["consent_contact_details"]))
        if recipient is False:
            errors.append(("consent_contact_details", _SLUG_ERROR))
        else:
            data = {"purpose": "pass_contact_details"} | (
                {"recipient": recipient} if recipient else {}
            )
            add("consent_contact_details", _typed("consent.given"), data)
    if "consent_follow_up" in added:
        # A "nein" withdraws: it must never leave an earlier "ja" standing.
        kind = "consent.given" if added["consent_follow_up"] is True else "consent.withdrawn"
        add("consent_follow_up", _typed(kind), {"purpose": "follow_up_contact"})
    return events, errors


def _typed(event_type: str) -> Callable[[dict[str, Any]], Incoming]:
    return lambda raw: validate(raw | {"type": event_type})


def _recipient(text: str) -> str | None | bool:
    """A partner id; None for every partner; False when the cell is neither."""
    if text.casefold() in ALL_RECIPIENTS:
        return None
    try:
        return _PARTNER_ID.validate_python(text)
    except ValidationError:
        return False


def _at_column(column: str, problem: Problem) -> ColumnError:
    """A problem of an added event, at the column that made it (`data.contact.phone` → phone)."""
    name = problem.field.removeprefix("data.").removeprefix("contact.")
    if column == "contact":
        return (name if name in _CONTACT else "name", problem.reason)
    return (column, f"{problem.field}: {problem.reason}")
