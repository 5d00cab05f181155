"""The read model's tables in one place: names, row keys, time columns, and the offsets SQL.

Every module that lists the read model's tables or reads or moves its offsets
takes them from here, so a new table or a changed offsets query is written once.
"""

from __future__ import annotations

PROJECTION = "outcomes"
"""The `projection` column of `projection_offsets` for the outcome read model."""

DERIVED_TABLES: dict[str, tuple[str, ...]] = {
    # Derived from the log: a replay must produce exactly these rows. Each with
    # the columns that identify a row in it.
    "participant_state": ("participant_id",),
    "participants": ("participant_id",),
    "referrals": ("participant_id", "referral_id"),
    "trainings": ("participant_id", "training_id"),
    "partner_links": ("partner_id", "participant_id", "role"),
    "rejections": ("event_id",),
    "contacts": ("participant_id",),
    "consents": ("participant_id", "purpose", "recipient"),
}
DEAD_LETTERS = "dead_letters"
COUNTS = "read_counts"
"""The counts kept for the coordinator's views (projections/store/counts.py): derived from
the derived tables, so neither replayed nor compared, but emptied and recounted with them."""
OFFSETS = "projection_offsets"
TABLE_KEYS: dict[str, tuple[str, ...]] = DERIVED_TABLES | {DEAD_LETTERS: ("partition", "offset")}
"""Every table a replay can check, with its row keys."""
ALL_TABLES: tuple[str, ...] = (*DERIVED_TABLES, COUNTS, DEAD_LETTERS, OFFSETS)
"""Every table of the read model's schema (what a rebuild copies and a reset empties)."""

TIME_COLUMNS = {  # written as timestamptz; the fold keeps canonical UTC strings
    "first_enrolled_at", "placed_at", "exited_at", "sent_at", "answered_at", "withdrawn_at",
    "started_at", "ended_at", "since", "occurred_at", "recorded_at",
    "erasure_requested_at", "key_destroyed_at",
}  # fmt: skip

READ_OFFSETS = """
SELECT partition, next_offset FROM projection_offsets WHERE projection = $1 AND topic = $2
"""
READ_OFFSETS_IN = (  # the same in a named schema (a rebuild reads two at once)
    'SELECT partition, next_offset FROM "{schema}".projection_offsets '
    "WHERE projection = $1 AND topic = $2"
)
ENSURE_TOPIC_OFFSETS = """
INSERT INTO projection_offsets (projection, topic, partition)
SELECT $1, $2, p FROM generate_series(0, $3 - 1) AS p
ON CONFLICT DO NOTHING
"""
ENSURE_OFFSETS = """
INSERT INTO projection_offsets (projection, topic, partition)
SELECT $1, $2, p FROM unnest($3::int[]) AS p
ON CONFLICT DO NOTHING
"""
# FOR UPDATE: two workers briefly owning one partition during a rebalance must
# not both fold the same participant; the second waits, then sees the new offset.
LOCK_OFFSETS = """
SELECT partition, next_offset FROM projection_offsets
WHERE projection = $1 AND topic = $2 AND partition = ANY($3::int[])
ORDER BY partition FOR UPDATE
"""
MOVE_OFFSETS = """
UPDATE projection_offsets AS o SET next_offset = GREATEST(o.next_offset, n.next), updated_at = now()
FROM unnest($3::int[], $4::bigint[]) AS n(partition, next)
WHERE o.projection = $1 AND o.topic = $2 AND o.partition = n.partition
"""
LOCK_ALL_OFFSETS = "SELECT 1 FROM projection_offsets WHERE projection = $1 FOR UPDATE"
REWIND_OFFSETS = """
UPDATE projection_offsets SET next_offset = 0, updated_at = now() WHERE projection = $1
"""
