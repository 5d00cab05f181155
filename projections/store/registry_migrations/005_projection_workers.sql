-- Each projection worker's heartbeat and counters, for /v1/health and
-- `refnet stack status`. Not derived from the log, so it lives in the registry:
-- a rebuild of the read model leaves it alone. A row of a worker that stopped
-- stays until it is pruned; its stale heartbeat says it is gone.
CREATE TABLE IF NOT EXISTS projection_workers (
    worker_id text PRIMARY KEY,
    consumer_group text NOT NULL,
    host text NOT NULL,
    pid integer NOT NULL,
    started_at timestamptz NOT NULL,
    heartbeat_at timestamptz NOT NULL,
    partitions integer[] NOT NULL DEFAULT '{}',
    batches bigint NOT NULL DEFAULT 0,
    applied bigint NOT NULL DEFAULT 0,
    -- batches refused because they did not continue the stored offsets; each
    -- was followed by a seek back to the offsets read from PostgreSQL
    refused_batches bigint NOT NULL DEFAULT 0,
    last_refusal text,
    -- how long the worker has failed to apply anything it holds (0: not stuck)
    stuck_seconds double precision NOT NULL DEFAULT 0,
    last_error text
);
CREATE INDEX IF NOT EXISTS projection_workers_group ON projection_workers (consumer_group);
