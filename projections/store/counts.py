"""The counts the projection keeps for the coordinator's views (`read_counts`).

Each measure says what one participant contributes: rows of (instant, a, b,
bin), counted per Berlin day, month and year of the instant, and once in all
time (span `all`, the only count of a measure without an instant). A period's
count is then the sum of a few year, month and day rows plus, for the partial
days at its edges, the same measure counted from the rows (`count_reads.py`).
Every measure is written once, here, and used three ways: to keep the counts
when a batch rewrites participants (old contributions out, new ones in, one
upsert in the batch's transaction), to count the rows of an instant window,
and to recount everything.

Distinct-participant rules stay exact because a contribution is made per
participant (or per participant and partner) from the rows the fold derived:
a participant's rows live and change together, under its id.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import asyncpg

from refnet.projections.store.database import Conn
from refnet.projections.store.schema import COUNTS

TIMEZONE: Final = "Europe/Berlin"
"""Where a day, a month and a year of the kept counts begin and end."""

# Bits of the cohort measure's bin: the funnel stages a participant has reached.
REFERRED, ACCEPTED, TRAINING_STARTED, PLACED = 1, 2, 4, 8
# The referral measure's bin: the state by the first answer.
REFERRAL_STATES: Final = {"pending": 0, "accepted": 1, "declined": 2}

PLACEMENT_SECONDS = "extract(epoch FROM p.placed_at - p.first_enrolled_at)"
ANSWER_SECONDS = "extract(epoch FROM r.answered_at - r.sent_at)"
# The widths of a median's bins: narrow enough that the bin holding the middle has
# few values to read, wide enough that a period sums few bins. Each has its index
# in migrations/006_counts.sql, on the same expression.
PLACEMENT_BIN, ANSWER_BIN, FLOW_ANSWER_BIN = 6 * 3600, 3600, 86400

Contribution = tuple[str, str | None, str, str, int]
"""(measure, instant as a UTC string or None, a, b, bin): one row of a measure's select."""


def bin_of(seconds: str, width: int) -> str:
    """The SQL of the bin a duration falls in."""
    return f"floor({seconds} / {width})::integer"


@dataclass(frozen=True)
class Measure:
    """One count: `sql` selects (at, a, b, bin) per contribution, for the ids `{who}` admits.

    `clocks` are the (table, column) pairs whose instants can place a contribution
    in a window: the rows counted for a partial day are found by them.
    """

    name: str
    sql: str
    clocks: tuple[tuple[str, str], ...] = ()


_HAS = "EXISTS (SELECT 1 FROM {table} x WHERE x.participant_id = p.participant_id{cond})"
_STAGES = " + ".join(
    f"(CASE WHEN {cond} THEN {bit} ELSE 0 END)"
    for cond, bit in (
        (_HAS.format(table="referrals", cond=" AND x.state <> 'withdrawn'"), REFERRED),
        (_HAS.format(table="referrals", cond=" AND x.state = 'accepted'"), ACCEPTED),
        (_HAS.format(table="trainings", cond=""), TRAINING_STARTED),
        ("p.placed_at IS NOT NULL", PLACED),
    )
)
_STATE_BIN = " ".join(f"WHEN '{state}' THEN {code}" for state, code in REFERRAL_STATES.items())
# A participant's trainings merged into spans (s, e]: in training at t when some
# training started before t and had not ended before t. A span's start is one
# training's start and its end one training's end (or none: 'infinity').
_SPANS = """
SELECT participant_id, min(s) AS s, max(e) AS e FROM (
  SELECT participant_id, s, e, sum(opens) OVER (
    PARTITION BY participant_id ORDER BY s, e ROWS UNBOUNDED PRECEDING) AS island
  FROM (
    SELECT participant_id, s, e, CASE WHEN s <= max(e) OVER (
      PARTITION BY participant_id ORDER BY s, e ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
    ) THEN 0 ELSE 1 END AS opens
    FROM (
      SELECT participant_id, started_at AS s,
        CASE WHEN ended_at IS NULL THEN 'infinity'::timestamptz
             ELSE greatest(ended_at, started_at) END AS e
      FROM trainings WHERE participant_id {who}
    ) AS t
  ) AS marked
) AS islands GROUP BY participant_id, island
"""
_PERSON = "FROM participants p WHERE p.participant_id {who}"
_LINKED = """
FROM (SELECT DISTINCT partner_id, participant_id FROM partner_links
      WHERE participant_id {{who}}{roles}) l
JOIN participants p USING (participant_id)
"""

