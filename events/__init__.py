"""RefNet's event contract: envelope, catalogue, canonical codec, upcasters, publisher.

This package depends on Pydantic and confluent-kafka only; it knows nothing of
PostgreSQL or HTTP, so every process can import it.
"""
