"""What the network itself records (erasure requests, key destructions), published once each.

Such events name `partner_id` NETWORK and go through the same gateway as
`POST /v1/events`: validated, signed with the gateway's key, confirmed by the
broker, remembered in the registry's ingestion ledger. Their event ids are
fixed (uuid5 of what they record), so asking twice, or a second run of
`shred-due`, publishes nothing new: the ledger answers the repeat as a duplicate
(same body) or as a reused id (the same fact with a later timestamp).

The CLI builds its own gateway (`network_gateway`) with the key and publisher id
of the API's, so both share one sequence of numbers, kept in PostgreSQL blocks.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import asyncpg

from refnet.events.catalogue import NETWORK
from refnet.events.publisher import AsyncPublisher
from refnet.events.settings import Settings
from refnet.events.signing import Signer
from refnet.projections.store.database import Conn, connect_pool
from refnet.projections.store.migrate import migrate
from refnet.services.gateway.ingest import Gateway
from refnet.services.gateway.refusals import Refused
from refnet.services.gateway.sequence_blocks import HolderSession
from refnet.services.registry.data_keys import PostgresDataKeyStore, check_kek, load_kek
from refnet.services.registry.keys import ensure_gateway_key

PRIVACY_NAMESPACE = uuid.UUID("9d2f4b61-7c3e-4a8d-b5e0-1f6a2c8d4e97")
"""uuid5 namespace of the network's privacy events: `uuid5(NS, f"{what}:{pid}[:{key_id}]")`."""
NETWORK_SITE = "network"
"""The site of what the network records: the coordinator acts for no one site, and a fixed
site keeps the event the same however the read model changes meanwhile."""


def network_event_id(what: str, *parts: str) -> str:
    return str(uuid.uuid5(PRIVACY_NAMESPACE, ":".join((what, *parts))))


def network_event(
    event_id: str, event_type: str, participant_id: str, data: Mapping[str, Any], now: datetime
) -> dict[str, Any]:
    """The event as a publisher would post it to `POST /v1/events`, by the network."""
    return {
        "event_id": event_id,
        "type": event_type,
        "partner_id": NETWORK,
        "site": NETWORK_SITE,
        "participant_id": participant_id,
        "occurred_at": now.isoformat(),
        "recorded_at": now.isoformat(),
        "data": dict(data),
    }


async def record_once(gateway: Gateway, conn: Conn, event: dict[str, Any]) -> bool:
    """Publish `event` for the network; False when its id was already published."""
    try:
        result = await gateway.ingest(conn, NETWORK, [event])
    except Refused as refused:
        if refused.code == "event_id_reused":  # the same fact, recorded earlier
            return False
        raise
    return result.accepted == 1


@dataclass(frozen=True)
class AsNetwork:
    """What the CLI needs to act as the network: its gateway, a connection, the data keys."""

    gateway: Gateway
    conn: Conn
    keys: PostgresDataKeyStore


@asynccontextmanager
async def network_gateway(settings: Settings) -> AsyncIterator[AsNetwork]:
    """A gateway signing as the API's does, a migrated connection and the data-key store.

    The key-encryption key is loaded first: without it (KekMissing) nothing is published.
    """
    kek = load_kek(settings)
    pool = await connect_pool(settings, min_size=1, max_size=3)
    gateway: Gateway | None = None
    try:
        async with pool.acquire() as proxy:
            conn = cast(asyncpg.Connection, proxy)  # the proxy forwards every method
            await migrate(conn, settings.read_model_schema, settings.registry_schema)
            await check_kek(conn, kek)
            key = await ensure_gateway_key(conn, settings.gateway_key_file)
            signer = Signer(key, settings.gateway_publisher_id)
            timeout_ms = int(settings.ingest_publish_timeout * 1000)
            publisher = AsyncPublisher(settings, **{"message.timeout.ms": timeout_ms})
            keys = PostgresDataKeyStore(pool, kek)
            gateway = Gateway(signer, publisher, HolderSession(settings), keys)
            yield AsNetwork(gateway, conn, keys)
    finally:
        if gateway is not None:
            await gateway.close(pool)
        await pool.close()