_CELL = "r.from_partner AS a, r.to_partner AS b"
_REFERRAL = (
    f"SELECT r.sent_at AS at, {{cell}}, CASE r.state {_STATE_BIN} END AS bin FROM referrals r "
    "WHERE r.participant_id {{who}} AND r.state <> 'withdrawn'"
)
_ANSWER = (
    "SELECT r.sent_at AS at, {cell}, {bin} AS bin FROM referrals r "
    "WHERE r.participant_id {{who}} AND r.state <> 'withdrawn' AND r.answered_at IS NOT NULL"
)

MEASURES: Final[tuple[Measure, ...]] = (
    # Participants by first enrolment: with the funnel stages reached, and per site.
    Measure(
        "cohort",
        f"SELECT p.first_enrolled_at AS at, '' AS a, '' AS b, {_STAGES} AS bin "
        f"{_PERSON} AND p.enrolled AND p.first_enrolled_at IS NOT NULL",
        (("participants", "first_enrolled_at"),),
    ),
    Measure(
        "site.participants",
        "SELECT p.first_enrolled_at AS at, coalesce(p.site, '') AS a, '' AS b, 0 AS bin "
        f"{_PERSON} AND p.enrolled AND p.first_enrolled_at IS NOT NULL",
        (("participants", "first_enrolled_at"),),
    ),
    # Placements by first placement: a = the kind, b = the site, bin 1 if enrolled.
    Measure(
        "placed",
        "SELECT p.placed_at AS at, coalesce(p.placement_kind, '') AS a, coalesce(p.site, '') AS b,"
        f" CASE WHEN p.enrolled THEN 1 ELSE 0 END AS bin {_PERSON} AND p.placed_at IS NOT NULL",
        (("participants", "placed_at"),),
    ),
    # Days from enrolment to placement, in bins, for the median.
    Measure(
        "placement.days",
        f"SELECT p.placed_at AS at, '' AS a, '' AS b, {bin_of(PLACEMENT_SECONDS, PLACEMENT_BIN)} "
        "AS bin "
        f"{_PERSON} AND p.enrolled AND p.placed_at IS NOT NULL AND p.first_enrolled_at IS NOT NULL",
        (("participants", "placed_at"),),
    ),
    Measure(
        "exits",
        f"SELECT p.exited_at AS at, '' AS a, '' AS b, 0 AS bin "
        f"{_PERSON} AND p.enrolled AND p.exited_at IS NOT NULL",
        (("participants", "exited_at"),),
    ),
    # Referrals by sending, bin = the state: over the network, and per (from, to).
    Measure("referrals", _REFERRAL.format(cell="'' AS a, '' AS b"), (("referrals", "sent_at"),)),
    Measure("flows", _REFERRAL.format(cell=_CELL), (("referrals", "sent_at"),)),
    # Days from sending to the first answer, in bins: the same two ways.
    Measure(
        "answer.days",
        _ANSWER.format(cell="'' AS a, '' AS b", bin=bin_of(ANSWER_SECONDS, ANSWER_BIN)),
        (("referrals", "sent_at"),),
    ),
    Measure(
        "flow.answer.days",
        _ANSWER.format(cell=_CELL, bin=bin_of(ANSWER_SECONDS, FLOW_ANSWER_BIN)),
        (("referrals", "sent_at"),),
    ),
    Measure(
        "training.start",
        f"SELECT s AS at, '' AS a, '' AS b, 0 AS bin FROM ({_SPANS}) AS spans",
        (("trainings", "started_at"),),
    ),
    Measure(
        "training.end",
        f"SELECT e AS at, '' AS a, '' AS b, 0 AS bin FROM ({_SPANS}) AS spans "
        "WHERE e <> 'infinity'",
        (("trainings", "ended_at"), ("trainings", "started_at")),
    ),
    # Per partner, distinct participants it enrolled or accepted, and those it placed.
    Measure(
        "partner.participants",
        "SELECT p.first_enrolled_at AS at, l.partner_id AS a, '' AS b, 0 AS bin "
        + _LINKED.format(roles=" AND role IN ('enrolled', 'accepted')")
        + " WHERE p.enrolled AND p.first_enrolled_at IS NOT NULL",
        (("participants", "first_enrolled_at"),),
    ),
    Measure(
        "partner.placed",
        "SELECT p.placed_at AS at, l.partner_id AS a, '' AS b, 0 AS bin "
        + _LINKED.format(roles=" AND role = 'placed'")
        + " WHERE p.placed_at IS NOT NULL",
        (("participants", "placed_at"),),
    ),
    # Who is listed whatever the period: sites of enrolled participants, linked partners.
    Measure(
        "sites",
        f"SELECT NULL::timestamptz AS at, coalesce(p.site, '') AS a, '' AS b, 0 AS bin "
        f"{_PERSON} AND p.enrolled",
    ),
    Measure(
        "partners",
        "SELECT NULL::timestamptz AS at, l.partner_id AS a, '' AS b, 0 AS bin "
        + _LINKED.format(roles=""),
    ),
)
BY_NAME: Final = {m.name: m for m in MEASURES}

