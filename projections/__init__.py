"""Folding the shared log into the read model, and proving it from the log.

Four rooms, each importing only those before it: `fold` (the pure outcome
rules), `store` (the read model in PostgreSQL: schema, migrations, the store
that writes rows and offsets in one transaction, queries), `worker` (the
faust app that projects the live log) and `audit` (replay, as-of, timelines,
integrity, rebuild). Depends on `refnet.events`; nothing here imports services.
"""
