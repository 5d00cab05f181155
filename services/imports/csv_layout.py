"""The column layout of a spreadsheet import, derived from the event catalogue.

Every column is a field of the envelope or of an event type's `data`, read off
the catalogue models, so the layout cannot drift from the contract. The only
hand-written parts are the German headers and the German names of the event
types; `layout_markdown()` renders the whole layout for the README.

Contact details and consent (`ADDED_COLUMNS`) may fill any row and add events
for it (`csv_extras.py`): the contact columns a `participant.contact_recorded`,
sealed before it is published; `consent_contact_details` (a recipient partner id,
or `all`) a `consent.given` to pass contact details; `consent_follow_up` a
`consent.given` (`ja`) or `consent.withdrawn` (`nein`) of the six-month
follow-up contact. A `participant.contact_recorded` row holds only the contact
columns. The `privacy.*` events are recorded by the network (`refnet privacy`),
never imported from a partner's spreadsheet.
"""

from __future__ import annotations

import datetime as dt
import re
import types
from dataclasses import dataclass
from enum import Enum
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, StringConstraints

from refnet.events.catalogue import EVENT_TYPES, Envelope
from refnet.events.contact import ContactDetails
from refnet.events.fields import REFUSED, BusinessId, Pseudonym, Slug

Base = Literal["type", "text", "bool", "date", "datetime", "uuid", "enum"]

GERMAN_HEADERS: dict[str, str] = {
    # envelope
    "type": "Ereignis",
    "event_id": "Ereignis-ID",
    "partner_id": "Partner-ID",
    "site": "Standort",
    "participant_id": "Teilnehmer-ID",
    "occurred_at": "Datum",
    "recorded_at": "Erfasst am",
    "correlation_id": "Korrelations-ID",
    "causation_id": "Auslöser-ID",
    # data
    "programme": "Programm",
    "residence_status": "Aufenthaltsstatus",
    "work_permission": "Arbeitserlaubnis",
    "sgb2_eligible": "SGB-II-berechtigt",
    "employment_status": "Erwerbsstatus",
    "education_level": "Bildungsniveau",
    "age_band": "Altersgruppe",
    "gender": "Geschlecht",
    "third_country_national": "Drittstaatsangehörig",
    "german_level": "Deutschniveau",
    "consent_to_share": "Einwilligung",
    "valid_from": "Gültig ab",
    "referral_id": "Vermittlungs-ID",
    "to_partner": "An Partner",
    "service": "Leistung",
    "reason": "Grund",
    "training_id": "Maßnahme-ID",
    "kind": "Art",
    "qualification_gained": "Abschluss erreicht",
    "placement_id": "Platzierungs-ID",
    "start_date": "Beginn",
    "situation": "Verbleib",
    "retracted_event_id": "Widerrufene Ereignis-ID",
    "purpose": "Zweck",
    "recipient": "Empfänger",
    # contact details and consent, on any row
    "name": "Name",
    "phone": "Telefon",
    "email": "E-Mail",
    "postal_address": "Anschrift",
    "preferred_language": "Sprache",
    "consent_contact_details": "Einwilligung Kontaktdaten",
    "consent_follow_up": "Einwilligung Nachbefragung",
}
"""The German header of every column, by its English header (the field name)."""

GERMAN_TYPES: dict[str, str] = {
    "participant.enrolled": "aufnahme",
    "residence_status.changed": "aufenthaltsstatus_geändert",
    "referral.sent": "vermittlung_gesendet",
    "referral.accepted": "vermittlung_angenommen",
    "referral.declined": "vermittlung_abgelehnt",
    "training.started": "maßnahme_begonnen",
    "training.completed": "maßnahme_abgeschlossen",
    "training.discontinued": "maßnahme_abgebrochen",
    "participant.placed": "platzierung",
    "participant.exited": "austritt",
    "participant.followed_up": "nachbefragung",
    "event.retracted": "widerruf",
    "participant.contact_recorded": "kontaktdaten",
    "consent.given": "einwilligung_erteilt",
    "consent.withdrawn": "einwilligung_widerrufen",
}
"""German names accepted in the `type` column, beside the catalogue names."""

NOT_IMPORTED = ("privacy.erasure_requested", "privacy.key_destroyed")
"""Event types only the network records (`refnet privacy`); a spreadsheet row may not."""
CONTACT_TYPE = "participant.contact_recorded"
ALL_RECIPIENTS = ("all", "alle")
"""`consent_contact_details` cells meaning: to every partner of the network."""

