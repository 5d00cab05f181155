"""The log scan: every record of the event log read from offset 0 and searched for personal data.

Whatever the doors let through (or whatever bypassed them: a producer writing straight to
the topic), the scan finds it: personal data in any clear-text string of a record, its key
included, and contact details outside a ciphertext. Found values are kept masked only, so
a report can be shown, mailed and stored without itself leaking what it found.

What is searched, per record:

- a JSON object: every string value at any depth and every key that is not one of the
  catalogue's field names, except the inside of a `sealed` object (ciphertext by
  construction) and strings of a machine shape (UUIDs, instants, bare ISO dates,
  signatures). A key named like a contact detail (`phone`, `email`, `name`,
  `postal_address`, ...) outside `sealed` is a finding by itself, and so is a
  `participant.contact_recorded` whose data is not exactly `{"sealed": {...}}`.
- anything else (not UTF-8, not JSON, not an object): the bytes as text.
- the record key, as text. (The log's events carry no Kafka headers; the shared reader
  `projections/worker/log_reader.py` does not hand them on.)

A record is judged as of the day it was written (its Kafka timestamp): the birth-date rule
"a full date fourteen years back" must not turn a 2025 start date into a finding in 2040.
Numbers are not searched: the catalogue has no numeric field a phone could hide in
unnoticed, and counts would only bring false alarms.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any, get_args

from pydantic import BaseModel

from refnet.events.catalogue import EVENT_TYPES
from refnet.events.pii import SEPARATOR, find_pii, worth_a_look
from refnet.events.settings import Settings
from refnet.projections.worker.log_reader import log_ends, read_log
from refnet.projections.worker.projector import Record

CONTACT_TYPE = "participant.contact_recorded"
CLEAR_CONTACT = "contact details outside a ciphertext"
CONTACT_KEYS = frozenset(
    {
        "name", "first_name", "last_name", "surname", "given_name", "full_name",
        "phone", "telephone", "mobile", "email", "e_mail", "e-mail",
        "postal_address", "address", "street", "postcode", "zip",
        "birth_date", "date_of_birth", "birthday", "iban", "contact",
    }
)  # fmt: skip
# Strings with a fixed machine shape (ids, instants) are skipped unread: they are most of a
# record's strings, and the scan's rate is the time the log can be checked in.
_MACHINE = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    r"|[A-Za-z0-9_-]{86}"  # a signature
    r"|b1\.[A-Za-z0-9_-]{86}\.\d+\.\d+\.[A-Za-z0-9_-]*"  # a batch signature with its proof
    # instants and dates standing alone are structured fields (valid_from, start_date);
    # a date inside a text is still searched
    r"|\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2}))?"
)


@dataclass(frozen=True)
class ScanFinding:
    """Personal data in one place of one record: the value only ever masked."""

    partition: int
    offset: int
    event_id: str | None
    event_type: str | None
    field: str
    kind: str
    masked: str

    def as_json(self) -> dict[str, Any]:
        return {
            "partition": self.partition,
            "offset": self.offset,
            "event_id": self.event_id,
            "type": self.event_type,
            "field": self.field,
            "kind": self.kind,
            "found": self.masked,
        }


@dataclass
class ScanReport:
    """What one scan of the log read and found."""

    topic: str
    log_ends: dict[int, int]
    records: int = 0
    undecodable: int = 0
    findings: list[ScanFinding] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def clean(self) -> bool:
        return not self.findings

    @property
    def rate(self) -> float:
        """Records scanned per second, the read from the broker included."""
        return self.records / self.seconds if self.seconds > 0 else 0.0

    @property
    def records_with_findings(self) -> int:
        return len({(f.partition, f.offset) for f in self.findings})

    def as_json(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "log_ends": {str(p): end for p, end in sorted(self.log_ends.items())},
            "records": self.records,
            "undecodable": self.undecodable,
            "clean": self.clean,
            "records_with_findings": self.records_with_findings,
            "findings": [f.as_json() for f in self.findings],
            "seconds": round(self.seconds, 3),
            "events_per_second": round(self.rate, 1),
        }


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


def _field_names() -> frozenset[str]:
    names: set[str] = set()
    todo: list[type[BaseModel]] = list(EVENT_TYPES.values())
    while todo:
        model = todo.pop()
        for name, info in model.model_fields.items():
            names.add(name)
            todo += [m for m in _nested(info.annotation) if m not in todo]
    return frozenset(names - CONTACT_KEYS)


def _nested(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for a in get_args(annotation) for m in _nested(a)]


KNOWN_KEYS = _field_names()
"""The catalogue's own field names: keys that need no search."""


