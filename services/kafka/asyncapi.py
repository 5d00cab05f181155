"""The AsyncAPI 3.0 document of the Kafka log, generated from the event catalogue.

`events/asyncapi.json` is this document for the default settings, committed (a unit
test fails when it no longer matches the catalogue; `refnet schemas export` refreshes
it), and the API serves it for its own settings at `GET /asyncapi.json`. Payloads are
the catalogue's JSON Schemas; the nested models they share live once in
`components.schemas`, so every `$ref` resolves inside the document and no tool has to
fetch anything. `tests/asyncapi/validate.mjs` holds it to the official AsyncAPI parser.
"""

from __future__ import annotations

import json
from enum import Enum
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from confluent_kafka.admin import AclBinding  # type: ignore[attr-defined]  # not re-exported
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

import refnet.events
from refnet.events.catalogue import CURRENT_SCHEMA_VERSION, EVENT_TYPES, Envelope
from refnet.events.cloudevents import CONTENT_TYPE, HEADERS, SPEC_VERSION, ce_type
from refnet.events.settings import Settings
from refnet.services.kafka.access import (
    PROJECTIONS_PRINCIPAL,
    WEBHOOKS_PRINCIPAL,
    partner_acls,
    projections_acls,
    webhooks_acls,
)
from refnet.services.kafka.topics import DEAD_LETTER_PARTITIONS, replication, topic_config

ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING_VERSION = "0.5.0"  # the newest the AsyncAPI 3.0 schema knows
ASYNCAPI_FILE = Path(refnet.events.__file__).resolve().parent / "asyncapi.json"
"""Where the committed document lives, beside the catalogue it is made from."""
SECURITY_SCHEME = "scram"
PARTNER = "<partner_id>"
_REF = "#/components/schemas/{model}"
_COMPONENT_NAME = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_")

DESCRIPTION = """\
The shared event log of a RefNet referral network. Partners publish signed events to
it over the SASL/SCRAM listener: one record per event, whose key is the participant's
pseudonym (`participant_id`, so one participant's events stay in order on one
partition) and whose value is the event's signed canonical JSON, byte for byte.
CloudEvents attributes travel in headers (Kafka protocol binding, binary content mode);
readers never need them, as the value says everything. The projection service parks
records it cannot apply on the dead-letter topic.
"""


class _DefaultsOnly(Settings):
    """Settings from their defaults alone: no `REFNET_*` variable of this machine leaks
    into the committed document."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def default_settings() -> Settings:
    """The settings the committed document is made for: every default, nothing else."""
    return _DefaultsOnly()


def asyncapi_document(settings: Settings | None = None) -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document of the event and dead-letter topics of `settings`."""
    settings = settings or default_settings()
    schemas: dict[str, Any] = {}
    messages = {name: _event_message(name, model, schemas) for name, model in EVENT_TYPES.items()}
    messages["deadLetter"] = _dead_letter_message(settings)
    services = (
        *projections_acls(settings, PROJECTIONS_PRINCIPAL),
        *webhooks_acls(settings, WEBHOOKS_PRINCIPAL),
    )
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "RefNet event log",
            "version": _version(),
            "description": " ".join(DESCRIPTION.split()),  # one paragraph, however wrapped
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": _servers(settings),
        "channels": {
            "events": _channel(
                settings,
                settings.topic_events,
                settings.topic_partitions,
                "The event log, the system of record: retention is unlimited.",
                list(EVENT_TYPES),
            ),
            "deadLetters": _channel(
                settings,
                settings.topic_dead_letter,
                DEAD_LETTER_PARTITIONS,
                "Records of the event log the projection service could not apply.",
                ["deadLetter"],
            ),
        },
        "operations": {
            "publishEvent": _operation(
                "Publish an event",
                "send",
                "events",
                list(EVENT_TYPES),
                "A partner appends its signed events to the log.",
                f"A partner's principal `User:{PARTNER}` may only write to and describe the "
                "event log; it reads nothing, so partners never see each other's events.",
                partner_acls(settings, PARTNER),
            )
            | {"security": [{"$ref": f"#/components/securitySchemes/{SECURITY_SCHEME}"}]},
            "readDeadLetters": _operation(
                "Read dead letters",
                "receive",
                "deadLetters",
                ["deadLetter"],
                "Only RefNet's service principals read the dead letters.",
                "The projection service writes them and the webhook worker reads them; "
                "partners have no ACL on this topic.",
                [acl for acl in services if acl.name == settings.topic_dead_letter],
            ),
        },
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "messages": messages,
            "securitySchemes": {
                SECURITY_SCHEME: {
                    "type": "scramSha512",
                    "description": "SASL/SCRAM-SHA-512: each partner logs in as its own "
                    "principal, with the password `refnet partners add` made for it.",
                }
            },
        },
    }


