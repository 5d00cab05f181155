"""The committed JSON Schemas in `refnet/events/schemas/` match the catalogue models.

If a test here fails after a change to the catalogue, refresh the export with
`refnet schemas export` (once the CLI has it) or, until then,
`python -m refnet.events.schema_export`, and commit the changed files.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from refnet.events.catalogue import EVENT_TYPES
from refnet.events.codec import validate
from refnet.events.errors import EventInvalid
from refnet.events.schema_export import (
    PACKAGE_SCHEMAS,
    schema_documents,
    stale_schemas,
    write_schemas,
)
from tests.unit.examples import valid_example

REFRESH = "refresh with `python -m refnet.events.schema_export` (later `refnet schemas export`)"


def test_committed_schemas_are_current() -> None:
    stale = stale_schemas(PACKAGE_SCHEMAS)

    assert not stale, f"stale JSON Schemas in {PACKAGE_SCHEMAS}: {stale}; {REFRESH}"


def test_one_schema_per_event_type_and_one_for_the_union() -> None:
    names = set(schema_documents())

    assert names == {f"{t}.v1.json" for t in EVENT_TYPES} | {"event.v1.json"}


def test_union_schema_discriminates_on_type() -> None:
    union = schema_documents()["event.v1.json"]

    assert union["discriminator"]["propertyName"] == "type"
    assert set(union["discriminator"]["mapping"]) == set(EVENT_TYPES)
    assert len(union["oneOf"]) == len(EVENT_TYPES)


def test_schemas_forbid_unknown_fields() -> None:
    for name, document in schema_documents().items():
        if name == "event.v1.json":
            continue
        assert document["additionalProperties"] is False, name
        data_ref = document["properties"]["data"]["$ref"].rsplit("/", 1)[-1]
        assert document["$defs"][data_ref]["additionalProperties"] is False, name


def test_write_then_nothing_is_stale(tmp_path: Path) -> None:
    written = write_schemas(tmp_path)

    assert sorted(p.name for p in written) == sorted(schema_documents())
    assert stale_schemas(tmp_path) == []
    text = written[0].read_text(encoding="utf-8")
    assert text.endswith("}\n")
    assert text.startswith('{\n  "$defs"')


def test_changed_missing_and_extra_files_are_stale(tmp_path: Path) -> None:
    write_schemas(tmp_path)
    changed = tmp_path / "referral.sent.v1.json"
    changed.write_text(changed.read_text(encoding="utf-8").rstrip("\n"), encoding="utf-8")
    (tmp_path / "training.started.v1.json").unlink()
    (tmp_path / "participant.deleted.v1.json").write_text("{}\n", encoding="utf-8")
    (tmp_path / "__init__.py").write_text("", encoding="utf-8")

    assert stale_schemas(tmp_path) == [
        "participant.deleted.v1.json",
        "referral.sent.v1.json",
        "training.started.v1.json",
    ]

    write_schemas(tmp_path)
    assert stale_schemas(tmp_path) == []
    assert (tmp_path / "__init__.py").exists()


def test_missing_directory_lists_everything(tmp_path: Path) -> None:
    assert stale_schemas(tmp_path / "absent") == sorted(schema_documents())


def _validator(name: str) -> Draft202012Validator:
    document = json.loads((PACKAGE_SCHEMAS / name).read_text("utf-8"))
    Draft202012Validator.check_schema(document)
    return Draft202012Validator(document, format_checker=Draft202012Validator.FORMAT_CHECKER)


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_examples_are_valid_under_their_exported_schema_and_the_union(event_type: str) -> None:
    raw = valid_example(event_type)
    validate(raw)  # the model accepts it ...
    for name in (f"{event_type}.v1.json", "event.v1.json"):  # ... and so does what partners get
        errors = [e.message for e in _validator(name).iter_errors(raw)]
        assert errors == [], (name, errors)


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_the_exported_schema_refuses_what_the_model_refuses(event_type: str) -> None:
    for broken in (
        valid_example(event_type) | {"site": "Not A Slug"},
        valid_example(event_type) | {"unexpected": 1},
        {k: v for k, v in valid_example(event_type).items() if k != "participant_id"},
    ):
        with pytest.raises(EventInvalid):
            validate(broken)
        assert list(_validator(f"{event_type}.v1.json").iter_errors(broken)), broken
