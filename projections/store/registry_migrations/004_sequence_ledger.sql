-- Why a sequence number is absent from the log when no event was removed.
--
-- The gateway reserves numbers in blocks (publisher_sequences); each block is
-- recorded here in the same statement as the counter, with the id of the
-- gateway process holding it. A clean stop closes the block (shrunk to what
-- was handed out); a block whose holder is gone while still open is marked
-- abandoned by the next gateway, and its absent numbers are accounted for.
CREATE TABLE IF NOT EXISTS sequence_blocks (
    publisher_id text NOT NULL,
    first_sequence bigint NOT NULL CHECK (first_sequence >= 0),
    end_sequence bigint NOT NULL,  -- exclusive
    holder text NOT NULL,  -- the holder's application_name in pg_stat_activity
    reserved_at timestamptz NOT NULL DEFAULT now(),
    state text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed', 'abandoned')),
    closed_at timestamptz,
    PRIMARY KEY (publisher_id, first_sequence),
    CONSTRAINT sequence_blocks_range CHECK (end_sequence >= first_sequence)
);
CREATE INDEX IF NOT EXISTS sequence_blocks_open ON sequence_blocks (publisher_id)
    WHERE state = 'open';

-- Numbers reserved and never carried by an event, and why (a publish the broker
-- did not confirm, a tail that could not be given back, a crashed client).
-- Ranges may overlap and a number may be on the log after all (a publish
-- confirmed to the broker but reported failed): `audit verify` counts it used.
CREATE TABLE IF NOT EXISTS unused_sequences (
    unused_id bigserial PRIMARY KEY,
    publisher_id text NOT NULL,
    first_sequence bigint NOT NULL CHECK (first_sequence >= 0),
    last_sequence bigint NOT NULL,  -- inclusive
    reason text NOT NULL CHECK (char_length(reason) <= 1000),
    recorded_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT unused_sequences_range CHECK (last_sequence >= first_sequence)
);
CREATE INDEX IF NOT EXISTS unused_sequences_publisher ON unused_sequences (publisher_id);
