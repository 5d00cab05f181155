"""The AsyncAPI document of the Kafka log: current, complete, self-contained, true to the code.

`tests/asyncapi/validate.mjs` holds it to the official AsyncAPI parser (its npm package
pinned in its lock and installed by `make asyncapi-deps`); this module holds it to the
catalogue, the CloudEvents headers and the ACLs `refnet partners add` grants.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from refnet.events.catalogue import CURRENT_SCHEMA_VERSION, EVENT_TYPES
from refnet.events.cloudevents import HEADERS
from refnet.events.settings import Settings
from refnet.services.api.app import create_app
from refnet.services.cli.main import app as cli
from refnet.services.kafka import asyncapi as module
from refnet.services.kafka.access import partner_acls
from refnet.services.kafka.asyncapi import (
    ASYNCAPI_FILE,
    asyncapi_document,
    asyncapi_stale,
    render,
    write_asyncapi,
)

ROOT = Path(__file__).resolve().parents[2]
VALIDATOR = ROOT / "tests" / "asyncapi"
REFRESH = "run `refnet schemas export` and commit events/asyncapi.json"
Document = dict[str, Any]


def validate(*paths: Path) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    if node is None or not (VALIDATOR / "node_modules" / "@asyncapi" / "parser").is_dir():
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("node or the AsyncAPI parser is missing under CI: `make asyncapi-deps`")
        pytest.skip("the AsyncAPI parser's npm packages are not installed (`make asyncapi-deps`)")
    command = [node, str(VALIDATOR / "validate.mjs"), *map(str, paths)]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)


def refs(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        if isinstance(value.get("$ref"), str):
            yield value["$ref"]
        for item in value.values():
            yield from refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from refs(item)


def resolve(document: Document, ref: str) -> Any:
    assert ref.startswith("#/"), f"{ref} points outside the document"
    target: Any = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(target, dict) and part in target, f"{ref} does not resolve"
        target = target[part]
    return target


# ------------------------------------------------------------------ the committed file


def test_the_committed_document_is_current() -> None:
    assert not asyncapi_stale(ASYNCAPI_FILE), f"{ASYNCAPI_FILE} is stale: {REFRESH}"


def test_the_committed_document_ignores_this_machine_s_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REFNET_TOPIC_EVENTS", "elsewhere.events")
    monkeypatch.setenv("REFNET_KAFKA_SASL_BOOTSTRAP", "kafka.example:9094")

    assert not asyncapi_stale(ASYNCAPI_FILE)
    # ... while the running installation's settings do reach the served document.
    served = asyncapi_document(Settings())
    assert served["channels"]["events"]["address"] == "elsewhere.events"
    assert served["servers"]["scram"]["host"] == "kafka.example:9094"


def test_the_committed_document_passes_the_official_parser() -> None:
    done = validate(ASYNCAPI_FILE.relative_to(ROOT))

    assert done.returncode == 0, done.stderr
    assert f"checked {ASYNCAPI_FILE.relative_to(ROOT)}" in done.stdout
    assert "problem" not in done.stderr


def test_export_writes_the_asyncapi_document(tmp_path: Path) -> None:
    target = tmp_path / "asyncapi.json"

    result = CliRunner().invoke(
        cli, ["schemas", "export", str(tmp_path / "schemas"), "--asyncapi", str(target)]
    )

    assert result.exit_code == 0, result.output
    assert str(target) in result.stdout.replace("\n", "")
    assert not asyncapi_stale(target)
    assert target.read_bytes() == ASYNCAPI_FILE.read_bytes()


def test_write_then_not_stale_and_an_edit_is_stale(tmp_path: Path) -> None:
    path = write_asyncapi(tmp_path / "asyncapi.json")
    assert not asyncapi_stale(path)

    path.write_text(path.read_text().replace("refnet.events", "refnet.other", 1))

    assert asyncapi_stale(path)
    assert asyncapi_stale(tmp_path / "missing.json")


# ---------------------------------------------------------------------- the content


def test_every_event_type_has_a_message_on_the_events_channel() -> None:
    document = asyncapi_document()
    events = document["channels"]["events"]

    assert document["asyncapi"] == "3.0.0"
    assert events["address"] == Settings().topic_events
    assert set(events["messages"]) == set(EVENT_TYPES)
    assert set(document["components"]["messages"]) == set(EVENT_TYPES) | {"deadLetter"}
    for name, model in EVENT_TYPES.items():
        message = resolve(document, events["messages"][name]["$ref"])
        assert message["name"] == name
        payload = message["payload"]
        assert payload["title"] == model.__name__
        assert payload["properties"]["type"]["const"] == name
        assert payload["additionalProperties"] is False
        key = message["bindings"]["kafka"]["key"]
        assert key["pattern"] == payload["properties"]["participant_id"]["pattern"]
    published = document["operations"]["publishEvent"]["messages"]
    assert [m["$ref"].rsplit("/", 1)[-1] for m in published] == list(EVENT_TYPES)


def test_every_ref_resolves_inside_the_document() -> None:
    document = json.loads(ASYNCAPI_FILE.read_text())
    found = list(refs(document))

    assert len(found) > len(EVENT_TYPES) * 2
    for ref in found:
        resolve(document, ref)
    assert "$defs" not in json.dumps(document)
    assert '"$schema"' not in json.dumps(document)


def test_each_message_fixes_its_cloudevents_type() -> None:
    messages = asyncapi_document()["components"]["messages"]

    for name in EVENT_TYPES:
        headers = messages[name]["headers"]["properties"]
        assert list(headers) == list(HEADERS)
        assert headers["ce_type"]["const"] == f"refnet.{name}.v{CURRENT_SCHEMA_VERSION}"
        assert headers["ce_specversion"]["const"] == "1.0"
        assert headers["content-type"]["const"] == "application/json"
    dead = messages["deadLetter"]["headers"]
    assert dead["required"] == ["refnet-reason", "refnet-source"]
    assert set(dead["properties"]) == {"refnet-reason", "refnet-source", *HEADERS}
    assert "const" not in dead["properties"]["ce_type"]


def test_the_partner_acls_are_those_partners_add_grants() -> None:
    settings = Settings(topic_events="acme.events")
    operation = asyncapi_document(settings)["operations"]["publishEvent"]
    granted = partner_acls(settings, "<partner_id>")

    listed = operation["x-refnet-acls"]
    assert [(a["operation"], a["resource"]) for a in listed] == [
        (b.operation.name if isinstance(b.operation, Enum) else b.operation, b.name)
        for b in granted
    ]
    assert [a["operation"] for a in listed] == ["WRITE", "DESCRIBE"]
    assert {a["principal"] for a in listed} == {"User:<partner_id>"}
    assert {a["permission"] for a in listed} == {"ALLOW"}
    assert "ALLOW WRITE on TOPIC acme.events" in operation["description"]
    assert "ALLOW DESCRIBE on TOPIC acme.events" in operation["description"]
    assert "READ" not in operation["description"]


def test_the_dead_letters_are_read_by_service_principals_only() -> None:
    operation = asyncapi_document()["operations"]["readDeadLetters"]

    readers = {a["principal"] for a in operation["x-refnet-acls"] if a["operation"] == "READ"}
    assert operation["action"] == "receive"
    assert readers == {"User:refnet-webhooks"}
    assert {a["resource"] for a in operation["x-refnet-acls"]} == {Settings().topic_dead_letter}


def test_a_cluster_s_document_lists_each_broker_and_three_replicas() -> None:
    document = asyncapi_document(Settings(kafka_brokers=3))

    assert [s["host"] for s in document["servers"].values()] == [
        "127.0.0.1:19094",
        "127.0.0.1:19104",
        "127.0.0.1:19114",
    ]
    for channel in document["channels"].values():
        assert channel["bindings"]["kafka"]["replicas"] == 3
        assert channel["bindings"]["kafka"]["topicConfiguration"]["min.insync.replicas"] == 2


def test_two_models_defining_one_name_differently_are_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def envelope(field: type[Any]) -> type[BaseModel]:
        class Data(BaseModel):
            value: field  # type: ignore[valid-type]

        class Event(BaseModel):
            participant_id: str
            data: Data

        return Event

    One, Two = envelope(int), envelope(str)
    assert One.model_json_schema()["$defs"].keys() == Two.model_json_schema()["$defs"].keys()

    monkeypatch.setattr(module, "EVENT_TYPES", {"one": One, "two": Two})
    with pytest.raises(ValueError, match="define the schema 'Data' differently"):
        asyncapi_document()


# ------------------------------------------------------------------------ the API


async def test_the_api_serves_the_document_for_its_own_settings(tmp_path: Path) -> None:
    settings = Settings(topic_events="acme.events", topic_dead_letter="acme.dead")
    # ASGITransport runs no lifespan: no database, no broker, no KEK.
    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://refnet.test") as client:
        answer = await client.get("/asyncapi.json")
        again = await client.get("/asyncapi.json")
        openapi = (await client.get("/openapi.json")).json()

    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == asyncapi_document(settings)
    assert answer.text == render(asyncapi_document(settings)) == again.text
    assert "/asyncapi.json" not in openapi["paths"]
    served = tmp_path / "served.json"
    served.write_bytes(answer.content)
    done = validate(served)
    assert done.returncode == 0, done.stderr


# ------------------------------------------------------------- the check can fail


def _broken(document: Document, how: str) -> Document:
    broken = copy.deepcopy(document)
    if how == "missing message":
        broken["channels"]["events"]["messages"]["participant.enrolled"] = {
            "$ref": "#/components/messages/participant.enroled"
        }
    elif how == "missing schema":
        del broken["components"]["schemas"]["AgeBand"]
    elif how == "foreign message":
        broken["operations"]["publishEvent"]["messages"].append(
            {"$ref": "#/channels/deadLetters/messages/deadLetter"}
        )
    elif how == "bad payload":
        broken["components"]["messages"]["referral.sent"]["payload"]["type"] = "objekt"
    elif how == "bad binding":
        broken["channels"]["events"]["bindings"]["kafka"]["partitions"] = "12"
    return broken


@pytest.mark.parametrize(
    ("how", "named_in_problem"),
    [
        ("missing message", "participant.enroled"),
        ("missing schema", "AgeBand"),
        ("foreign message", "does not belong to the specified channel"),
        ("bad payload", "referral.sent/payload"),
        ("bad binding", "partitions"),
    ],
)
def test_the_validator_refuses_a_broken_document(
    tmp_path: Path, how: str, named_in_problem: str
) -> None:
    path = tmp_path / "broken.json"
    path.write_text(render(_broken(json.loads(ASYNCAPI_FILE.read_text()), how)))

    done = validate(path)

    assert done.returncode == 1, done.stdout
    assert "problem" in done.stderr and named_in_problem in done.stderr, done.stderr
