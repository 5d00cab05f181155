-- Participants' data keys (`refnet.services.registry.data_keys`), only ever wrapped by
-- the key-encryption key. In the registry, never in the read model: a rebuild or a
-- copy of the read model never carries a key. A destroyed key keeps its row (key_id,
-- when and why) so the destruction stays provable and no new key is made for the
-- participant; its wrapped bytes are gone.
CREATE TABLE IF NOT EXISTS data_keys (
    participant_id text PRIMARY KEY,
    key_id text NOT NULL UNIQUE,
    wrapped bytea,
    kek_id text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    destroyed_at timestamptz,
    destroyed_reason text,
    CONSTRAINT data_keys_wrapped_until_destroyed
        CHECK ((destroyed_at IS NULL) = (wrapped IS NOT NULL))
);

-- The key-encryption key the registry was first used with, by its public id
-- (`kek_id`): a process started with another KEK is stopped at start.
CREATE TABLE IF NOT EXISTS key_encryption_key (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    kek_id text NOT NULL,
    first_used_at timestamptz NOT NULL DEFAULT now()
);
