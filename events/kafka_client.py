"""How every Kafka client built from Settings connects: the loopback listener, or SASL/SCRAM.

With `REFNET_KAFKA_SASL_USERNAME` set, clients log in on the SASL listener as
that principal, so the broker's ACLs decide what they may do: the projection
worker runs as `refnet-projections`, the only principal that reads the log.
"""

from __future__ import annotations

from typing import Any

from refnet.events.settings import Settings

SECURITY_PROTOCOL = "SASL_PLAINTEXT"
MECHANISM = "SCRAM-SHA-512"


def uses_sasl(settings: Settings) -> bool:
    return settings.kafka_sasl_username is not None


def bootstrap(settings: Settings) -> str:
    return settings.kafka_sasl_bootstrap if uses_sasl(settings) else settings.kafka_bootstrap


def client_config(settings: Settings) -> dict[str, Any]:
    """librdkafka's connection and login settings for `settings`."""
    config: dict[str, Any] = {"bootstrap.servers": bootstrap(settings)}
    if settings.kafka_sasl_username is not None:
        config |= login(settings.kafka_sasl_username, settings.kafka_sasl_password or "")
    return config


def login(username: str, password: str) -> dict[str, str]:
    """librdkafka's SASL/SCRAM login as `username`: the one place these settings are spelt."""
    return {
        "security.protocol": SECURITY_PROTOCOL,
        "sasl.mechanism": MECHANISM,
        "sasl.username": username,
        "sasl.password": password,
    }
