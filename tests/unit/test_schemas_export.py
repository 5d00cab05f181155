"""The committed JSON Schemas in `refnet/events/schemas/` match the catalogue models.

If a test here fails after a change to the catalogue, refresh the export with
`refnet schemas export` (once the CLI has it) or, until then,
`python -m refnet.events.schema_export`, and commit the changed files.
"""

from __future__ import annotations

import json
from pathlib import Path

from refnet.events.catalogue import EVENT_TYPES
from refnet.events.codec import validate
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


def test_examples_satisfy_the_exported_schema_shape() -> None:
    """Spot check without a JSON Schema library: required fields match the models."""
    for event_type in EVENT_TYPES:
        document = json.loads((PACKAGE_SCHEMAS / f"{event_type}.v1.json").read_text("utf-8"))
        raw = valid_example(event_type)
        assert set(document["required"]) <= set(raw), event_type
        validate(raw)
