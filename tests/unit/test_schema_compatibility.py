"""The schema compatibility gate: today's export against every release kept in the repo.

If `test_no_release_is_broken` fails, the catalogue changed a published shape so
that events or publishers of that release would be refused. Undo the change, or give
the event type a new `schema_version` and an upcaster from the old one
(`events/upcasting.py`). A release adds its export as `events/schemas/releases/<v>/`.
"""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from refnet.events import upcasting
from refnet.events.compatibility import (
    NEEDS_VERSION,
    RELEASES,
    Finding,
    breaking_changes,
    release_dirs,
    release_findings,
)
from refnet.events.schema_export import render, write_schemas
from refnet.events.upcasting import Raw, upcast_path_exists

Schema = dict[str, Any]
Change = Callable[[Schema, Schema], object]  # mutates the old and the new copy in place

FIRST_RELEASE = RELEASES / "0.1.0"
DECLINED = ("$defs", "ReferralDeclinedData")


def released(event_type: str, release: Path = FIRST_RELEASE) -> Schema:
    document: Schema = json.loads((release / f"{event_type}.v1.json").read_text("utf-8"))
    return document


def at(document: Schema, *keys: str | int) -> Any:
    node: Any = document
    for key in keys:
        node = node[key]
    return node


# ------------------------------------------------------------------ the gate


@pytest.mark.parametrize("release", release_dirs(), ids=lambda p: p.name)
def test_no_release_is_broken(release: Path) -> None:
    findings = release_findings(release)

    assert not findings, f"breaking schema changes against {release.name}:\n" + "\n".join(
        f"  {f}" for f in findings
    )


def test_the_first_release_is_kept_with_a_readme() -> None:
    assert release_dirs()[0] == FIRST_RELEASE
    assert (FIRST_RELEASE / "README.md").is_file()
    assert (FIRST_RELEASE / "event.v1.json").is_file()


@pytest.mark.parametrize("path", sorted(FIRST_RELEASE.glob("*.json")), ids=lambda p: p.name)
def test_a_schema_does_not_break_itself(path: Path) -> None:
    document = json.loads(path.read_text("utf-8"))

    assert breaking_changes(document, copy.deepcopy(document)) == []


# ------------------------------------------------------- breaks and safe changes

BREAKS: dict[str, tuple[str, Change, list[tuple[str, str]]]] = {
    "field-removed": (
        "referral.declined",
        lambda old, new: (
            at(new, *DECLINED, "properties").pop("referral_id"),
            at(new, *DECLINED, "required").remove("referral_id"),
        ),
        [("data.referral_id", "removed")],
    ),
    "required-field-added": (
        "referral.declined",
        lambda old, new: (
            at(new, *DECLINED, "properties").update(note={"type": "string"}),
            at(new, *DECLINED, "required").append("note"),
        ),
        [("data.note", "newly required")],
    ),
    "optional-field-now-required": (
        "referral.declined",
        lambda old, new: at(new, "required").append("correlation_id"),
        [("correlation_id", "newly required")],
    ),
    "enum-value-dropped": (
        "referral.declined",
        lambda old, new: at(new, "$defs", "DeclineReason", "enum").remove("other"),
        [("data.reason", "enum lost values ['other']")],
    ),
    "type-changed": (
        "referral.declined",
        lambda old, new: at(new, *DECLINED, "properties", "referral_id").update(type="integer"),
        [("data.referral_id", "type changed from string to integer")],
    ),
    "any-of-option-lost": (
        "referral.declined",
        lambda old, new: at(new, "properties", "correlation_id", "anyOf").pop(1),
        [("correlation_id", "no longer accepts null")],
    ),
    "const-changed": (
        "referral.declined",
        lambda old, new: at(new, "properties", "type").update(
            const="referral.refused", default="referral.refused"
        ),
        [
            ("type", "const changed from 'referral.declined' to 'referral.refused'"),
            ("type", "default changed from 'referral.declined' to 'referral.refused'"),
        ],
    ),
    "additional-properties-forbidden": (
        "referral.declined",
        lambda old, new: at(old, *DECLINED).pop("additionalProperties"),
        [("data", "additional properties now forbidden")],
    ),
    "max-length-lowered": (
        "event.retracted",
        lambda old, new: at(new, "$defs", "RetractedData", "properties", "reason").update(
            maxLength=100
        ),
        [("data.reason", "maxLength lowered from 200 to 100")],
    ),
    "max-length-added": (
        "referral.declined",
        lambda old, new: at(new, *DECLINED, "properties", "referral_id").update(maxLength=50),
        [("data.referral_id", "maxLength 50 added")],
    ),
    "minimum-raised": (
        "referral.declined",
        lambda old, new: at(new, "properties", "sequence", "anyOf", 0).update(minimum=1),
        [("sequence", "minimum raised from 0 to 1")],
    ),
    "pattern-changed": (
        "referral.declined",
        lambda old, new: at(new, "properties", "site").update(pattern="^[a-z]+$"),
        [("site", "pattern changed from '^[a-z0-9][a-z0-9-]{0,62}$' to '^[a-z]+$'")],
    ),
    "format-changed": (
        "referral.declined",
        lambda old, new: at(new, "properties", "event_id").update(format="date-time"),
        [("event_id", "format changed from 'uuid' to 'date-time'")],
    ),
    "nested-object-field-removed": (
        "participant.contact_recorded",
        lambda old, new: (
            at(new, "$defs", "SealedData", "properties").pop("nonce"),
            at(new, "$defs", "SealedData", "required").remove("nonce"),
        ),
        [("data.sealed.nonce", "removed")],
    ),
    "keyword-not-compared": (
        "referral.declined",
        lambda old, new: at(new, *DECLINED).update(propertyNames={"maxLength": 20}),
        [("data", "propertyNames changed; not compared, check by hand")],
    ),
}

