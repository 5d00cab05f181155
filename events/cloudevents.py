"""CloudEvents on every record: the Kafka protocol binding, binary content mode.

A record's value stays the signed canonical JSON of the event, byte for byte, so
signatures and `audit verify` are untouched; the CloudEvents attributes travel in
headers (`ce_*` and `content-type`), where standard tooling (the CloudEvents SDKs,
`kcat -f '%h'`, Kafka UIs) reads them without parsing the value. Readers never need
the headers: records written before them are read exactly as before.

The attributes are taken from the value itself, so whoever writes a record (the
publisher, the API's gateway, the dead-letter path, a restore) gives it the same
headers, and a record cannot carry attributes its signed value contradicts.
"""

from __future__ import annotations

from typing import Any

import orjson

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"
TYPE_PREFIX = "refnet."
SOURCE_PREFIX = "/partners/"

Headers = list[tuple[str, bytes]]

# The headers, in the order they are written, and what each holds (for the AsyncAPI
# document and the partner's guide).
HEADERS: dict[str, str] = {
    "ce_specversion": f"CloudEvents version: always {SPEC_VERSION}",
    "ce_id": "the event's event_id (a UUID)",
    "ce_source": f"the publishing partner: {SOURCE_PREFIX}<partner_id>",
    "ce_type": f"the event type and schema version: {TYPE_PREFIX}<type>.v<schema_version>",
    "ce_time": "when it occurred: occurred_at as the value writes it (RFC 3339, UTC)",
    "ce_subject": "the participant's pseudonym (participant_id), also the record's key",
    "content-type": f"the value's media type: always {CONTENT_TYPE}",
}


def ce_type(event_type: str, schema_version: int) -> str:
    """`participant.enrolled`, 1 -> `refnet.participant.enrolled.v1`."""
    return f"{TYPE_PREFIX}{event_type}.v{schema_version}"


def headers_of_value(value: bytes) -> Headers:
    """The CloudEvents headers of a record whose value is `value`; none when the value
    is not an event's JSON (a poison record keeps only what its writer adds)."""
    try:
        raw: Any = orjson.loads(value)
    except orjson.JSONDecodeError:
        return []
    if not isinstance(raw, dict):
        return []
    fields = (raw.get(name) for name in ("event_id", "partner_id", "type", "occurred_at"))
    event_id, partner_id, event_type, occurred_at = fields
    subject, version = raw.get("participant_id"), raw.get("schema_version")
    texts = (event_id, partner_id, event_type, occurred_at, subject)
    if not all(isinstance(t, str) and t for t in texts) or type(version) is not int:
        return []
    return _headers(
        str(event_id),
        str(partner_id),
        ce_type(str(event_type), version),
        str(occurred_at),  # as the canonical JSON writes it: RFC 3339, UTC
        str(subject),
    )


def _headers(event_id: str, partner_id: str, type_: str, time: str, subject: str) -> Headers:
    return [
        ("ce_specversion", SPEC_VERSION.encode()),
        ("ce_id", event_id.encode()),
        ("ce_source", f"{SOURCE_PREFIX}{partner_id}".encode()),
        ("ce_type", type_.encode()),
        ("ce_time", time.encode()),
        ("ce_subject", subject.encode()),
        ("content-type", CONTENT_TYPE.encode()),
    ]
