"""Dependencies point one way: events ← projections ← services, and inside each floor too.

Read from the source with `ast`, so a wrong arrow fails here before it is run:

- `events` imports neither `projections` nor `services`; `projections` never imports `services`;
- inside `projections`: fold ← store ← worker ← audit (a room imports only rooms before it);
- inside `services`: only `cli` imports `cli` or `localstack`, and `localstack` only
  what production also uses.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FLOORS = ("events", "projections", "services")
PROJECTION_ROOMS = ("fold", "store", "worker", "audit")
PRIVATE_ROOMS = ("cli", "localstack")


def modules() -> Iterator[tuple[str, Path]]:
    for floor in FLOORS:
        for path in sorted((ROOT / floor).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            yield ".".join(("refnet", *parts)).removesuffix(".__init__"), path


def imported(path: Path) -> set[str]:
    """Every `refnet.…` module a file imports (at any depth: a lazy import counts too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("refnet.")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("refnet."):
            assert node.module is not None
            found |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return found


def wrong_arrow(module: str, target: str) -> str | None:
    """Why `module` may not import `target`, or None when it may."""
    floor, target_floor = module.split(".")[1], target.split(".")[1]
    if FLOORS.index(target_floor) > FLOORS.index(floor):
        return f"{floor} may not import {target_floor}"
    if floor == target_floor == "projections":
        room, target_room = _room(module), _room(target)
        if room in PROJECTION_ROOMS and target_room in PROJECTION_ROOMS:
            if PROJECTION_ROOMS.index(target_room) > PROJECTION_ROOMS.index(room):
                return f"projections.{room} may not import projections.{target_room}"
    if floor == target_floor == "services":
        room, target_room = _room(module), _room(target)
        if target_room in PRIVATE_ROOMS and room != "cli" and room != target_room:
            return f"only services.cli may import services.{target_room}"
    return None


def _room(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if len(parts) > 3 else None


def test_every_import_points_the_right_way() -> None:
    wrong = [
        f"{module} imports {target}: {why}"
        for module, path in modules()
        for target in sorted(imported(path))
        if (why := wrong_arrow(module, target)) is not None
    ]
    assert wrong == []


@pytest.mark.parametrize(
    ("module", "target", "allowed"),
    [
        ("refnet.events.publisher", "refnet.projections.store.database", False),
        ("refnet.projections.store.outcomes", "refnet.services.registry.keys", False),
        ("refnet.projections.fold.rules", "refnet.projections.store.views", False),
        ("refnet.projections.audit.replay", "refnet.projections.worker.projector", True),
        ("refnet.services.archive.restore", "refnet.services.localstack.process", False),
        ("refnet.services.cli.stack", "refnet.services.localstack.stack", True),
        ("refnet.services.localstack.stack", "refnet.services.kafka.topics", True),
    ],
)
def test_the_rule_itself(module: str, target: str, allowed: bool) -> None:
    assert (wrong_arrow(module, target) is None) is allowed