_CONTRIBUTIONS = " UNION ALL ".join(
    f"SELECT '{m.name}' AS measure, c.*, 1 AS n FROM ({m.sql}) AS c" for m in MEASURES
)


def _spread(source: str) -> str:
    """Contributions (measure, at, a, b, bin, n) of `source` summed on their Berlin day,
    in their month and year, and in all time (span 'all', day -infinity: the only row of
    a measure without an instant)."""
    return f"""
WITH c AS ({source})
SELECT measure, span, day, a, b, bin, sum(n)::bigint AS n FROM (
  SELECT measure, 'day' AS span, (at AT TIME ZONE '{TIMEZONE}')::date AS day, a, b, bin, n
  FROM c WHERE at IS NOT NULL
  UNION ALL
  SELECT measure, 'month', date_trunc('month', at AT TIME ZONE '{TIMEZONE}')::date, a, b, bin, n
  FROM c WHERE at IS NOT NULL
  UNION ALL
  SELECT measure, 'year', date_trunc('year', at AT TIME ZONE '{TIMEZONE}')::date, a, b, bin, n
  FROM c WHERE at IS NOT NULL
  UNION ALL
  SELECT measure, 'all', '-infinity'::date, a, b, bin, n FROM c
) AS spread GROUP BY measure, span, day, a, b, bin
"""


_SPREAD = _spread(_CONTRIBUTIONS)
_IDS = "= ANY($1::text[])"
# Days as text: '-infinity' and the year 10000 (9999's last hour in Berlin) go back unchanged.
_OLD = f"SELECT measure, span, day::text, a, b, bin, n FROM ({_SPREAD.replace('{who}', _IDS)}) AS s"
# New contributions minus the old, one ordered upsert: two workers touching the
# same buckets take their row locks in the same order, so they wait, never deadlock.
_KEEP = f"""
INSERT INTO {COUNTS} (measure, span, day, a, b, bin, n)
SELECT measure, span, day, a, b, bin, sum(n) FROM (
  {_SPREAD.replace("{who}", _IDS)}
  UNION ALL
  SELECT measure, span, day::date, a, b, bin, -n FROM unnest(
    $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::integer[], $8::bigint[]
  ) AS old(measure, span, day, a, b, bin, n)
) AS delta GROUP BY measure, span, day, a, b, bin HAVING sum(n) <> 0
ORDER BY measure, span, day, a, b, bin
ON CONFLICT (measure, span, day, a, b, bin) DO UPDATE SET n = {COUNTS}.n + excluded.n
"""
# Contributions that changed, worked out by the worker (`contributions.py`), summed
# into the kept counts; ordered as _KEEP is, for the same reason.
_MOVE = f"""
INSERT INTO {COUNTS} (measure, span, day, a, b, bin, n)
SELECT measure, span, day, a, b, bin, n FROM ({
    _spread(
        "SELECT measure, at::timestamptz AS at, a, b, bin, n FROM unnest("
        "$1::text[], $2::text[], $3::text[], $4::text[], $5::integer[], $6::bigint[]"
        ") AS moved(measure, at, a, b, bin, n)"
    )
}) AS spread WHERE n <> 0
ORDER BY measure, span, day, a, b, bin
ON CONFLICT (measure, span, day, a, b, bin) DO UPDATE SET n = {COUNTS}.n + excluded.n
"""
# In key order: the rows a view sums lie together on disk.
_RECOUNT = f"""
INSERT INTO {COUNTS} (measure, span, day, a, b, bin, n)
{_SPREAD.replace("{who}", "IS NOT NULL")}
ORDER BY measure, span, day, a, b, bin
"""
# Kept rows that differ from a recount (a kept zero is no difference).
DRIFT = f"""
WITH fresh AS ({_SPREAD.replace("{who}", "IS NOT NULL")})
SELECT measure, span, day::text, a, b, bin, coalesce(k.n, 0) AS kept, coalesce(f.n, 0) AS counted
FROM {COUNTS} k FULL JOIN fresh f USING (measure, span, day, a, b, bin)
WHERE coalesce(k.n, 0) <> coalesce(f.n, 0)
ORDER BY measure, span, day, a, b, bin
"""


