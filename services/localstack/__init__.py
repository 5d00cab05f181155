"""The local stack only: the broker from Maven-resolved jars, PostgreSQL, background processes.

Only the CLI may import this room; production code uses `services.kafka` instead.
"""
