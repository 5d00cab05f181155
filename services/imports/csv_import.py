"""Reading a spreadsheet of events (CSV): every row mapped to an event, every problem kept.

The layout (which columns, German or English headers) is in `csv_layout.py`.
Problems are reported by physical line (the header is line 1) and by the
column header as written in the file, so a partner can find the cell in the
spreadsheet. Nothing here talks to Kafka: the CLI decides what is published.

A row may add events for its contact details and consent (`csv_extras.py`);
contact details stay in clear in memory (`ClearContactRecorded`) until the
publisher seals them. Free text holding personal data (an e-mail address in a
reason, say) is refused at its row and column (`events/pii.py`).
"""

from __future__ import annotations

import codecs
import csv
import difflib
import io
import re
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from refnet.events.codec import canonical_json, validate
from refnet.events.contact import ClearContactRecorded
from refnet.events.errors import EventInvalid
from refnet.events.pii import pii_problems
from refnet.events.sealing import clear_contact
from refnet.services.imports.cells import cell_value
from refnet.services.imports.csv_extras import Incoming, added_events
from refnet.services.imports.csv_layout import (
    ADDED_COLUMNS,
    CONTACT_TYPE,
    DATA_COLUMNS,
    DATA_NAMES,
    ENVELOPE_COLUMNS,
    ENVELOPE_NAMES,
    GERMAN_HEADERS,
    HEADERS,
    NOT_IMPORTED,
    TYPE_NAMES,
    header_key,
)

NAMESPACE = uuid.UUID("c7cd9136-9789-4172-a443-51f1b70316ee")
"""uuid5 namespace of derived event ids: `uuid5(NAMESPACE, canonical JSON without event_id)`."""

# A plain date means midnight where the network works, not in UTC.
_SEP_LINE = re.compile(r'^"?sep=(.)"?$', re.IGNORECASE)  # Excel's delimiter hint
_ENVELOPE = {c.name: c for c in ENVELOPE_COLUMNS}
_ADDED = {c.name: c for c in ADDED_COLUMNS}

_PLACEHOLDER_ID = uuid.UUID(int=0)


@dataclass(frozen=True)
class CellError:
    """One problem: the line, the column as headed in the file (if one), and why."""

    line: int
    column: str | None
    reason: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f', column "{self.column}"' if self.column else "")
        return f"{where}: {self.reason}"


@dataclass(frozen=True)
class ImportedRow:
    """An event of a valid row: the line it starts on, and the event (a row may add more)."""

    line: int
    event: Incoming


@dataclass
class CsvImport:
    """What a file holds: the valid rows, and the problems of the file and of its lines.

    A file problem (encoding, header) spoils every row; a line problem only its line.
    """

    rows: list[ImportedRow] = field(default_factory=list)
    file_errors: list[CellError] = field(default_factory=list)
    line_errors: list[CellError] = field(default_factory=list)

    @property
    def errors(self) -> list[CellError]:
        return sorted(self.file_errors + self.line_errors, key=lambda e: e.line)

    @property
    def invalid_lines(self) -> list[int]:
        return sorted({e.line for e in self.line_errors})

    @property
    def events(self) -> list[Incoming]:
        """The valid events in time order (ties in file order), as they are published.

        Spreadsheets are often sorted by person or by name; publishing by
        `occurred_at` gives the log the order in which things happened.
        """
        ordered = sorted(self.rows, key=lambda r: (r.event.occurred_at, r.line))
        return [r.event for r in ordered]

    def counts(self) -> dict[str, int]:
        """Valid rows per event type."""
        return dict(Counter(r.event.type for r in self.rows))


def read_csv(path: Path, partner: str) -> CsvImport:
    """Read and validate every row of the spreadsheet at `path` as events of `partner`."""
    return parse_csv(path.read_bytes(), partner)


def parse_csv(content: bytes, partner: str) -> CsvImport:
    """Read and validate every row of a CSV file's bytes as events of `partner`."""
    result = CsvImport()
    try:
        text = _decode(content)
        records = _records(text)
    except _Unreadable as exc:
        result.file_errors.append(exc.error)
        return result
    if not records or not any(cell.strip() for cell in records[0][1]):
        line = records[0][0] if records else 1
        result.file_errors.append(CellError(line, None, "the first line must name the columns"))
        return result
    header_line, header_cells = records[0]
    header = _Header.read(header_line, header_cells)
    result.file_errors.extend(header.errors)
    if "type" in header.missing:
        return result  # without event types no row can be read
    seen: dict[uuid.UUID, tuple[int, bytes]] = {}
    for line, cells in records[1:]:
        if not any(cell.strip() for cell in cells):
            continue
        events, errors = _events_of(line, cells, header, partner)
        for event in events:
            errors += _conflicting_id(line, event, header, seen)
        if errors:
            result.line_errors.extend(errors)
        else:
            result.rows.extend(ImportedRow(line, event) for event in events)
    return result