@dataclass(frozen=True)
class Before:
    """The counted contributions of participants about to be rewritten."""

    ids: list[str]
    rows: list[asyncpg.Record]


async def before_rewrite(conn: Conn, ids: Sequence[str]) -> Before:
    """Read what `ids` contribute now, before their rows are deleted."""
    ordered = sorted(ids)
    return Before(ordered, list(await conn.fetch(_OLD, ordered)))


async def after_rewrite(conn: Conn, before: Before) -> None:
    """Move the counts by what the rewritten participants contribute now, minus before."""
    old = before.rows
    await conn.execute(
        _KEEP,
        before.ids,
        *([r[col] for r in old] for col in range(7)),
    )


async def move_counts(conn: Conn, moved: Mapping[Contribution, int]) -> None:
    """Add `moved` (contribution → how many more, or fewer) to the kept counts."""
    if not moved:
        return
    keys = list(moved)
    await conn.execute(
        _MOVE,
        *([k[col] for k in keys] for col in range(5)),
        [moved[k] for k in keys],
    )


async def contributions_of(conn: Conn, ids: Sequence[str]) -> Counter[Contribution]:
    """What the rows of `ids` contribute, by the measures' SQL (instants as UTC strings)."""
    rows = await conn.fetch(
        "SELECT measure, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
        f" a, b, bin, n FROM ({_CONTRIBUTIONS.replace('{who}', _IDS)}) AS c",
        list(ids),
    )
    found: Counter[Contribution] = Counter()
    for measure, at, a, b, bin_, n in rows:
        found[measure, at, a, b, bin_] += n
    return found


async def recount_all(conn: Conn) -> None:
    """Count every measure afresh from the rows (a rebuild, a migration, a repair)."""
    await conn.execute(f"TRUNCATE {COUNTS}")
    await conn.execute(_RECOUNT)


async def count_drift(conn: Conn, limit: int = 20) -> list[str]:
    """Where the kept counts differ from a recount, as readable lines; empty when none."""
    rows = await conn.fetch(DRIFT + f" LIMIT {int(limit)}")
    return [
        f"{r['measure']} {r['span']} {r['day']} [{r['a']}|{r['b']}|{r['bin']}]: "
        f"kept {r['kept']}, counted {r['counted']}"
        for r in rows
    ]


def window_sql(measure: Measure, first: int) -> str:
    """`measure` counted from the rows whose instant lies in [$first, $first+1), grouped."""
    lo, hi = f"${first}::timestamptz", f"${first + 1}::timestamptz"
    scope = " UNION ".join(
        f"SELECT participant_id FROM {table} WHERE {column} >= {lo} AND {column} < {hi}"
        for table, column in measure.clocks
    )
    return (
        f"SELECT '{measure.name}' AS measure, a, b, bin, count(*)::bigint AS n "
        f"FROM ({measure.sql.replace('{who}', f'IN ({scope})')}) AS c "
        f"WHERE at >= {lo} AND at < {hi} GROUP BY a, b, bin"
    )
