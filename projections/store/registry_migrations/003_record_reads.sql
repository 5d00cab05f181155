-- Every read of one participant's record by a person, as PRODUCT.md requires:
-- who (the token and its role), when, and what. Kept in the registry, beside
-- the tokens, because it is not derived from the log and survives rebuilds.
CREATE TABLE IF NOT EXISTS record_reads (
    read_id bigserial PRIMARY KEY,
    read_at timestamptz NOT NULL DEFAULT now(),
    token_id text NOT NULL,
    role text NOT NULL,
    partner_id text,
    participant_id text NOT NULL,
    what text NOT NULL
);
CREATE INDEX IF NOT EXISTS record_reads_participant ON record_reads (participant_id, read_at);
