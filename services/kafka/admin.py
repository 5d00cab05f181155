"""Talking to the broker as its administrator: a quiet admin client, and the one broker failure.

    LogUnavailable         (refnet.events.errors)
    └── BrokerUnavailable  the broker does not answer, or refused an admin request

Used by production code (topics, principals and ACLs) and by the local stack alike.
"""

from __future__ import annotations

import logging

from confluent_kafka.admin import AdminClient

from refnet.events.errors import LogUnavailable

# librdkafka's own complaints (a refused connection, many times a second) go nowhere:
# the caller reports the failure once, in its own words.
_QUIET = logging.getLogger("refnet.kafka")
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False


class BrokerUnavailable(LogUnavailable):
    """The Kafka broker did not start or does not answer, or its topics could not be made."""


def admin_client(bootstrap: str) -> AdminClient:
    """An AdminClient that logs nothing to the console."""
    return AdminClient({"bootstrap.servers": bootstrap}, logger=_QUIET)


def quiet_logger() -> logging.Logger:
    """The logger handed to librdkafka clients, so refused connections print nothing."""
    return _QUIET
