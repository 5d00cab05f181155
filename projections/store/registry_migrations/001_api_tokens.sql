-- Bearer tokens of the HTTP API. Unlike the read model these are NOT derived
-- from the event log, so they live in the registry schema, which a rebuild of
-- the read model never touches.
--
-- A token is shown once, as `rn_<token_id>_<secret>`; only a SHA-256 digest of
-- the secret is kept. A plain, fast hash is enough here because the secret is
-- 32 random bytes (256 bits) chosen by us, not a password chosen by a person:
-- nobody can guess it from the digest, so a slow, salted password hash (bcrypt,
-- argon2) would add cost to every request and no protection.
CREATE TABLE IF NOT EXISTS api_tokens (
    token_id text PRIMARY KEY CHECK (token_id ~ '^[a-z0-9]{8,32}$'),
    secret_sha256 bytea NOT NULL CHECK (octet_length(secret_sha256) = 32),
    role text NOT NULL CHECK (role IN ('coordinator', 'auditor', 'partner')),
    partner_id text CHECK (partner_id ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    label text CHECK (char_length(label) <= 200),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz,
    revoked_at timestamptz,
    -- A partner token is bound to exactly one partner; no other role is.
    CONSTRAINT api_tokens_partner_scope CHECK ((role = 'partner') = (partner_id IS NOT NULL)),
    CONSTRAINT api_tokens_expiry_after_creation CHECK (expires_at IS NULL OR expires_at > created_at)
);
