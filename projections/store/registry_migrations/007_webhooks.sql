-- Partners' webhook endpoints and every notice owed to them. Not derived from the
-- log alone (a delivery's attempts and answers are not events), so in the registry:
-- a rebuild of the read model leaves them alone.
CREATE TABLE IF NOT EXISTS webhook_endpoints (
    endpoint_id text PRIMARY KEY,
    partner_id text NOT NULL,
    url text NOT NULL,
    -- the Standard Webhooks signing secret (whsec_...): an HMAC key, no personal data
    secret text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- the first failure since the last success; a day of failures disables the endpoint
    failing_since timestamptz,
    disabled_at timestamptz,
    UNIQUE (partner_id, url)
);

-- One row per notice and endpoint. The webhook id is derived from the event and the
-- notice, so reading the log again after a crash enqueues nothing twice.
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    webhook_id text NOT NULL,
    endpoint_id text NOT NULL REFERENCES webhook_endpoints ON DELETE CASCADE,
    notice_type text NOT NULL,
    payload jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered')),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_attempt_at timestamptz,
    last_status integer,          -- the receiver's HTTP status (null: no answer)
    last_error text,
    delivered_at timestamptz,
    PRIMARY KEY (endpoint_id, webhook_id)
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_due
    ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
