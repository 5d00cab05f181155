"""Run by `test_light_client` with the Python of a fresh virtual environment that has only
`refnet-client` installed: publish through Kafka (signed with the partner's key) and
through the API (signed by its gateway), and print what happened as JSON.

It imports nothing from the tests or the server, so an import it needs that the client
does not bring fails here, as it would in a partner's system.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import refnet.events
from refnet.events.codec import decode
from refnet.events.http_client import EventsClient
from refnet.events.keystore import LocalKeys
from refnet.events.publisher import Publisher
from refnet.events.settings import Settings


def main(order: dict[str, Any]) -> dict[str, object]:
    over_kafka = [decode(json.dumps(e).encode()) for e in order["over_kafka"]]
    over_http = [decode(json.dumps(e).encode()) for e in order["over_http"]]
    keys = LocalKeys(Path(str(order["keys_dir"])))
    published = Publisher(Settings(), signer_for=keys.signer).publish(over_kafka)
    with EventsClient(str(order["base_url"]), str(order["token"])) as client:
        sent = client.send(over_http)
        again = client.send(over_http)  # idempotent by event id
    return {
        "package": refnet.events.__file__,
        "kafka_delivered": published.delivered,
        "http_accepted": sent.accepted,
        "http_duplicates_on_resend": again.duplicates,
    }


if __name__ == "__main__":
    sys.stdout.write(json.dumps(main(json.loads(sys.stdin.read()))) + "\n")
