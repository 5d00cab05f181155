"""Schema compatibility: what in a new JSON Schema of an event type breaks the old one.

Stored events are never rewritten, and partners keep publishing what they were
written against, so a new schema must accept every event its old schema accepted
and keep every property. A change that does not is allowed only with a new
`schema_version` and upcasters from the old one (`upcasting.py`): readers upcast
old events before validating them. `release_findings` holds the current export
to that against a release's schemas kept in `events/schemas/releases/<version>/`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from refnet.events.schema_export import PACKAGE_SCHEMAS, UNION_NAME, schema_documents
from refnet.events.upcasting import upcast_path_exists

Schema = dict[str, Any]
Problem = tuple[str, str]  # (path, reason)
_Seen = frozenset[tuple[str, str]]  # pairs of old and new `$ref`s being compared

RELEASES = PACKAGE_SCHEMAS / "releases"
"""One folder per release, named by its version, holding that release's `*.json` export."""
NEEDS_VERSION = "needs a new schema_version and its upcaster"

# Keywords that only describe: changing them rejects no event.
_ANNOTATIONS = frozenset(
    {"$schema", "$id", "$comment", "$defs", "definitions", "title", "description"}
    | {"examples", "deprecated", "readOnly", "writeOnly", "discriminator"}
)
_LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
_UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")
# No cheap way to tell whether a new pattern or format accepts all the old one did.
_ANY_CHANGE = ("pattern", "format", "multipleOf")
_COMPARED = frozenset(
    {"type", "enum", "const", "default", "properties", "required", "additionalProperties"}
    | {"items", *_LOWER_BOUNDS, *_UPPER_BOUNDS, *_ANY_CHANGE}
)
# bool before int: True is an int to Python.
_JSON_TYPES: list[tuple[type[Any], str]] = [(bool, "boolean"), (int, "integer"), (float, "number")]
_JSON_TYPES += [(str, "string"), (list, "array"), (dict, "object")]
_FILE_NAME = re.compile(r"^(?P<type>.+)\.v(?P<version>\d+)\.json$")
_RELEASE_NAME = re.compile(r"^\d+(\.\d+)*$")


@dataclass(frozen=True)
class Finding:
    """One change that breaks events or publishers written against the old schema."""

    event_type: str
    path: str  # dotted path into the event such as `data.reason`; "" is the event itself
    reason: str

    def __str__(self) -> str:
        where = f"{self.event_type} {self.path}" if self.path else self.event_type
        return f"{where}: {self.reason}"


def breaking_changes(old: Schema, new: Schema, event_type: str | None = None) -> list[Finding]:
    """What in `new` breaks `old`, two JSON Schemas of one event type (each with its `$defs`)."""
    typed = old.get("properties", {}).get("type", {}).get("const", old.get("title", ""))
    name = event_type if event_type is not None else str(typed)
    problems = _Walk(old, new).compare(old, new, "", frozenset())
    return [Finding(name, path, reason) for path, reason in problems]


def release_findings(release_dir: Path, current_dir: Path | None = None) -> list[Finding]:
    """Breaks between the schemas in `release_dir` and the current export, not allowed.

    The current export is `schema_documents()`, or the `*.json` files in `current_dir`.
    A break is allowed when the type's `schema_version` grew and upcasters lift it.
    """
    released = _by_type(_read_dir(release_dir))
    if not released:
        raise FileNotFoundError(f"no released schemas in {release_dir}")
    current = _by_type(schema_documents() if current_dir is None else _read_dir(current_dir))
    findings: list[Finding] = []
    for event_type, (old_version, old) in sorted(released.items()):
        if event_type == UNION_NAME:
            continue  # made of the per-type schemas, each compared on its own
        if event_type not in current:
            findings.append(Finding(event_type, "", "removed from the catalogue"))
            continue
        new_version, new = current[event_type]
        breaks = breaking_changes(old, new, event_type)
        if not breaks:
            continue
        bumped = new_version > old_version
        if bumped and upcast_path_exists(event_type, old_version, new_version):
            continue
        why = NEEDS_VERSION
        if bumped:
            why += f" (no upcasters from version {old_version} to {new_version})"
        findings.extend(replace(f, reason=f"{f.reason}: {why}") for f in breaks)
    return findings


def release_dirs(releases: Path = RELEASES) -> list[Path]:
    """The release folders under `releases`, oldest version first."""
    found = [p for p in releases.iterdir() if p.is_dir() and _RELEASE_NAME.match(p.name)]
    return sorted(found, key=lambda p: tuple(int(part) for part in p.name.split(".")))


