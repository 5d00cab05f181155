"""The gateway's sequence numbers: reserved durably in recorded blocks, handed out in memory.

Every number handed out ends on the log, in the registry's unused record, or in
a block left open (which the next gateway marks abandoned once this one is gone):
an absent number is never unexplained unless an event was removed.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from refnet.events.settings import Settings
from refnet.projections.audit import sequence_ledger as ledger
from refnet.projections.audit.sequence_accounting import Span
from refnet.projections.store.database import Conn, connect_session

log = logging.getLogger(__name__)

SEQUENCE_BLOCK = 1000


class HolderSession:
    """One connection per gateway process, named by its holder id: how PostgreSQL sees it live.

    Opened before the first block is recorded and kept until the gateway stops;
    when it is gone (a crash, a kill), the next gateway marks the blocks abandoned.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.holder_id = f"refnet-gateway-{uuid.uuid4().hex[:16]}"
        self._conn: asyncpg.Connection[asyncpg.Record] | None = None

    async def ensure(self) -> None:
        """Open the session if it is not (again, after a PostgreSQL restart)."""
        if self._conn is not None and not self._conn.is_closed():
            try:
                await self._conn.execute("SELECT 1")
                return
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                self._conn.terminate()
        self._conn = await connect_session(self._settings, self.holder_id)

    async def close(self) -> None:
        if self._conn is not None and not self._conn.is_closed():
            await self._conn.close(timeout=5)
        self._conn = None


@dataclass
class _Block:
    first: int
    end: int
    outstanding: int = 0  # numbers handed out whose publish has not settled yet
    tainted: bool = False  # a number of it could not be recorded unused: leave the block open


def spans_of(numbers: Sequence[int]) -> list[Span]:
    """Rising numbers as inclusive runs."""
    spans: list[Span] = []
    for n in sorted(numbers):
        if spans and spans[-1][1] + 1 == n:
            spans[-1] = (spans[-1][0], n)
        else:
            spans.append((n, n))
    return spans


class SequenceBlock:
    """Numbers for one publisher id, reserved one block (one committed write) at a time.

    A block is closed once handed out and every publish of it settled; a clean
    stop gives the current block's tail back (or records it unused) and closes it.
    """

    def __init__(
        self, publisher_id: str, session: HolderSession, block: int = SEQUENCE_BLOCK
    ) -> None:
        self._publisher_id = publisher_id
        self._session = session
        self._size = block
        self._next = 0
        self._current: _Block | None = None
        self._blocks: list[_Block] = []
        self._swept = False
        self._lock = asyncio.Lock()

    async def take(self, conn: Conn, count: int) -> list[int]:
        """`count` rising numbers: what is left of the block, then from new blocks."""
        async with self._lock:
            numbers: list[int] = []
            while len(numbers) < count:
                block = self._current
                if block is None or self._next == block.end:
                    block = await self._reserve(conn, max(count - len(numbers), self._size))
                used = min(count - len(numbers), block.end - self._next)
                numbers.extend(range(self._next, self._next + used))
                block.outstanding += used
                self._next += used
            return numbers

    async def _reserve(self, conn: Conn, size: int) -> _Block:
        # The session first: a block is never recorded for a holder that looks gone.
        await self._session.ensure()
        holder = self._session.holder_id
        if not self._swept:
            gone = await ledger.abandon_gone_blocks(conn, self._publisher_id, holder)
            for block in gone:
                log.warning(
                    "marked abandoned: block %d..%d of %s", block.first, block.end, block.holder
                )
            self._swept = True
        first = await ledger.reserve_block(conn, self._publisher_id, size, holder)
        self._current = _Block(first, first + size)
        self._blocks.append(self._current)
        self._next = first
        return self._current

    async def settle(self, conn: Conn, numbers: Sequence[int], accounted: bool = True) -> None:
        """`numbers` are on the log or recorded unused (`accounted`); close finished blocks."""
        async with self._lock:
            for block in self._blocks:
                mine = sum(1 for n in numbers if block.first <= n < block.end)
                block.outstanding -= mine
                block.tainted = block.tainted or (mine > 0 and not accounted)
            done = [b for b in self._blocks if b is not self._current and b.outstanding == 0]
            for block in done:
                self._blocks.remove(block)
                if block.tainted:
                    continue  # left open: once this gateway is gone it is marked abandoned
                try:
                    await self._close(conn, block, next_unused=block.end)
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    log.warning("block %d..%d left open: %s", block.first, block.end, exc)

    async def record_unused(self, conn: Conn, numbers: Sequence[int], reason: str) -> None:
        """Record `numbers` as never to be used; settle them either way."""
        try:
            await ledger.record_unused(conn, self._publisher_id, spans_of(numbers), reason)
        except Exception:
            await self.settle(conn, numbers, accounted=False)
            raise
        await self.settle(conn, numbers)

    async def close(self, conn: Conn) -> None:
        """Give the current block's tail back (or record it unused) and close it."""
        async with self._lock:
            block, self._current = self._current, None
            if block is None or block.tainted or block.outstanding:
                return
            await self._close(conn, block, next_unused=self._next)

    async def _close(self, conn: Conn, block: _Block, next_unused: int) -> None:
        holder = self._session.holder_id
        first, end = block.first, block.end
        await ledger.close_block(conn, self._publisher_id, first, end, next_unused, holder)