SAFE: dict[str, tuple[str, Change]] = {
    "optional-field-added": (
        "referral.declined",
        lambda old, new: at(new, *DECLINED, "properties").update(
            note={"anyOf": [{"type": "string"}, {"type": "null"}], "default": None}
        ),
    ),
    "optional-envelope-field-added": (
        "referral.declined",
        lambda old, new: at(new, "properties").update(trace={"type": "string"}),
    ),
    "enum-widened": (
        "referral.declined",
        lambda old, new: at(new, "$defs", "DeclineReason", "enum").append("withdrawn"),
    ),
    "required-field-now-optional": (
        "referral.declined",
        lambda old, new: at(new, *DECLINED, "required").remove("reason"),
    ),
    "type-widened": (
        "referral.declined",
        lambda old, new: at(new, *DECLINED, "properties").update(
            referral_id={
                "anyOf": [at(old, *DECLINED, "properties", "referral_id"), {"type": "null"}]
            }
        ),
    ),
    "limits-loosened": (
        "event.retracted",
        lambda old, new: at(new, "$defs", "RetractedData", "properties", "reason").update(
            maxLength=500, minLength=0
        ),
    ),
    "pattern-dropped": (
        "referral.declined",
        lambda old, new: at(new, "properties", "site").pop("pattern"),
    ),
    "additional-properties-allowed": (
        "referral.declined",
        lambda old, new: at(new, *DECLINED).update(additionalProperties=True),
    ),
    "ref-inlined": (
        "referral.declined",
        lambda old, new: at(new, "properties").update(data=copy.deepcopy(at(new, *DECLINED))),
    ),
    "def-renamed": (
        "referral.declined",
        lambda old, new: (
            at(new, "$defs").update(Reason=at(new, "$defs").pop("DeclineReason")),
            at(new, *DECLINED, "properties", "reason").update({"$ref": "#/$defs/Reason"}),
        ),
    ),
    "annotations-edited": (
        "referral.declined",
        lambda old, new: at(new, *DECLINED).update(title="Declined", description="Said no."),
    ),
}


@pytest.mark.parametrize(("event_type", "change", "expected"), BREAKS.values(), ids=BREAKS)
def test_each_kind_of_break_is_found(
    event_type: str, change: Change, expected: list[tuple[str, str]]
) -> None:
    old = released(event_type)
    new = copy.deepcopy(old)
    change(old, new)

    found = breaking_changes(old, new)

    assert found == [Finding(event_type, path, reason) for path, reason in expected]


