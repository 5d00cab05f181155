"""The registry's record of sequence numbers reserved and never used: the one home of its SQL.

Every number a publisher gives up is written here before anyone is told, and a
gateway's block is recorded in the same statement that advances the counter,
so an absent number is either explained here or missing from the log.
"""

from __future__ import annotations

from collections.abc import Sequence

from refnet.projections.audit.sequence_accounting import Block, SequenceLedger, Span, UnusedRange
from refnet.projections.store.database import Conn

MAX_REASON = 1000  # characters; the table's CHECK

# One statement: the counter moves and the block is recorded, or neither.
_RESERVE_BLOCK = """
WITH counter AS (
    INSERT INTO publisher_sequences AS s (publisher_id, next_sequence) VALUES ($1, $2)
    ON CONFLICT (publisher_id) DO UPDATE SET next_sequence = s.next_sequence + $2
    RETURNING next_sequence - $2 AS first_sequence, next_sequence AS end_sequence
)
INSERT INTO sequence_blocks (publisher_id, first_sequence, end_sequence, holder)
SELECT $1, first_sequence, end_sequence, $3 FROM counter
RETURNING first_sequence
"""
# Unused numbers go back only if nobody reserved after this block.
_GIVE_BACK = """
UPDATE publisher_sequences SET next_sequence = $2 WHERE publisher_id = $1 AND next_sequence = $3
"""
# Also closes a block wrongly marked abandoned: its live holder knows best.
_CLOSE_BLOCK = """
UPDATE sequence_blocks SET state = 'closed', closed_at = now(), end_sequence = $3
WHERE publisher_id = $1 AND first_sequence = $2 AND holder = $4
"""
_RECORD_UNUSED = """
INSERT INTO unused_sequences (publisher_id, first_sequence, last_sequence, reason)
SELECT $1, f, l, $4 FROM unnest($2::bigint[], $3::bigint[]) AS r (f, l)
"""
# A holder is alive while a session with its id as application_name exists on
# the server (each gateway keeps one such connection open for its lifetime).
# pg_stat_activity shows application_name to every role. A restart of
# PostgreSQL ends every session, so a live gateway's block may be marked
# abandoned wrongly: that only accounts its absent numbers, and the live holder
# still closes it (the _CLOSE_BLOCK above ignores the state).
_ABANDON_GONE = """
UPDATE sequence_blocks AS b SET state = 'abandoned', closed_at = now()
WHERE b.publisher_id = $1 AND b.state = 'open' AND b.holder <> $2
  AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.application_name = b.holder)
RETURNING b.first_sequence, b.end_sequence, b.holder
"""
_READ_UNUSED = """
SELECT publisher_id, first_sequence, last_sequence, reason FROM unused_sequences
ORDER BY publisher_id, unused_id
"""
_READ_BLOCKS = """
SELECT publisher_id, first_sequence, end_sequence, holder, state FROM sequence_blocks
ORDER BY publisher_id, first_sequence
"""


async def reserve_block(conn: Conn, publisher_id: str, size: int, holder: str) -> int:
    """Reserve `size` numbers for `holder` and record the block; return its first number."""
    first = await conn.fetchval(_RESERVE_BLOCK, publisher_id, size, holder)
    assert isinstance(first, int)
    return first


async def record_unused(conn: Conn, publisher_id: str, spans: Sequence[Span], reason: str) -> None:
    """Record each inclusive span of `publisher_id`'s numbers as never to be used."""
    if spans:
        firsts, lasts = [s[0] for s in spans], [s[1] for s in spans]
        await conn.execute(_RECORD_UNUSED, publisher_id, firsts, lasts, reason[:MAX_REASON])


async def close_block(
    conn: Conn, publisher_id: str, first: int, end: int, next_unused: int, holder: str
) -> bool:
    """Close a block handed out up to `next_unused`; True if its tail went back to the counter.

    The tail is given back when nobody reserved after it (the block shrinks);
    otherwise it is recorded unused. Either way in one transaction with the close.
    """
    async with conn.transaction():
        given_back = (
            next_unused < end
            and (await conn.execute(_GIVE_BACK, publisher_id, next_unused, end)) == "UPDATE 1"
        )
        if next_unused < end and not given_back:
            reason = "not given back on a clean stop: numbers were reserved after this block"
            await record_unused(conn, publisher_id, [(next_unused, end - 1)], reason)
        await conn.execute(
            _CLOSE_BLOCK, publisher_id, first, next_unused if given_back else end, holder
        )
    return given_back


async def abandon_gone_blocks(conn: Conn, publisher_id: str, holder: str) -> list[Block]:
    """Mark abandoned every open block of `publisher_id` whose holder has no session left."""
    rows = await conn.fetch(_ABANDON_GONE, publisher_id, holder)
    return [Block(publisher_id, r[0], r[1], r[2], "abandoned") for r in rows]


async def read_ledger(conn: Conn) -> SequenceLedger:
    """Every recorded unused range, and every block (who held which numbers)."""
    unused = [UnusedRange(r[0], r[1], r[2], r[3]) for r in await conn.fetch(_READ_UNUSED)]
    blocks = [Block(r[0], r[1], r[2], r[3], r[4]) for r in await conn.fetch(_READ_BLOCKS)]
    return SequenceLedger(tuple(unused), tuple(blocks))