REFUSED_WORDS = (REFUSED, "verweigert")
TRUE_WORDS = ("true", "ja", "yes", "wahr", "1")
FALSE_WORDS = ("false", "nein", "no", "falsch", "0")

# Envelope fields the import fills in itself when their cell is empty.
FILLED_BY_IMPORT = ("event_id", "partner_id", "recorded_at")
# Envelope fields that are not spreadsheet columns: the version is always the
# current one, and the integrity fields are added by signed ingestion.
NOT_COLUMNS = ("schema_version", "publisher_id", "sequence", "signature")

_NOTES = {
    "type": "an event type below, or its German name",
    "event_id": "UUID; when empty, derived from the row (see above)",
    "partner_id": "when given, must equal `--partner`",
    "occurred_at": "ISO 8601 date-time with offset, or a date (`2024-03-04`, `04.03.2024`)",
    "recorded_at": "as `occurred_at`; when empty, equal to `occurred_at`",
    "name": "text, up to 200 characters; sealed, never on the log in clear",
    "phone": "phone number (digits, spaces, `()/.-`, optional leading `+`); sealed",
    "email": "e-mail address; sealed",
    "postal_address": "text, up to 400 characters; sealed",
    "preferred_language": "ISO 639 code (`de`, `ar`, `prs`); sealed",
    "consent_contact_details": "the partner id that may receive the contact details, or "
    "`all` (`alle`): adds a `consent.given` (`pass_contact_details`)",
    "consent_follow_up": "`ja`/`nein`: adds a `consent.given` or `consent.withdrawn` "
    "(`follow_up_contact`)",
}


def _pattern_of(annotated: Any) -> str | None:
    patterns = (m.pattern for m in get_args(annotated)[1:] if isinstance(m, StringConstraints))
    return next((str(p) for p in patterns if p is not None), None)


# Identifier fields described in words; any other pattern is shown as it is.
_PATTERN_WORDS = {
    _pattern_of(Slug): "id from the network's configuration: a-z, 0-9, `-`",
    _pattern_of(Pseudonym): "pseudonym: 6-64 of A-Z, a-z, 0-9, `_`, `-` (never a name)",
    _pattern_of(BusinessId): "your own id: 1-100 of A-Z, a-z, 0-9, `_.:-`",
}


@dataclass(frozen=True)
class Column:
    """One column: its headers, what its cells hold, and whether a row must fill it."""

    name: str
    german: str
    base: Base
    required: bool
    refusable: bool = False
    choices: tuple[str, ...] = ()
    pattern: str | None = None
    max_length: int | None = None

    def describe(self) -> str:
        """What a cell may hold, in words, for the documentation."""
        kinds = {
            "type": "event type",
            "text": self._text(),
            "bool": "`ja`/`nein` (or `yes`/`no`, `true`/`false`, `1`/`0`)",
            "date": "date (`2024-03-04` or `04.03.2024`)",
            "datetime": "date-time",
            "uuid": "UUID",
            "enum": ", ".join(f"`{c}`" for c in self.choices),
        }
        text = _NOTES.get(self.name, kinds[self.base])
        return text + ("; or `refused` (`verweigert`)" if self.refusable else "")

    def _text(self) -> str:
        if self.pattern is not None:
            return _PATTERN_WORDS.get(self.pattern, f"text matching `{self.pattern}`")
        if self.max_length is not None:
            return f"text, up to {self.max_length} characters"
        return "text"


def header_key(text: str) -> str:
    """How headers and type names are compared: case, spaces, `-` and `_` do not matter."""
    return re.sub(r"[\s_-]+", "_", text.strip().casefold())


def _column(name: str, annotation: Any, metadata: list[Any], required: bool) -> Column:
    found: list[Any] = []
    constraints = [m for m in metadata if isinstance(m, StringConstraints)]
    refusable = False

    def walk(tp: Any) -> None:
        nonlocal refusable
        origin = get_origin(tp)
        if origin is Annotated:
            constraints.extend(m for m in get_args(tp)[1:] if isinstance(m, StringConstraints))
            walk(get_args(tp)[0])
        elif origin is Union or origin is types.UnionType:
            for arg in get_args(tp):
                walk(arg)
        elif origin is Literal and get_args(tp) == (REFUSED,):
            refusable = True
        elif tp is not type(None):
            found.append(tp)

    walk(annotation)
    base: Base = "text"  # anything else is passed on as text for the catalogue to judge
    choices: tuple[str, ...] = ()
    if found:
        tp = found[0]
        if isinstance(tp, type) and issubclass(tp, Enum):
            base, choices = "enum", tuple(str(member.value) for member in tp)
        elif tp is AwareDatetime or tp is dt.datetime:
            base = "datetime"
        elif tp is dt.date:
            base = "date"
        elif tp is bool:
            base = "bool"
        elif tp is UUID:
            base = "uuid"
    pattern = next((str(c.pattern) for c in constraints if c.pattern is not None), None)
    max_length = next((c.max_length for c in constraints if c.max_length is not None), None)
    german = GERMAN_HEADERS.get(name, name)
    return Column(
        name, german, base, required, refusable, choices, pattern=pattern, max_length=max_length
    )