def render(document: dict[str, Any]) -> str:
    """The committed text: sorted keys, two-space indent, final newline (as the schemas)."""
    return json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def write_asyncapi(path: Path = ASYNCAPI_FILE) -> Path:
    """Write the document for the default settings to `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(asyncapi_document()), encoding="utf-8", newline="\n")
    return path


def asyncapi_stale(path: Path = ASYNCAPI_FILE) -> bool:
    """Whether `path` is missing or differs from the document for the default settings."""
    expected = render(asyncapi_document()).encode("utf-8")
    return not path.is_file() or path.read_bytes() != expected


# ------------------------------------------------------------------ parts


def _version() -> str:
    try:
        return version("refnet")
    except PackageNotFoundError:
        return "0+unknown"


def _servers(settings: Settings) -> dict[str, Any]:
    """One server per bootstrap address of the SCRAM listener (a cluster lists several)."""
    hosts = [host.strip() for host in settings.kafka_sasl_bootstrap.split(",") if host.strip()]
    return {
        SECURITY_SCHEME if n == 0 else f"{SECURITY_SCHEME}-{n + 1}": {
            "host": host,
            "protocol": "kafka",
            "description": "The brokers' SASL/SCRAM listener, where partners publish.",
            "security": [{"$ref": f"#/components/securitySchemes/{SECURITY_SCHEME}"}],
        }
        for n, host in enumerate(hosts)
    }


def _channel(
    settings: Settings, topic: str, partitions: int, description: str, messages: list[str]
) -> dict[str, Any]:
    config = topic_config(settings)
    return {
        "address": topic,
        "description": description,
        "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in messages},
        "bindings": {
            "kafka": {
                "partitions": partitions,
                "replicas": replication(settings)[0],
                "topicConfiguration": {
                    # The binding types these; the broker's configs are all strings.
                    "cleanup.policy": config["cleanup.policy"].split(","),
                    **{
                        k: int(v) if v.lstrip("-").isdigit() else v
                        for k, v in config.items()
                        if k != "cleanup.policy"
                    },
                },
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }


def _operation(
    title: str,
    action: str,
    channel: str,
    messages: list[str],
    summary: str,
    who: str,
    bindings: list[AclBinding],
) -> dict[str, Any]:
    """An operation whose description lists the ACLs that allow it, also in `x-refnet-acls`."""
    acls = [_acl(binding) for binding in bindings]
    lines = [
        # In backticks: a principal such as `User:<partner_id>` is no HTML tag.
        f"- `{a['principal']}`: {a['permission']} {a['operation']} on {a['resourceType']} "
        f"{a['resource']}" + ("" if a["patternType"] == "LITERAL" else f" ({a['patternType']})")
        for a in acls
    ]
    return {
        "title": title,
        "action": action,
        "channel": {"$ref": f"#/channels/{channel}"},
        "summary": summary,
        "description": "\n".join([f"{who} The ACLs:", "", *lines]),
        "messages": [{"$ref": f"#/channels/{channel}/messages/{name}"} for name in messages],
        "x-refnet-acls": acls,
    }


def _event_message(name: str, model: type[Envelope], schemas: dict[str, Any]) -> dict[str, Any]:
    payload = _collect(model.model_json_schema(mode="validation", ref_template=_REF), schemas)
    key = dict(payload["properties"]["participant_id"])
    key.pop("title", None)
    key["description"] = "the participant's pseudonym (participant_id)"
    message: dict[str, Any] = {
        "name": name,
        "title": name.replace("_", " ").replace(".", " ").capitalize(),
        "summary": f"A `{name}` event, schema version {CURRENT_SCHEMA_VERSION}: "
        "the record's value is its signed canonical JSON.",
        "contentType": CONTENT_TYPE,
        "headers": _headers(name),
        "payload": payload,
        "bindings": {"kafka": {"key": key, "bindingVersion": KAFKA_BINDING_VERSION}},
    }
    if model.__doc__:  # only a docstring of the model itself: classes do not inherit one
        message["description"] = " ".join(model.__doc__.split())
    return message


def _headers(event_type: str | None) -> dict[str, Any]:
    """The CloudEvents headers; `ce_type` is fixed for one event type, free if None."""
    fixed = {"ce_specversion": SPEC_VERSION, "content-type": CONTENT_TYPE}
    if event_type is not None:
        fixed["ce_type"] = ce_type(event_type, CURRENT_SCHEMA_VERSION)
    formats = {"ce_id": "uuid", "ce_time": "date-time"}
    properties = {
        header: {"type": "string", "description": meaning}
        | ({"const": fixed[header]} if header in fixed else {})
        | ({"format": formats[header]} if header in formats else {})
        for header, meaning in HEADERS.items()
    }
    return {
        "type": "object",
        "description": "Kafka record headers, UTF-8 text, taken from the value by whoever "
        "writes the record; a record written before they existed has none.",
        "properties": properties,
    }


def _dead_letter_message(settings: Settings) -> dict[str, Any]:
    """What `DeadLetter.record` writes: the value as it was, why, and where it came from."""
    why = {
        "refnet-reason": {"type": "string", "description": "why the record was parked"},
        "refnet-source": {
            "type": "string",
            "description": "where it came from: <topic>/<partition>/<offset>",
            "pattern": r"^.+/\d+/\d+$",
        },
    }
    headers = _headers(None)
    headers |= {
        "description": "Why and from where; and the CloudEvents headers when the value was "
        "an event's JSON.",
        "properties": why | headers["properties"],
        "required": list(why),
    }
    key = {"type": "string", "description": "the source, as refnet-source says"}
    return {
        "name": "deadLetter",
        "title": "Dead letter",
        "summary": f"A record of {settings.topic_events} that could not be applied.",
        "contentType": "application/octet-stream",
        "headers": headers,
        "payload": {
            "description": "the original record's value, bytes as received (usually an "
            "event's JSON, but possibly not JSON at all)"
        },
        "bindings": {"kafka": {"key": key, "bindingVersion": KAFKA_BINDING_VERSION}},
    }


def _collect(schema: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    """`schema` without `$defs` and `$schema`: its definitions go into `schemas`, where a
    name must always mean the same schema, since every payload's `$ref`s share them."""
    schema = {k: v for k, v in schema.items() if k != "$schema"}  # Pydantic's own dialect
    for name, definition in schema.pop("$defs", {}).items():
        if not set(name) <= _COMPONENT_NAME:
            raise ValueError(f"{name!r} is not a valid AsyncAPI component name")
        if schemas.setdefault(name, definition) != definition:
            raise ValueError(f"two event models define the schema {name!r} differently")
    return schema


def _acl(binding: AclBinding) -> dict[str, str]:
    """One ACL in words: the client makes a binding's fields enums, named as Kafka names them."""
    fields = {
        "permission": binding.permission_type,
        "operation": binding.operation,
        "resourceType": binding.restype,
        "patternType": binding.resource_pattern_type,
    }
    words = {k: v.name if isinstance(v, Enum) else str(v) for k, v in fields.items()}
    return {"principal": binding.principal, **words, "resource": binding.name, "host": binding.host}