def derived_event_id(event: Incoming) -> uuid.UUID:
    """The id of an event without one: the same row always gets the same id.

    It hashes the canonical form of everything but the id (partner, type and
    every value, after parsing), so a re-imported spreadsheet publishes the
    same ids and the projections count each event once, however the cells
    were spelled (`ja` or `true`, German or ISO dates, German or English headers).
    Contact details are left out: the id goes on the log in clear, and a hash of
    them would confirm a guess of them for ever (see `csv_extras.py`).
    """
    body = event.model_dump(mode="json", exclude_none=True)
    body.pop("event_id", None)
    if isinstance(event, ClearContactRecorded):
        body.pop("data")
    return uuid.uuid5(NAMESPACE, canonical_json(body).decode())


# ------------------------------------------------------------------- the file


class _Unreadable(Exception):
    def __init__(self, error: CellError) -> None:
        self.error = error


def _decode(content: bytes) -> str:
    if content.startswith(codecs.BOM_UTF8):
        content = content[len(codecs.BOM_UTF8) :]
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = content.count(b"\n", 0, exc.start) + 1
        raise _Unreadable(
            CellError(
                line,
                None,
                f"not UTF-8 text (byte 0x{content[exc.start]:02x}); save the spreadsheet "
                'as "CSV UTF-8 (comma delimited)" / "CSV UTF-8 (durch Trennzeichen getrennt)"',
            )
        ) from None


def _records(text: str) -> list[tuple[int, list[str]]]:
    """Every record with the physical line it starts on (quoted cells may span lines)."""
    stream = io.StringIO(text, newline="")
    first = stream.readline()
    hint = _SEP_LINE.match(first.rstrip("\r\n"))
    if hint:
        delimiter, skipped = hint[1], 1
    else:
        # Headers hold neither `,` nor `;`, so the first line tells which one separates.
        delimiter, skipped = (";" if first.count(";") > first.count(",") else ","), 0
        stream.seek(0)
    reader = csv.reader(stream, delimiter=delimiter)
    records: list[tuple[int, list[str]]] = []
    consumed = 0
    try:
        for cells in reader:
            records.append((skipped + consumed + 1, cells))
            consumed = reader.line_num
    except csv.Error as exc:
        raise _Unreadable(CellError(skipped + reader.line_num, None, f"not CSV: {exc}")) from None
    return records


@dataclass
class _Header:
    """The header line: which column each position holds, and how the file spells it."""

    written: list[str]
    names: list[str | None]
    german: bool
    errors: list[CellError]
    missing: set[str]

    @classmethod
    def read(cls, line: int, cells: list[str]) -> _Header:
        names: list[str | None] = []
        errors: list[CellError] = []
        first_at: dict[str, str] = {}
        german = english = 0
        for cell in cells:
            known = HEADERS.get(header_key(cell))
            name = None
            if not cell.strip():
                pass  # an empty header is allowed; a value under it is not
            elif known is None:
                errors.append(CellError(line, cell.strip(), "unknown column" + _suggest(cell)))
            elif known[0] in first_at:
                other = first_at[known[0]]
                errors.append(CellError(line, cell.strip(), f'the same column as "{other}"'))
            else:
                name = known[0]
                first_at[name] = cell.strip()
                if known[1]:
                    german += 1
                else:
                    english += 1
            names.append(name)
        header = cls([c.strip() for c in cells], names, german > english, errors, set())
        for column in ENVELOPE_COLUMNS:
            if column.required and column.name not in first_at:
                header.missing.add(column.name)
                errors.append(
                    CellError(line, header.label(column.name), "missing: every row needs it")
                )
        return header

    def label(self, name: str) -> str:
        """The column's header as the file writes it, or in the file's language."""
        if name in self.names:
            return self.written[self.names.index(name)]
        return GERMAN_HEADERS.get(name, name) if self.german else name


def _suggest(text: str) -> str:
    spellings = {header_key(k): k for k in GERMAN_HEADERS} | {
        header_key(v): v for v in GERMAN_HEADERS.values()
    }
    close = difflib.get_close_matches(header_key(text), spellings, n=1)
    return f' (did you mean "{spellings[close[0]]}"?)' if close else ""


# -------------------------------------------------------------------- one row


def _events_of(
    line: int, cells: list[str], header: _Header, partner: str
) -> tuple[list[Incoming], list[CellError]]:
    """The row's event and the events its contact and consent cells add, or its problems."""
    event, added, errors = _event_of(line, cells, header, partner)
    if event is None:
        return [], errors
    extras, problems = added_events(event, added, NAMESPACE)
    errors += [CellError(line, header.label(column), reason) for column, reason in problems]
    return ([] if errors else [event, *extras]), errors


