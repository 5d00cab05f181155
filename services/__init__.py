"""The faces and edges of RefNet: API, gateway, registry, Kafka admin, imports, archives, CLI.

Rooms: `api` (HTTP routes), `gateway` (signed ingestion over HTTP), `registry`
(tokens, keys, the record of unused numbers), `kafka` (topics, principals and
ACLs: what production needs of the broker), `archive`, `imports` (CSV, JSONL),
`demo`, `localstack` (only the local stack; only `cli` may use it) and `cli`.
Nothing imports `cli` or `localstack` but `cli` itself.
"""
