"""A partner's ledger of unused sequence numbers: the API's `POST /v1/sequences/unused`.

For clients that publish straight to Kafka and have no registry access. A report
returns only once the API answered that it recorded every range; otherwise it
raises `UnusedNotRecorded`, and the publisher keeps the reservation open.
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from refnet.events.errors import UnusedNotRecorded
from refnet.events.unused_numbers import one_line_reason, within_limits

PATH = "/v1/sequences/unused"


class HttpUnusedLedger:
    """`UnusedLedger` over the API, with the partner's own token (`refnet tokens issue`)."""

    def __init__(
        self,
        base_url: str,
        token: str,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._base_url = base_url
        self._headers = {"Authorization": f"Bearer {token}"}
        self._timeout = timeout
        self._transport = transport

    def record_unused(
        self, publisher_id: str, spans: Sequence[tuple[int, int]], reason: str
    ) -> None:
        text = one_line_reason(reason)
        client = httpx.Client(
            base_url=self._base_url,
            headers=self._headers,
            timeout=self._timeout,
            transport=self._transport,
        )
        with client:
            # Reports too large for one request go in several; one refused or lost
            # leaves the whole reservation open, and ranges recorded twice do no harm.
            for ranges in within_limits(spans):
                body: dict[str, object] = {
                    "publisher_id": publisher_id,
                    "ranges": [{"first": first, "last": last} for first, last in ranges],
                    "reason": text,
                }
                _check(_post(client, body))


def _post(client: httpx.Client, body: dict[str, object]) -> httpx.Response:
    try:
        return client.post(PATH, json=body)
    except httpx.HTTPError as exc:
        raise UnusedNotRecorded(f"the API did not answer {PATH}: {exc!r}") from exc


def _check(answer: httpx.Response) -> None:
    if answer.status_code in (200, 201):
        return
    try:
        error = answer.json()["error"]
        detail = error["message"] + "".join(
            f"; {f['field']}: {f['reason']}" for f in error.get("fields", [])
        )
    except (ValueError, KeyError, TypeError):
        detail = answer.text[:200]
    raise UnusedNotRecorded(f"{PATH} answered {answer.status_code}: {detail}")