# ------------------------------------------------------------------ the walk


class _Walk:
    """Compares two schemas node by node, each resolving `$ref`s in its own document."""

    def __init__(self, old_root: Schema, new_root: Schema) -> None:
        self.old_root = old_root
        self.new_root = new_root

    def compare(self, old: Any, new: Any, path: str, seen: _Seen) -> list[Problem]:
        old_branches = _branches(old, self.old_root)
        new_branches = _branches(new, self.new_root)
        problems: list[Problem] = []
        # Each old alternative must be accepted by some new one: report the closest.
        for branch, old_ref in old_branches:
            results: list[list[Problem]] = []
            for candidate, new_ref in new_branches:
                if not _takes(_kind(candidate), _kind(branch)):
                    continue
                pair = (old_ref, new_ref)
                if old_ref and new_ref and pair in seen:
                    results.append([])  # a recursive schema: this pair is compared further up
                else:
                    results.append(self._branch(branch, candidate, path, seen | {pair}))
            if results:
                closest: list[Problem] = min(results, key=len)
                problems += closest
            else:
                problems.append((path, _lost(_kind(branch), len(old_branches), new_branches)))
        return list(dict.fromkeys(problems))

    def _branch(self, old: Schema, new: Schema, path: str, seen: _Seen) -> list[Problem]:
        problems = _values(old, new, path) + _bounds(old, new, path)
        if _kind(old) == "object":
            problems += self._object(old, new, path, seen)
        elif _kind(old) == "array":
            problems += self._array(old, new, path, seen)
        if "default" in old and "default" in new and not _same(old["default"], new["default"]):
            # Readers fill a missing field with the default: old events would read differently.
            problems.append(
                (path, f"default changed from {old['default']!r} to {new['default']!r}")
            )
        for key in sorted(new.keys() - _ANNOTATIONS - _COMPARED):
            if key not in old or not _same(old[key], new[key]):
                problems.append((path, f"{key} changed; not compared, check by hand"))
        return problems

    def _object(self, old: Schema, new: Schema, path: str, seen: _Seen) -> list[Problem]:
        problems: list[Problem] = []
        old_props: Schema = old.get("properties", {})
        new_props: Schema = new.get("properties", {})
        old_extra = old.get("additionalProperties", True)
        new_extra = new.get("additionalProperties", True)
        for name in sorted(old_props.keys() | new_props.keys()):
            if name not in new_props:
                problems.append((_join(path, name), "removed"))
            elif name in old_props:
                problems += self.compare(old_props[name], new_props[name], _join(path, name), seen)
            elif old_extra is not False:
                # Old events may carry this name already, with what the old extras allowed.
                problems += self.compare(old_extra, new_props[name], _join(path, name), seen)
        for name in sorted(set(new.get("required", [])) - set(old.get("required", []))):
            problems.append((_join(path, name), "newly required"))
        if old_extra is not False and new_extra is False:
            problems.append((path, "additional properties now forbidden"))
        elif old_extra is not False:
            problems += self.compare(old_extra, new_extra, _join(path, "*"), seen)
        return problems

    def _array(self, old: Schema, new: Schema, path: str, seen: _Seen) -> list[Problem]:
        if "items" not in old and "items" not in new:
            return []  # (`prefixItems`, tuples, is left to the keyword check)
        return self.compare(old.get("items", True), new.get("items", True), f"{path}[]", seen)


def _values(old: Schema, new: Schema, path: str) -> list[Problem]:
    old_values, new_values = _allowed(old), _allowed(new)
    if new_values is None:
        return []
    if old_values is None:
        return [(path, f"now restricted to {new_values!r}")]
    lost = [v for v in old_values if not any(_same(v, w) for w in new_values)]
    if not lost:
        return []
    if "const" in old and "const" in new:
        return [(path, f"const changed from {old['const']!r} to {new['const']!r}")]
    return [(path, f"enum lost values {lost!r}")]


def _bounds(old: Schema, new: Schema, path: str) -> list[Problem]:
    problems: list[Problem] = []
    for key in (*_LOWER_BOUNDS, *_UPPER_BOUNDS, *_ANY_CHANGE):
        if key not in new or (key in old and _same(old[key], new[key])):
            continue
        if key not in old:
            problems.append((path, f"{key} {new[key]!r} added"))
        elif key in _ANY_CHANGE:
            problems.append((path, f"{key} changed from {old[key]!r} to {new[key]!r}"))
        elif key in _LOWER_BOUNDS and new[key] > old[key]:
            problems.append((path, f"{key} raised from {old[key]!r} to {new[key]!r}"))
        elif key in _UPPER_BOUNDS and new[key] < old[key]:
            problems.append((path, f"{key} lowered from {old[key]!r} to {new[key]!r}"))
    return problems


