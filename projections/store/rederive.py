"""Re-deriving stored rows when `derive`'s rules change, from the stored fold states.

The read model keeps every participant's folded facts (`participant_state`);
the other derived tables are what `derive` makes of them. When a release
changes `derive` (DERIVE_VERSION goes up), the rows stored by the old rules
would stay until each participant's next event, and `audit verify` would
report them. A worker therefore re-derives every stored state once, before it
projects: no log read, no downtime, and chunk by chunk under the offsets'
locks, so a batch of another worker waits rather than interleaves.
"""

from __future__ import annotations

import logging

from refnet.projections.fold.derive import DERIVE_VERSION, derive
from refnet.projections.fold.rules import ParticipantState, StateTooOld
from refnet.projections.store.counts import after_rewrite, before_rewrite
from refnet.projections.store.database import Conn
from refnet.projections.store.row_writes import copy_derived
from refnet.projections.store.schema import LOCK_ALL_OFFSETS, PROJECTION

log = logging.getLogger(__name__)

CHUNK = 2_000
_READ = "SELECT version FROM derive_version"
_UNJUDGED = """
SELECT participant_id FROM participant_state WHERE jsonb_typeof(facts) = 'array' LIMIT 1
"""
_WRITE = """
INSERT INTO derive_version (version) VALUES ($1)
ON CONFLICT (only_row) DO UPDATE SET version = $1, updated_at = now()
"""
_IDS = """
SELECT participant_id FROM participant_state WHERE participant_id > $1
ORDER BY participant_id LIMIT $2
"""
_STATES = "SELECT participant_id, facts::text FROM participant_state WHERE participant_id = ANY($1)"
# Everything derived but the states themselves, and the rejections (judged in apply, not derive).
_CLEAR = """
WITH people AS (DELETE FROM participants WHERE participant_id = ANY($1::text[])),
     refs AS (DELETE FROM referrals WHERE participant_id = ANY($1::text[])),
     courses AS (DELETE FROM trainings WHERE participant_id = ANY($1::text[])),
     reach AS (DELETE FROM contacts WHERE participant_id = ANY($1::text[])),
     consent AS (DELETE FROM consents WHERE participant_id = ANY($1::text[]))
DELETE FROM partner_links WHERE participant_id = ANY($1::text[])
"""


async def stored_version(conn: Conn) -> int | None:
    """The derive version of the stored rows; None for a read model nothing was stored in."""
    version: int | None = await conn.fetchval(_READ)
    return version


async def rederive_if_older(conn: Conn, chunk: int = CHUNK) -> int:
    """Re-derive every stored state if its rows are older than DERIVE_VERSION; how many.

    StateTooOld if any state predates the judged rules: that takes a fold from the log.
    """
    unjudged = await conn.fetchval(_UNJUDGED)
    if unjudged is not None:
        raise StateTooOld(unjudged)
    version = await stored_version(conn)
    if version is not None and version >= DERIVE_VERSION:
        return 0
    done = 0
    if version is not None:
        log.warning(
            "read-model rows were derived by version %d of the rules; re-deriving them by %d",
            version,
            DERIVE_VERSION,
        )
        after = ""
        while ids := [r[0] for r in await conn.fetch(_IDS, after, chunk)]:
            async with conn.transaction():
                await conn.execute(LOCK_ALL_OFFSETS, PROJECTION)
                rows = await conn.fetch(_STATES, ids)
                states = [ParticipantState.from_json(r[0], r[1]) for r in rows]
                counted = await before_rewrite(conn, ids)
                await conn.execute(_CLEAR, ids)
                await copy_derived(conn, [derive(s) for s in states if s.facts])
                await after_rewrite(conn, counted)
            done += len(states)
            after = ids[-1]
        log.info("re-derived %d participants' rows", done)
    await conn.execute(_WRITE, DERIVE_VERSION)
    return done