def _validated(raw: dict[str, Any]) -> Incoming:
    if raw["type"] == CONTACT_TYPE:
        return clear_contact(raw | {"data": {"contact": raw["data"]}})
    event = validate(raw)
    if problems := pii_problems(event):
        raise EventInvalid(problems)
    return event


def _event_of(
    line: int, cells: list[str], header: _Header, partner: str
) -> tuple[Incoming | None, dict[str, Any], list[CellError]]:
    errors: list[CellError] = []
    values: dict[str, str] = {}
    for position, cell in enumerate(cells):
        text = cell.strip()
        if not text:
            continue  # an empty cell means "not given"
        if position >= len(header.names) or not header.written[position]:
            errors.append(CellError(line, None, f"cell {position + 1} has a value but no header"))
        elif (name := header.names[position]) is not None:
            values[name] = text
    type_text = values.pop("type", "")
    event_type = TYPE_NAMES.get(header_key(type_text))
    if event_type is None:
        reason = "missing: every row needs it"
        if type_text:
            close = difflib.get_close_matches(header_key(type_text), TYPE_NAMES, n=1)
            hint = f' (did you mean "{TYPE_NAMES[close[0]]}"?)' if close else ""
            reason = f"unknown event type {type_text!r}{hint}"
        return None, {}, [*errors, CellError(line, header.label("type"), reason)]
    if event_type in NOT_IMPORTED:
        reason = f"{event_type} is recorded by the network (`refnet privacy`), not imported"
        return None, {}, [*errors, CellError(line, header.label("type"), reason)]

    columns = {c.name: c for c in DATA_COLUMNS[event_type]} | _ENVELOPE
    raw: dict[str, Any] = {"type": event_type, "partner_id": partner}
    data: dict[str, Any] = {}
    added: dict[str, Any] = {}
    reported = set(header.missing)  # fields already explained: no second error for them
    for name, text in values.items():
        column = columns.get(name) or _ADDED.get(name)
        if column is None:
            reason = f"not a column of {event_type}; leave it empty on this line"
            errors.append(CellError(line, header.label(name), reason))
            continue
        try:
            value = cell_value(text, column)
        except ValueError as exc:
            errors.append(CellError(line, header.label(name), str(exc)))
            reported.add(name)
            continue
        if name == "partner_id" and value != partner:
            reason = f"is {value!r}, but this import is for --partner {partner!r}"
            errors.append(CellError(line, header.label(name), reason))
            reported.add(name)
        elif name not in columns:
            added[name] = value
        elif name not in ENVELOPE_NAMES:
            data[name] = value
        elif name != "partner_id":
            raw[name] = value
    # Defaulting recorded_at to occurred_at keeps a row's event, and so its id, the same on
    # every import; the partner's spreadsheet is its own record of when things happened.
    if "recorded_at" not in raw:
        if "occurred_at" in raw:
            raw["recorded_at"] = raw["occurred_at"]
        else:
            reported.add("recorded_at")
    given_id = "event_id" in raw
    raw.setdefault("event_id", _PLACEHOLDER_ID)
    raw["data"] = data
    try:
        event = _validated(raw)
    except EventInvalid as exc:
        for problem in exc.problems:
            errors.extend(_problem_at(line, problem.field, problem.reason, header, reported))
        if not errors and not header.missing:  # never drop a row without saying why
            errors.append(CellError(line, None, str(exc)))
        return None, added, errors
    if errors:
        return None, added, errors
    if not given_id:
        event = event.model_copy(update={"event_id": derived_event_id(event)})
    return event, added, []


def _problem_at(
    line: int, path: str, reason: str, header: _Header, reported: set[str]
) -> list[CellError]:
    """Map a catalogue field path (`data.gender`, `data.contact.phone`) to the file's column."""
    name = path.removeprefix("data.").removeprefix("contact.")
    if name in reported:
        return []
    if name not in ENVELOPE_NAMES | DATA_NAMES:  # the event as a whole
        return [CellError(line, None, f"{path}: {reason}")]
    if name not in header.names:
        reason += " (the file has no such column)"
    return [CellError(line, header.label(name), reason)]


def _conflicting_id(
    line: int, event: Incoming, header: _Header, seen: dict[uuid.UUID, tuple[int, bytes]]
) -> list[CellError]:
    # Derived ids only repeat for identical rows, which the projections count once anyway;
    # a written id that repeats with other content would silently lose one of the two.
    body = canonical_json(event.model_dump(mode="json", exclude_none=True))
    first = seen.setdefault(event.event_id, (line, body))
    if first[1] == body:
        return []
    reason = f"the same event_id as line {first[0]}, for a different event"
    return [CellError(line, header.label("event_id"), reason)]
