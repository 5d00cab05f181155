"""Comparing the live read model with a replay of the log, table by table.

Pure: both sides come in as rows keyed by `TABLE_KEYS`; times are compared as
the database stores them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from refnet.projections.audit.findings import Finding, jsonable
from refnet.projections.audit.replay import Replay
from refnet.projections.fold.rows import RejectionRow
from refnet.projections.store.schema import TABLE_KEYS, TIME_COLUMNS

# ------------------------------------------------------ comparing the tables

Row = dict[str, Any]


@dataclass(frozen=True)
class RowDifference:
    key: tuple[Any, ...]
    columns: dict[str, tuple[Any, Any]]  # column -> (live, replay)


@dataclass(frozen=True)
class TableComparison:
    table: str
    key_columns: tuple[str, ...]
    live_rows: int
    replay_rows: int
    only_live: list[Row]
    only_replay: list[Row]
    differing: list[RowDifference]

    @property
    def equal(self) -> bool:
        return not (self.only_live or self.only_replay or self.differing)

    def findings(self) -> list[Finding]:
        kind = f"table {self.table}"
        found = [
            Finding(
                kind, f"{self.table}: only in the live model: {self._key(r)}", detail={"row": r}
            )
            for r in self.only_live
        ]
        found += [
            Finding(kind, f"{self.table}: only in the replay: {self._key(r)}", detail={"row": r})
            for r in self.only_replay
        ]
        for diff in self.differing:
            changes = "; ".join(
                f"{column}: live {_show(live)}, replay {_show(replay)}"
                for column, (live, replay) in diff.columns.items()
            )
            key = ", ".join(f"{c}={v}" for c, v in zip(self.key_columns, diff.key, strict=True))
            columns = {c: {"live": lv, "replay": rv} for c, (lv, rv) in diff.columns.items()}
            found.append(
                Finding(
                    kind,
                    f"{self.table}: row {key} differs: {changes}",
                    detail={"key": dict(zip(self.key_columns, diff.key, strict=True))}
                    | {"columns": columns},
                )
            )
        return found

    def _key(self, row: Row) -> str:
        return ", ".join(f"{c}={row.get(c)}" for c in self.key_columns)


_SHOWN = 160  # characters of a value shown in a message; the JSON report has all of it


def _show(value: Any) -> str:
    text = repr(jsonable(value)) if not isinstance(value, str) else repr(value)
    return text if len(text) <= _SHOWN else f"{text[:_SHOWN]}... ({len(text)} characters)"


def compare_table(
    table: str, key_columns: Sequence[str], live: Iterable[Row], replay: Iterable[Row]
) -> TableComparison:
    """Rows only in `live`, only in `replay`, and rows under one key whose columns differ."""
    keys = tuple(key_columns)
    live_by = {tuple(r.get(c) for c in keys): r for r in live}
    replay_by = {tuple(r.get(c) for c in keys): r for r in replay}
    differing: list[RowDifference] = []
    for key in sorted(live_by.keys() & replay_by.keys(), key=repr):
        a, b = live_by[key], replay_by[key]
        changed = {
            c: (a.get(c), b.get(c)) for c in sorted(a.keys() | b.keys()) if a.get(c) != b.get(c)
        }
        if changed:
            differing.append(RowDifference(key, changed))
    return TableComparison(
        table,
        keys,
        len(live_by),
        len(replay_by),
        [live_by[k] for k in sorted(live_by.keys() - replay_by.keys(), key=repr)],
        [replay_by[k] for k in sorted(replay_by.keys() - live_by.keys(), key=repr)],
        differing,
    )


def compare_tables(
    live: Mapping[str, list[Row]], replay: Mapping[str, list[Row]]
) -> list[TableComparison]:
    """Every table of TABLE_KEYS compared; a table missing on one side counts as empty."""
    return [
        compare_table(table, keys, live.get(table, []), replay.get(table, []))
        for table, keys in TABLE_KEYS.items()
    ]


class PartwiseComparison:
    """`compare_tables` with the replay's rows coming a part of the log at a time, each
    part's rows dropped once compared; the comparisons are those of `compare_tables` over
    all parts' rows, since no row key is in two parts (each names a participant, or an
    event id kept once, or a log position)."""

    def __init__(self, live: Mapping[str, list[Row]]) -> None:
        self._live: dict[str, dict[tuple[Any, ...], Row]] = {
            table: {tuple(r.get(c) for c in keys): r for r in live.get(table, [])}
            for table, keys in TABLE_KEYS.items()
        }
        self._live_rows = {table: len(rows) for table, rows in self._live.items()}
        self._replay_rows = dict.fromkeys(TABLE_KEYS, 0)
        self._only_replay: dict[str, list[tuple[tuple[Any, ...], Row]]] = {
            t: [] for t in TABLE_KEYS
        }
        self._differing: dict[str, list[RowDifference]] = {t: [] for t in TABLE_KEYS}

    def add(self, replay: Mapping[str, list[Row]]) -> None:
        """Compare one part's rows (as `replay_tables` gives them)."""
        for table, keys in TABLE_KEYS.items():
            live_by = self._live[table]
            replay_by = {tuple(r.get(c) for c in keys): r for r in replay.get(table, [])}
            self._replay_rows[table] += len(replay_by)
            for key, b in replay_by.items():
                a = live_by.pop(key, None)  # what is left at the end is only in the live model
                if a is None:
                    self._only_replay[table].append((key, b))
                    continue
                changed = {
                    c: (a.get(c), b.get(c))
                    for c in sorted(a.keys() | b.keys())
                    if a.get(c) != b.get(c)
                }
                if changed:
                    self._differing[table].append(RowDifference(key, changed))

    def comparisons(self) -> list[TableComparison]:
        """Every table of TABLE_KEYS, ordered as `compare_table` orders its findings."""
        return [
            TableComparison(
                table,
                tuple(keys),
                self._live_rows[table],
                self._replay_rows[table],
                [r for _, r in sorted(self._live[table].items(), key=lambda kv: repr(kv[0]))],
                [r for _, r in sorted(self._only_replay[table], key=lambda kv: repr(kv[0]))],
                sorted(self._differing[table], key=lambda d: repr(d.key)),
            )
            for table, keys in TABLE_KEYS.items()
        ]


