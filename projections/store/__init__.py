"""The read model in PostgreSQL: connections, migrations, the outcome store, queries, views.

The store applies a batch and moves the offsets in one transaction; queries
answer the views the API and the CLI show. Migrations cover the read model and
the registry (tokens, keys, the gateway ledger, heartbeats, unused numbers).
"""
