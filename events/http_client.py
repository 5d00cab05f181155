"""A thin client for `POST /v1/events`: partners that publish over HTTPS, not Kafka.

The API's gateway signs what it accepts, so the events go unsigned, with the
partner's own token (`refnet tokens issue --role partner --partner ID`). Sending is
idempotent by event id: an event the API accepted before is answered `duplicate`
and not published again, so a batch whose answer was lost (a timeout, a dropped
connection, a 503) is simply sent again. 503 and 429 are retried after the
`Retry-After` the API gives; every other refusal raises `IngestRefused`, naming
each event and field at fault.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from refnet.events.catalogue import EventModel
from refnet.events.errors import Problem, PublishFailed, RefNetError

PATH = "/v1/events"
BATCH = 500  # the API takes up to 1,000 events (REFNET_INGEST_MAX_EVENTS) per request
_RETRIED = (429, 502, 503, 504)
_SIGNED_BY_THE_GATEWAY = {"publisher_id", "sequence", "signature"}


class IngestRefused(RefNetError):
    """The API refused a batch (4xx): its status, error code and the problems it named.

    Each problem's field is prefixed with the event's position in `send`'s input
    (`events[3].data.kind`), so the caller can find it."""

    def __init__(self, status: int, code: str, message: str, problems: list[Problem]) -> None:
        listed = "; ".join(str(p) for p in problems[:5])
        super().__init__(f"HTTP {status} {code}: {message}" + (f" ({listed})" if listed else ""))
        self.status, self.code, self.message, self.problems = status, code, message, problems


@dataclass
class Ingested:
    """What the API answered for all batches: counts, and each event id's status."""

    accepted: int = 0
    duplicates: int = 0
    statuses: dict[str, str] = field(default_factory=dict)  # event id -> accepted|duplicate


class EventsClient:
    """Send events to a RefNet API with a partner token; retries what may be retried."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 30.0,
        attempts: int = 8,
        longest_wait: float = 60.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = httpx.Client(
            base_url=base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
            transport=transport,
        )
        self._attempts = attempts
        self._longest_wait = longest_wait
        self._sleep = sleep

    def __enter__(self) -> EventsClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def send(self, events: Iterable[EventModel], batch: int = BATCH) -> Ingested:
        """Send `events` in batches of `batch`; return once the log confirmed every one."""
        given = list(events)
        result = Ingested()
        for start in range(0, len(given), batch):
            answer = self._post(given[start : start + batch], start)
            result.accepted += int(answer["accepted"])
            result.duplicates += int(answer["duplicates"])
            for outcome in answer["events"]:
                result.statuses[str(outcome["event_id"])] = str(outcome["status"])
        return result

    def _post(self, events: Sequence[EventModel], offset: int) -> dict[str, Any]:
        body = [
            e.model_dump(mode="json", exclude_none=True, exclude=_SIGNED_BY_THE_GATEWAY)
            for e in events
        ]
        wait, last = 1.0, "no attempt"
        for attempt in range(1, self._attempts + 1):
            try:
                response = self._client.post(PATH, json=body)
            except httpx.TransportError as exc:  # the answer may be lost: resending is safe
                last = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code == 202:
                    answer: dict[str, Any] = response.json()
                    return answer
                if response.status_code not in _RETRIED:
                    raise _refusal(response, offset)
                last = f"HTTP {response.status_code}"
                wait = _retry_after(response, wait)
            if attempt < self._attempts:
                self._sleep(min(wait, self._longest_wait))
                wait = min(wait * 2, self._longest_wait)
        raise PublishFailed(
            f"{len(events)} events not accepted after {self._attempts} attempts ({last}); "
            "sending the same events again later is safe"
        )


def _retry_after(response: httpx.Response, default: float) -> float:
    """The seconds `Retry-After` asks for (the API sends a number), else `default`."""
    given = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(given))
    except ValueError:
        return default


def _refusal(response: httpx.Response, offset: int) -> IngestRefused:
    try:
        error = response.json().get("error", {})
    except ValueError:
        error = {}
    if not isinstance(error, dict):
        error = {}
    problems = []
    for item in error.get("fields") or []:
        index = item.get("index")
        where = f"events[{offset + index}]." if isinstance(index, int) else ""
        problems.append(Problem(where + str(item.get("field", "")), str(item.get("reason", ""))))
    message = str(error.get("message") or response.text[:200])
    return IngestRefused(response.status_code, str(error.get("code", "error")), message, problems)