class _Texts:
    """The clear-text strings of one decoded record, gathered for one pass of the search."""

    def __init__(self) -> None:
        self.texts: list[tuple[str, str]] = []  # field path, text
        self.contact_keys: list[tuple[str, str]] = []  # field path, key

    def walk(self, value: Any, path: str) -> None:
        # A plain recursive walk, strings handled in place: on records of a dozen short
        # fields, calls and generators cost more than the search itself.
        if isinstance(value, str):
            self._text(value, path)
        elif isinstance(value, dict):
            for key, item in value.items():
                where = f"{path}.{key}" if path else key
                if key not in KNOWN_KEYS:
                    self._key(key, where)
                if isinstance(item, str):
                    self._text(item, where)
                elif isinstance(item, dict | list) and key != "sealed":
                    self.walk(item, where)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self.walk(item, f"{path}[{index}]")

    def _text(self, text: str, path: str) -> None:
        if worth_a_look(text) and not _MACHINE.fullmatch(text):
            self.texts.append((path, text))

    def _key(self, key: str, path: str) -> None:
        if key.lower() in CONTACT_KEYS:
            self.contact_keys.append((path, key))
        elif worth_a_look(key):
            self.texts.append((f"{path} (key)", key))


def _contact_shape_broken(document: dict[str, Any]) -> bool:
    if document.get("type") != CONTACT_TYPE:
        return False
    data = document.get("data")
    sealed = data.get("sealed") if isinstance(data, dict) else None
    return not (isinstance(data, dict) and set(data) == {"sealed"} and isinstance(sealed, dict))


def _decoded(value: bytes | None) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except (UnicodeDecodeError, ValueError):
        return None


def _written_on(record: Record) -> dt.date | None:
    """The day the record was written: a date in it is judged as of then, so a scan in
    2040 does not take a 2025 start date for a birth date."""
    if record.timestamp_ms is None or record.timestamp_ms <= 0:
        return None
    return dt.datetime.fromtimestamp(record.timestamp_ms / 1000, dt.UTC).date()


def scan_record(record: Record) -> tuple[list[ScanFinding], bool]:
    """The findings in one record, and whether its value was undecodable."""
    found: list[tuple[str, str, str]] = []  # field, kind, masked
    texts: list[tuple[str, str]] = [("key", _text(record.key))] if record.key else []
    document = _decoded(record.value)
    undecodable = record.value is not None and not isinstance(document, dict)
    event_id = event_type = None
    if isinstance(document, dict):
        event_id = document.get("event_id") if isinstance(document.get("event_id"), str) else None
        event_type = document.get("type") if isinstance(document.get("type"), str) else None
        if _contact_shape_broken(document):
            found.append(("data", CLEAR_CONTACT, "(data not sealed)"))
        walked = _Texts()
        walked.walk(document, "")
        found += [(path, CLEAR_CONTACT, f"(key {key!r})") for path, key in walked.contact_keys]
        texts += walked.texts
    elif record.value is not None:
        texts.append(("value", _text(record.value)))
    # One pass of the detectors over all of the record's texts: most of the cost of a
    # search is per call, and a record holds a dozen short strings.
    starts = list(accumulate((len(t) + 1 for _, t in texts[:-1]), initial=0))
    for finding in find_pii(SEPARATOR.join(t for _, t in texts), _written_on(record)):
        where = texts[bisect_right(starts, finding.start) - 1][0]
        found.append((where, finding.kind, finding.masked))
    findings = [
        ScanFinding(record.partition, record.offset, event_id, event_type, where, kind, shown)
        for where, kind, shown in found
    ]
    return findings, undecodable


def scan_log(
    settings: Settings,
    on_log_ends: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
    topic: str | None = None,
) -> ScanReport:
    """Scan every record of the log up to its ends when the scan starts.

    Raises LogUnavailable when the broker does not answer or the topic is missing.
    """
    started = time.perf_counter()
    name = topic or settings.topic_events
    ends = log_ends(settings, name)
    if on_log_ends is not None:
        on_log_ends(sum(ends.values()))
    report = ScanReport(topic=name, log_ends=dict(ends))
    for record in read_log(settings, ends, name, on_progress):
        findings, undecodable = scan_record(record)
        report.records += 1
        report.undecodable += undecodable
        report.findings += findings
    report.findings.sort(key=lambda f: (f.partition, f.offset))
    report.seconds = time.perf_counter() - started
    return report
