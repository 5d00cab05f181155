-- Ed25519 public keys that events are verified against. A partner signs what it
-- publishes straight to Kafka with its own keys; the HTTP gateway signs what it
-- accepts with a gateway key, attesting the partner that its token proved.
--
-- Rotation: a retired key still verifies events recorded before `retired_at`,
-- so history signed with it stays valid; nothing recorded later may use it.
CREATE TABLE IF NOT EXISTS signing_keys (
    key_id text PRIMARY KEY CHECK (key_id ~ '^[0-9a-f]{16}$'),
    signer text NOT NULL CHECK (signer IN ('partner', 'gateway')),
    partner_id text CHECK (partner_id ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    public_key bytea NOT NULL UNIQUE CHECK (octet_length(public_key) = 32),
    label text CHECK (char_length(label) <= 200),
    registered_at timestamptz NOT NULL DEFAULT now(),
    retired_at timestamptz,
    CONSTRAINT signing_keys_owner CHECK ((signer = 'partner') = (partner_id IS NOT NULL))
);
CREATE INDEX IF NOT EXISTS signing_keys_partner ON signing_keys (partner_id);

-- Every event_id the gateway has published, so a re-post is answered from here
-- and publishes nothing new. The digest tells a re-post from a different event
-- reusing an id.
CREATE TABLE IF NOT EXISTS ingested_events (
    event_id uuid PRIMARY KEY,
    partner_id text NOT NULL,
    body_sha256 bytea NOT NULL CHECK (octet_length(body_sha256) = 32),
    accepted_at timestamptz NOT NULL DEFAULT now()
);

-- The next sequence number of each publisher that keeps its counter here (the
-- gateway). Numbers are reserved in blocks before use, so none is ever reused.
CREATE TABLE IF NOT EXISTS publisher_sequences (
    publisher_id text PRIMARY KEY CHECK (publisher_id ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    next_sequence bigint NOT NULL DEFAULT 0 CHECK (next_sequence >= 0)
);
