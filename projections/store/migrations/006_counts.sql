-- Counts the projection keeps for the coordinator's views, so that a period's
-- count sums a few hundred rows instead of the whole read model. Derived from
-- the other derived tables (projections/store/counts.py says what each measure
-- is), kept in the same transaction as the rows they count, and recounted from
-- them whenever in doubt: `refnet audit verify` compares the two.
CREATE TABLE IF NOT EXISTS read_counts (
    measure text NOT NULL,
    span text NOT NULL CHECK (span IN ('day', 'month', 'year', 'all')),
    day date NOT NULL,          -- the Berlin day, or its month's or year's first; -infinity: 'all'
    a text NOT NULL DEFAULT '',
    b text NOT NULL DEFAULT '',
    bin integer NOT NULL DEFAULT 0,
    n bigint NOT NULL,
    PRIMARY KEY (measure, span, day, a, b, bin)
) WITH (fillfactor = 70);  -- room in each page to update a count in place

-- The partial days at a period's edges are counted from the rows by these.
CREATE INDEX IF NOT EXISTS participants_exited_at ON participants (exited_at);
CREATE INDEX IF NOT EXISTS referrals_sent_at ON referrals (sent_at);
CREATE INDEX IF NOT EXISTS trainings_started_at ON trainings (started_at);
CREATE INDEX IF NOT EXISTS trainings_ended_at ON trainings (ended_at);
-- A median reads the few values of the bin it falls in (counts.py: PLACEMENT_BIN,
-- ANSWER_BIN, FLOW_ANSWER_BIN seconds wide; the expressions must match).
CREATE INDEX IF NOT EXISTS participants_placement_bin ON participants (
    (floor(extract(epoch FROM placed_at - first_enrolled_at) / 21600)::integer), placed_at
) WHERE enrolled AND placed_at IS NOT NULL AND first_enrolled_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS referrals_answer_bin ON referrals (
    (floor(extract(epoch FROM answered_at - sent_at) / 3600)::integer), sent_at
) WHERE state <> 'withdrawn' AND answered_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS referrals_flow_answer_bin ON referrals (
    from_partner, to_partner, (floor(extract(epoch FROM answered_at - sent_at) / 86400)::integer),
    sent_at
) WHERE state <> 'withdrawn' AND answered_at IS NOT NULL;