def _lost(kind: str, old_count: int, new_branches: list[tuple[Schema, str]]) -> str:
    kinds = sorted({_kind(b) for b, _ in new_branches})
    if not kinds:
        return "now accepts nothing"
    if kind == "any":
        return f"now restricted to type {' or '.join(kinds)}"
    if old_count == 1 and len(kinds) == 1:
        return f"type changed from {kind} to {kinds[0]}"
    return f"no longer accepts {kind}"


def _branches(node: Any, root: Schema, ref: str = "") -> list[tuple[Schema, str]]:
    """The alternatives a node accepts, `$ref`s resolved, each with the last `$ref` followed."""
    if node is False:
        return []
    if not isinstance(node, dict):
        return [({}, ref)]  # `true`: anything
    if isinstance(node.get("$ref"), str) and node["$ref"].startswith("#"):
        ref = node["$ref"]
    node = _resolve(node, root)
    for member in node.get("allOf", []):  # approximated: the node's own keywords win
        rest = {k: v for k, v in node.items() if k != "allOf"}
        node = {**_resolve(member, root), **rest} if isinstance(member, dict) else rest
    for key in ("anyOf", "oneOf"):
        if key in node:
            rest = {k: v for k, v in node.items() if k != key}
            out: list[tuple[Schema, str]] = []
            for member in node[key]:
                for branch, member_ref in _branches(member, root, ref):
                    out += _branches({**rest, **branch}, root, member_ref)
            return out
    if isinstance(node.get("type"), list):
        return [({**node, "type": t}, ref) for t in node["type"]]
    values = _allowed(node)
    if "type" not in node and values:
        kinds = dict.fromkeys(_json_type(v) for v in values)
        return [
            ({**node, "type": k, "enum": [v for v in values if _json_type(v) == k]}, ref)
            for k in kinds
        ]
    return [(node, ref)]


def _resolve(node: Schema, root: Schema) -> Schema:
    followed: set[str] = set()
    while isinstance(node.get("$ref"), str) and node["$ref"].startswith("#"):
        ref = node["$ref"]
        if ref in followed:
            raise ValueError(f"$ref loop at {ref}")
        followed.add(ref)
        target: Any = root
        try:
            for part in ref[1:].split("/")[1:]:
                key = part.replace("~1", "/").replace("~0", "~")
                target = target[int(key)] if isinstance(target, list) else target[key]
        except (KeyError, IndexError, ValueError, TypeError):
            raise ValueError(f"unresolvable $ref {ref}") from None
        # Keywords beside a $ref apply as well (2020-12); they win on a clash here.
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node  # a $ref to another document stays: compared as a keyword


def _allowed(node: Schema) -> list[Any] | None:
    if "const" in node:
        return [node["const"]]
    enum = node.get("enum")
    return list(enum) if isinstance(enum, list) else None


def _kind(node: Schema) -> str:
    return node["type"] if isinstance(node.get("type"), str) else "any"


def _takes(new_kind: str, old_kind: str) -> bool:
    return new_kind in (old_kind, "any") or (old_kind, new_kind) == ("integer", "number")


def _json_type(value: Any) -> str:
    return next((k for t, k in _JSON_TYPES if isinstance(value, t)), "null")


def _same(a: Any, b: Any) -> bool:
    # `==` alone takes True for 1; JSON does not.
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _read_dir(directory: Path) -> dict[str, Schema]:
    paths = sorted(directory.glob("*.json")) if directory.is_dir() else []
    return {p.name: json.loads(p.read_text(encoding="utf-8")) for p in paths}


def _by_type(documents: dict[str, Schema]) -> dict[str, tuple[int, Schema]]:
    """Documents by event type, with their `schema_version` (the const, else the file name's)."""
    typed: dict[str, tuple[int, Schema]] = {}
    for name, document in documents.items():
        match = _FILE_NAME.match(name)
        if match is None:
            raise ValueError(f"{name}: not a schema file name such as `referral.sent.v1.json`")
        if match["type"] in typed:
            raise ValueError(f"{name}: a second schema of {match['type']}")
        version = document.get("properties", {}).get("schema_version", {})
        const = _resolve(version, document).get("const") if isinstance(version, dict) else None
        number = const if type(const) is int else int(match["version"])
        typed[match["type"]] = (number, document)
    return typed
