"""A partner's ledger over the API, and the rules of `POST /v1/sequences/unused`; no I/O."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from refnet.events.errors import PublishFailed, UnusedNotRecorded
from refnet.events.http_ledger import PATH, HttpUnusedLedger
from refnet.events.publisher import Publisher
from refnet.events.settings import Settings
from refnet.events.unused_numbers import (
    MAX_RANGE_NUMBERS,
    MAX_RANGES,
    MAX_REASON_CHARS,
    one_line_reason,
    within_limits,
)
from refnet.projections.audit.sequence_accounting import distinct_numbers
from refnet.services.api.deps import own_publisher
from refnet.services.api.routes.sequences import UnusedReport
from refnet.services.gateway.refusals import Refused
from tests.unit.test_unused_numbers import FakeProducer, events, open_spans, signer_at

BASE = "http://refnet.test/api"


class FakeApi:
    """Answers every post with `status`, and keeps what was posted."""

    def __init__(self, status: int = 201) -> None:
        self.status = status
        self.posted: list[tuple[httpx.Request, dict[str, Any]]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.posted.append((request, json.loads(request.content)))
        if self.status == 201:
            return httpx.Response(201, json={"publisher_id": "awo-en", "ranges": 1, "numbers": 1})
        field = {"field": "publisher_id", "reason": "not its own id"}
        error = {"code": "forbidden", "message": "no", "fields": [field]}
        return httpx.Response(self.status, json={"error": error})


def ledger(api: Any) -> HttpUnusedLedger:
    return HttpUnusedLedger(BASE, "rn_abc_secret", timeout=1, transport=httpx.MockTransport(api))


def unreachable(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


# ------------------------------------------------------------------------------- the client


def test_a_report_is_posted_with_the_token_under_the_base_url() -> None:
    api = FakeApi()
    ledger(api).record_unused("awo-en", [(0, 1), (5, 5)], "publish not confirmed: timed out")
    [(request, body)] = api.posted
    assert str(request.url) == f"{BASE}{PATH}"
    assert request.headers["authorization"] == "Bearer rn_abc_secret"
    assert body == {
        "publisher_id": "awo-en",
        "ranges": [{"first": 0, "last": 1}, {"first": 5, "last": 5}],
        "reason": "publish not confirmed: timed out",
    }


def test_a_report_too_large_for_one_request_goes_in_several() -> None:
    api = FakeApi()
    spans = [(n * 10, n * 10 + 1) for n in range(MAX_RANGES)] + [(0, 2 * MAX_RANGE_NUMBERS)]
    ledger(api).record_unused("awo-en", spans, "x")
    sizes = [len(body["ranges"]) for _, body in api.posted]
    assert sizes == [MAX_RANGES, 3]
    assert api.posted[1][1]["ranges"][-1] == {
        "first": 2 * MAX_RANGE_NUMBERS,
        "last": 2 * MAX_RANGE_NUMBERS,
    }


@pytest.mark.parametrize("status", [403, 422, 503])
def test_a_refusal_raises_with_the_api_s_reasons(status: int) -> None:
    with pytest.raises(UnusedNotRecorded, match=f"answered {status}: no; publisher_id: not its"):
        ledger(FakeApi(status)).record_unused("awo-en", [(0, 0)], "x")


def test_an_api_out_of_reach_raises() -> None:
    with pytest.raises(UnusedNotRecorded, match="did not answer"):
        ledger(unreachable).record_unused("awo-en", [(0, 0)], "x")


def test_an_unreachable_api_leaves_the_reservation_open_and_the_publish_fails(
    tmp_path: Path,
) -> None:
    path = tmp_path / "awo-en.sequence"
    signer = signer_at(path)
    fake: Any = FakeProducer(refuse=True)
    client = Publisher(Settings(), fake, signer_for=lambda _p: signer, ledger=ledger(unreachable))
    with pytest.raises(PublishFailed):
        client.publish(events(2))
    assert open_spans(path) == [(0, 2)]  # for the next process with a reachable API

    api = FakeApi()
    fake = FakeProducer(refuse=True)
    client = Publisher(Settings(), fake, signer_for=lambda _p: signer, ledger=ledger(api))
    with pytest.raises(PublishFailed):
        client.publish(events(1))
    assert [body["ranges"] for _, body in api.posted] == [[{"first": 2, "last": 2}]]
    assert open_spans(path) == [(0, 2)]  # held by this live process: not left behind


# ------------------------------------------------------------------------------- pure rules


def test_spans_are_cut_to_the_api_s_limits() -> None:
    assert list(within_limits([])) == []
    assert list(within_limits([(3, 3)])) == [[(3, 3)]]
    big = MAX_RANGE_NUMBERS
    assert list(within_limits([(0, big)])) == [[(0, big - 1), (big, big)]]
    pieces = list(within_limits([(n, n) for n in range(MAX_RANGES + 1)]))
    assert [len(p) for p in pieces] == [MAX_RANGES, 1]


@pytest.mark.parametrize(
    ("reason", "sent"),
    [
        ("publish not confirmed", "publish not confirmed"),
        ("line one\nline two\t!", "line one line two !"),
        ("nul\x00 and \ud800", "nul  and ?"),
        ("  \n ", "no reason given"),
        ("x" * 500, "x" * (MAX_REASON_CHARS - 3) + "..."),
    ],
)
def test_a_reason_is_sent_as_one_line_the_api_takes(reason: str, sent: str) -> None:
    assert one_line_reason(reason) == sent
    body = {"publisher_id": "awo-en", "ranges": [{"first": 0, "last": 0}], "reason": sent}
    UnusedReport.model_validate(json.loads(json.dumps(body)))


def test_numbers_are_counted_once_where_ranges_overlap() -> None:
    assert distinct_numbers([]) == 0
    assert distinct_numbers([(0, 9), (5, 14), (20, 20), (3, 4)]) == 16


def test_only_the_partner_s_own_publisher_id_passes() -> None:
    assert own_publisher("awo-en", "awo-en", "gateway") == "awo-en"
    for publisher_id in ("bobeq", "gateway"):
        with pytest.raises(Refused) as refused:
            own_publisher("awo-en", publisher_id, "gateway")
        assert refused.value.status == 403
        assert [p.field for p in refused.value.problems] == ["publisher_id"]
    with pytest.raises(Refused):  # a partner whose id is the gateway's reports nothing
        own_publisher("gateway", "gateway", "gateway")


def problems(body: dict[str, Any]) -> list[tuple[tuple[int | str, ...], str]]:
    with pytest.raises(ValidationError) as invalid:
        UnusedReport.model_validate(json.loads(json.dumps(body)))  # as the route reads it
    return [(e["loc"], e["msg"]) for e in invalid.value.errors()]


def report(**changes: Any) -> dict[str, Any]:
    body = {"publisher_id": "awo-en", "ranges": [{"first": 0, "last": 9}], "reason": "crash"}
    return body | changes


@pytest.mark.parametrize(
    ("changes", "where"),
    [
        ({"ranges": [{"first": 5, "last": 4}]}, ("ranges", 0, "last")),
        ({"ranges": [{"first": 0, "last": MAX_RANGE_NUMBERS}]}, ("ranges", 0, "last")),
        ({"ranges": [{"first": -1, "last": 4}]}, ("ranges", 0, "first")),
        ({"ranges": [{"first": "1", "last": 4}]}, ("ranges", 0, "first")),
        ({"ranges": [{"first": 1.0, "last": 4}]}, ("ranges", 0, "first")),
        ({"ranges": [{"first": True, "last": 4}]}, ("ranges", 0, "first")),
        ({"ranges": [{"first": 0, "last": 2**53}]}, ("ranges", 0, "last")),
        ({"ranges": [{"first": 0, "last": 0, "why": 1}]}, ("ranges", 0, "why")),
        ({"ranges": []}, ("ranges",)),
        ({"ranges": [{"first": 0, "last": 0}] * (MAX_RANGES + 1)}, ("ranges",)),
        ({"reason": ""}, ("reason",)),
        ({"reason": "x" * 201}, ("reason",)),
        ({"reason": "two\nlines"}, ("reason",)),
        ({"reason": "nul\x00"}, ("reason",)),
        ({"reason": "\ud800"}, ("reason",)),
        ({"publisher_id": "AWO EN"}, ("publisher_id",)),
        ({"extra": 1}, ("extra",)),
    ],
)
def test_a_bad_report_names_the_field(changes: dict[str, Any], where: tuple[Any, ...]) -> None:
    found = problems(report(**changes))
    assert [loc for loc, _ in found] == [where], found


def test_a_range_of_the_most_numbers_allowed_is_valid() -> None:
    last = MAX_RANGE_NUMBERS - 1
    parsed = UnusedReport.model_validate(report(ranges=[{"first": 0, "last": last}]))
    assert [(r.first, r.last) for r in parsed.ranges] == [(0, last)]