def _as_stored(row: Row) -> Row:
    """A fold row with its times as the timestamptz values the database returns."""
    return {
        c: datetime.fromisoformat(v) if c in TIME_COLUMNS and isinstance(v, str) else v
        for c, v in row.items()
    }


def replay_tables(
    replay: Replay, rejections: Iterable[RejectionRow] | None = None
) -> dict[str, list[Row]]:
    """The replay's rows in the live model's shape and value types; `rejections` instead
    of the replay's stored ones when a part of a longer fold is given."""
    tables: dict[str, list[Row]] = {t: [] for t in TABLE_KEYS}
    for state in replay.states.values():
        # The store writes a state once an event was applied or rejected: every replayed one.
        tables["participant_state"].append(
            {"participant_id": state.participant_id, "facts": json.loads(state.to_json())}
        )
    for rows in replay.rows():
        derived = [rows.participant, *rows.referrals, *rows.trainings, *rows.links]
        derived += [*([rows.contact] if rows.contact else []), *rows.consents]
        for row in derived:
            tables[row.TABLE].append(
                _as_stored(dict(zip(row.columns(), row.values(), strict=True)))
            )
    for rejection in replay.stored_rejections() if rejections is None else rejections:
        values = dict(zip(rejection.columns(), rejection.values(), strict=True))
        tables["rejections"].append(_as_stored(values))
    tables["dead_letters"] = [
        {
            "partition": d.position.partition,
            "offset": d.position.offset,
            "event_id": d.event_id,
            "reason": d.reason,
        }
        for d in replay.dead_letters
    ]
    return tables


def live_tables(
    rows: Mapping[str, list[tuple[Any, ...]]],
    columns: Mapping[str, Sequence[str]],
    dead_letters: Iterable[Mapping[str, Any]],
) -> dict[str, list[Row]]:
    """`snapshot` rows (tuples) named by their `columns`; jsonb state parsed."""
    tables: dict[str, list[Row]] = {}
    for table, tuples in rows.items():
        names = list(columns[table])
        tables[table] = [dict(zip(names, values, strict=True)) for values in tuples]
    for row in tables.get("participant_state", []):
        if isinstance(row.get("facts"), str):
            row["facts"] = json.loads(row["facts"])
    tables["dead_letters"] = [
        {c: letter[c] for c in ("partition", "offset", "event_id", "reason")}
        for letter in dead_letters
    ]
    return tables