@pytest.mark.parametrize(("event_type", "change"), SAFE.values(), ids=SAFE)
def test_safe_changes_are_not_breaks(event_type: str, change: Change) -> None:
    old = released(event_type)
    new = copy.deepcopy(old)
    change(old, new)

    assert breaking_changes(old, new) == []


def test_one_of_members_are_compared_with_their_counterpart() -> None:
    old = released("event")
    new = copy.deepcopy(old)
    at(new, "$defs", "DeclineReason", "enum").remove("other")

    assert breaking_changes(old, new, "event") == [
        Finding("event", "data.reason", "enum lost values ['other']")
    ]


def test_a_recursive_schema_is_compared_without_looping() -> None:
    node = {
        "type": "object",
        "properties": {
            "value": {"type": "string"},
            "next": {"anyOf": [{"$ref": "#/$defs/Node"}, {"type": "null"}]},
        },
    }
    old: Schema = {"$defs": {"Node": node}, "$ref": "#/$defs/Node"}
    new = copy.deepcopy(old)
    at(new, "$defs", "Node", "properties", "value").update(type="integer")

    assert breaking_changes(old, old) == []
    assert breaking_changes(old, new, "list") == [
        Finding("list", "value", "type changed from string to integer")
    ]


# ------------------------------------------------- versions, upcasters, releases


def _lift(raw: Raw) -> Raw:
    return {**raw, "schema_version": raw["schema_version"] + 1}


def _copy_release(tmp_path: Path) -> Path:
    release = tmp_path / "release"
    shutil.copytree(FIRST_RELEASE, release)
    return release


def test_a_type_removed_from_the_catalogue_is_a_break(tmp_path: Path) -> None:
    release = _copy_release(tmp_path)
    gone = released("referral.accepted")
    at(gone, "properties", "type").update(const="referral.withdrawn")
    (release / "referral.withdrawn.v1.json").write_text(render(gone), encoding="utf-8")

    assert release_findings(release) == [
        Finding("referral.withdrawn", "", "removed from the catalogue")
    ]


def test_a_break_at_the_same_version_needs_a_new_version(tmp_path: Path) -> None:
    release = _copy_release(tmp_path)
    old = released("referral.declined")
    at(old, *DECLINED, "properties").update(note={"type": "string"})  # dropped since
    (release / "referral.declined.v1.json").write_text(render(old), encoding="utf-8")

    assert release_findings(release) == [
        Finding("referral.declined", "data.note", f"removed: {NEEDS_VERSION}")
    ]


@pytest.mark.parametrize(
    ("version", "steps", "allowed"),
    [(2, [], False), (2, [1], True), (3, [1], False), (3, [2], False), (3, [1, 2], True)],
)
def test_a_break_with_a_new_version_needs_upcasters_all_the_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: int, steps: list[int], allowed: bool
) -> None:
    current = tmp_path / "current"
    write_schemas(current)
    (current / "referral.declined.v1.json").unlink()
    new = released("referral.declined")
    at(new, "properties", "schema_version").update(const=version, default=version)
    at(new, "$defs", "DeclineReason", "enum").remove("other")
    (current / f"referral.declined.v{version}.json").write_text(render(new), encoding="utf-8")
    for step in steps:  # undone after the test
        monkeypatch.setitem(upcasting._STEPS, ("referral.declined", step), _lift)

    findings = release_findings(FIRST_RELEASE, current)

    why = f"{NEEDS_VERSION} (no upcasters from version 1 to {version})"
    breaks = [("data.reason", "enum lost values ['other']")] + [
        ("schema_version", f"{key} changed from 1 to {version}") for key in ("const", "default")
    ]
    expected = [Finding("referral.declined", path, f"{r}: {why}") for path, r in breaks]
    assert findings == ([] if allowed else expected)


@pytest.mark.parametrize(
    ("start", "end", "exists"), [(0, 1, True), (1, 1, True), (0, 2, False), (1, 0, False)]
)
def test_upcast_path_exists(start: int, end: int, exists: bool) -> None:
    assert upcast_path_exists("participant.enrolled", start, end) is exists
    assert upcast_path_exists("referral.sent", start, end) is (start == end)


def test_an_empty_or_misnamed_release_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        release_findings(tmp_path)
    (tmp_path / "referral.declined.json").write_text("{}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="not a schema file name"):
        release_findings(tmp_path)