def _envelope_columns() -> tuple[Column, ...]:
    columns = [Column("type", GERMAN_HEADERS["type"], "type", required=True)]
    for name, field in Envelope.model_fields.items():
        if name in NOT_COLUMNS:
            continue
        required = field.is_required() and name not in FILLED_BY_IMPORT
        columns.append(_column(name, field.annotation, field.metadata, required))
    return tuple(columns)


def _model_columns(model: type[BaseModel]) -> tuple[Column, ...]:
    return tuple(
        _column(name, field.annotation, field.metadata, field.is_required())
        for name, field in model.model_fields.items()
    )


CONTACT_COLUMNS: tuple[Column, ...] = _model_columns(ContactDetails)
"""The contact details' columns: the data of a `participant.contact_recorded` row."""


def _data_columns() -> dict[str, tuple[Column, ...]]:
    layout: dict[str, tuple[Column, ...]] = {}
    for event_type, model in EVENT_TYPES.items():
        if event_type in NOT_IMPORTED:
            continue
        if event_type == CONTACT_TYPE:  # written in clear, sealed by the import
            layout[event_type] = CONTACT_COLUMNS
            continue
        data_model = model.model_fields["data"].annotation
        if not (isinstance(data_model, type) and issubclass(data_model, BaseModel)):
            raise TypeError(f"{event_type}: data is not a model")
        layout[event_type] = _model_columns(data_model)
    return layout


ENVELOPE_COLUMNS: tuple[Column, ...] = _envelope_columns()
"""Columns every row may fill, in documentation order."""

DATA_COLUMNS: dict[str, tuple[Column, ...]] = _data_columns()
"""The data columns of each event type."""

ADDED_COLUMNS: tuple[Column, ...] = (
    *CONTACT_COLUMNS,
    Column("consent_contact_details", GERMAN_HEADERS["consent_contact_details"], "text", False),
    Column("consent_follow_up", GERMAN_HEADERS["consent_follow_up"], "bool", False),
)
"""Columns any row may fill; each adds an event for the row's participant."""

ENVELOPE_NAMES = frozenset(c.name for c in ENVELOPE_COLUMNS)
DATA_NAMES = frozenset(c.name for columns in DATA_COLUMNS.values() for c in columns)
ADDED_NAMES = frozenset(c.name for c in ADDED_COLUMNS)


def _header_index() -> dict[str, tuple[str, bool]]:
    index: dict[str, tuple[str, bool]] = {}
    for name in sorted(ENVELOPE_NAMES | DATA_NAMES | ADDED_NAMES):
        index[header_key(name)] = (name, False)
        index[header_key(GERMAN_HEADERS.get(name, name))] = (name, True)
    return index


HEADERS: dict[str, tuple[str, bool]] = _header_index()
"""Every accepted header (by `header_key`): the column name and whether it is German."""

TYPE_NAMES: dict[str, str] = {header_key(t): t for t in EVENT_TYPES} | {
    header_key(german): t for t, german in GERMAN_TYPES.items()
}
"""Every accepted `type` cell (by `header_key`): the catalogue's event type."""


def layout_markdown() -> str:
    """The column layout as one Markdown table, as the README documents it."""
    lines = [
        "| event type | column | German header | required | values |",
        "|---|---|---|---|---|",
    ]
    for column in ENVELOPE_COLUMNS:
        lines.append(_row("every row", column))
    label = "any row (adds events)"
    for column in ADDED_COLUMNS:
        lines.append(_row(label, column))
        label = ""
    for event_type, columns in DATA_COLUMNS.items():
        german = GERMAN_TYPES.get(event_type)
        label = f"`{event_type}`" + (f" (`{german}`)" if german else "")
        for column in columns:
            lines.append(_row(label, column))
            label = ""
    return "\n".join(lines) + "\n"


def _row(label: str, column: Column) -> str:
    required = "yes" if column.required else "no"
    cells = (label, f"`{column.name}`", f"`{column.german}`", required, column.describe())
    return "| " + " | ".join(cells) + " |"
