-- Privacy in the read model: where a participant's contact details are (a
-- reference to ciphertext, never clear text: the worker holds no key), the
-- standing consent per purpose and recipient, and when erasure was requested
-- and the data key destroyed. Derived from the log like every other table.
ALTER TABLE participants ADD COLUMN IF NOT EXISTS erasure_requested_at timestamptz;
ALTER TABLE participants ADD COLUMN IF NOT EXISTS key_destroyed_at timestamptz;

-- The latest live participant.contact_recorded: its ids open the ciphertext
-- (they are its associated data), `sealed` is its SealedData as JSON text.
CREATE TABLE IF NOT EXISTS contacts (
    participant_id text PRIMARY KEY,
    event_id text NOT NULL,
    partner_id text NOT NULL,
    occurred_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL,
    key_id text NOT NULL,
    sealed text NOT NULL
);

-- The standing consent per (participant, purpose, recipient); recipient NULL:
-- given to or withdrawn from the whole network.
CREATE TABLE IF NOT EXISTS consents (
    participant_id text NOT NULL,
    purpose text NOT NULL,
    recipient text,
    given boolean NOT NULL,
    since timestamptz NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS consents_key
    ON consents (participant_id, purpose, coalesce(recipient, ''));
