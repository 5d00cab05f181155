"""JSON Schema export of the event catalogue, for publishers that do not use Python.

The files in `refnet/events/schemas/` are generated from the Pydantic models and
committed; a unit test fails when they no longer match the models.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from refnet.events.catalogue import CURRENT_SCHEMA_VERSION, EVENT_TYPES, Event, EventModel

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
UNION_NAME = "event"
PACKAGE_SCHEMAS = Path(__file__).resolve().parent / "schemas"
"""Where the committed export lives (package data of `refnet.events.schemas`)."""


def schema_file_name(name: str) -> str:
    """`participant.enrolled` -> `participant.enrolled.v1.json` (current version)."""
    return f"{name}.v{CURRENT_SCHEMA_VERSION}.json"


def schema_documents() -> dict[str, dict[str, Any]]:
    """One JSON Schema per event type plus one for the union, keyed by file name."""
    documents: dict[str, dict[str, Any]] = {}
    for event_type, model in sorted(EVENT_TYPES.items()):
        documents[schema_file_name(event_type)] = _with_dialect(
            model.model_json_schema(mode="validation")
        )
    union: TypeAdapter[EventModel] = TypeAdapter(Event)
    documents[schema_file_name(UNION_NAME)] = _with_dialect(union.json_schema(mode="validation"))
    return documents


def render(document: dict[str, Any]) -> str:
    """The committed text of one schema: sorted keys, two-space indent, final newline."""
    return json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def write_schemas(directory: Path) -> list[Path]:
    """Write every schema into `directory` and remove `*.json` files no longer exported.

    Other files (such as the package's `__init__.py`) are left alone.
    """
    directory.mkdir(parents=True, exist_ok=True)
    documents = schema_documents()
    for orphan in sorted(directory.glob("*.json")):
        if orphan.name not in documents:
            orphan.unlink()
    written: list[Path] = []
    for name, document in sorted(documents.items()):
        path = directory / name
        path.write_text(render(document), encoding="utf-8", newline="\n")
        written.append(path)
    return written


def stale_schemas(directory: Path) -> list[str]:
    """Names of schema files in `directory` that differ from the models, are missing or extra."""
    expected = {name: render(document) for name, document in schema_documents().items()}
    present = {path.name: path for path in directory.glob("*.json")} if directory.is_dir() else {}
    stale: list[str] = []
    for name in sorted(expected.keys() | present.keys()):
        path = present.get(name)
        if path is None or name not in expected:
            stale.append(name)
        elif path.read_bytes() != expected[name].encode("utf-8"):
            stale.append(name)
    return stale


def _with_dialect(schema: dict[str, Any]) -> dict[str, Any]:
    return {"$schema": JSON_SCHEMA_DIALECT, **schema}


def main(argv: list[str]) -> int:
    """`python -m refnet.events.schema_export [DIRECTORY]`: refresh the export."""
    directory = Path(argv[0]) if argv else PACKAGE_SCHEMAS
    for path in write_schemas(directory):
        sys.stdout.write(f"wrote {path}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
