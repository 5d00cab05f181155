"""The light client's `POST /v1/events`: what it sends, what it retries, what it raises.

The API is an httpx MockTransport here; the integration test (`test_light_client`)
sends through a real server into a real log.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from refnet.events.errors import PublishFailed
from refnet.events.http_client import EventsClient, IngestRefused
from tests.unit.esf_history import enrolled

Handler = Callable[[httpx.Request], httpx.Response]


def accepted(request: httpx.Request) -> httpx.Response:
    sent = json.loads(request.content)
    events = [
        {"index": n, "event_id": e["event_id"], "status": "accepted"} for n, e in enumerate(sent)
    ]
    return httpx.Response(202, json={"accepted": len(sent), "duplicates": 0, "events": events})


def client(handler: Handler, waits: list[float], attempts: int = 8) -> EventsClient:
    return EventsClient(
        "http://api.test", "rn_token", transport=httpx.MockTransport(handler),
        sleep=waits.append, attempts=attempts,
    )  # fmt: skip


def test_events_go_unsigned_with_the_token_in_batches() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return accepted(request)

    events = [enrolled() for _ in range(5)]
    result = client(handler, []).send(events, batch=2)
    assert [len(json.loads(r.content)) for r in seen] == [2, 2, 1]
    assert {r.headers["authorization"] for r in seen} == {"Bearer rn_token"}
    assert {r.url.path for r in seen} == {"/v1/events"}
    body = json.loads(seen[0].content)[0]
    assert not {"publisher_id", "sequence", "signature"} & body.keys()
    assert result.accepted == 5 and set(result.statuses) == {str(e.event_id) for e in events}


def test_a_503_is_sent_again_after_its_retry_after_and_a_lost_answer_at_once() -> None:
    answers: list[Handler] = [
        lambda _r: httpx.Response(503, headers={"Retry-After": "7"}, json={"error": {}}),
        lambda _r: (_ for _ in ()).throw(httpx.ConnectError("refused")),
        accepted,
    ]
    waits: list[float] = []
    result = client(lambda r: answers.pop(0)(r), waits).send([enrolled()])
    assert result.accepted == 1 and answers == []
    assert waits == [7.0, 14.0]  # the API's wait, then doubling from it


def test_a_refusal_names_each_event_and_field_at_fault() -> None:
    def handler(_request: httpx.Request) -> httpx.Response:
        fields = [{"field": "data.kind", "reason": "not a placement kind", "index": 1}]
        error = {"code": "events_invalid", "message": "1 event is invalid", "fields": fields}
        return httpx.Response(422, json={"error": error})

    with pytest.raises(IngestRefused) as refused:
        client(handler, []).send([enrolled() for _ in range(4)], batch=2)
    assert refused.value.status == 422 and refused.value.code == "events_invalid"
    assert [str(p) for p in refused.value.problems] == ["events[1].data.kind: not a placement kind"]


def test_after_the_last_attempt_it_fails_and_says_resending_is_safe() -> None:
    waits: list[float] = []
    with pytest.raises(PublishFailed, match="after 3 attempts .HTTP 503.; sending the same"):
        client(lambda _r: httpx.Response(503), waits, attempts=3).send([enrolled()])
    assert waits == [1.0, 2.0]
