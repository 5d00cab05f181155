"""Bodies no client sends: oversized, chunked, nested, not UTF-8, not JSON, NUL, surrogates."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.integration.hostile.support import MAX_BYTES, Server, event_json, refused

pytestmark = pytest.mark.integration


def test_a_body_over_the_limit_is_413(server: Server) -> None:
    before = server.world.log_size()
    with server.client() as http:
        huge = b"[" + b" " * MAX_BYTES + b"]"
        answer = http.post("/v1/events", content=huge, headers=server.auth("partner"))

    error = refused(answer, 413, "too_large")
    assert str(MAX_BYTES) in error["message"]
    assert server.world.log_size() == before


def test_a_chunked_body_without_length_is_cut_off_at_the_limit(server: Server) -> None:
    def chunks(total: int) -> Iterator[bytes]:
        yield b"["
        for _ in range(total // (16 * 1024)):
            yield b" " * 16 * 1024
        yield b"]"

    before = server.world.log_size()
    with server.client() as http:
        answer = http.post(
            "/v1/events", content=chunks(2 * MAX_BYTES), headers=server.auth("partner")
        )
        valid = json.dumps(event_json()).encode()
        small = http.post("/v1/events", content=iter([valid]), headers=server.auth("partner"))

    assert answer.request.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in answer.request.headers
    refused(answer, 413, "too_large")
    # The same way of sending, within the limit, is read and published.
    assert small.request.headers["transfer-encoding"] == "chunked"
    assert small.status_code == 202, small.text
    assert server.world.log_size() == before + 1


@pytest.mark.parametrize(
    "body",
    [b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 40_000 + b"1" + b"}" * 40_000],
    ids=["100k arrays", "40k objects"],
)
def test_deeply_nested_json_is_400(server: Server, body: bytes) -> None:
    assert len(body) <= MAX_BYTES
    with server.client() as http:
        answer = http.post("/v1/events", content=body, headers=server.auth("partner"))

    refused(answer, 400, "too_deep")


@pytest.mark.parametrize(
    "body",
    [
        json.dumps(event_json()).replace("Netzwerk", "Netzw\u00e9rk").encode("latin-1"),
        json.dumps(event_json()).encode("utf-16"),
        b'{"type": "participant.enrolled", "site": "\xc3\x28"}',
    ],
    ids=["latin-1", "utf-16", "broken sequence"],
)
def test_a_body_that_is_not_utf8_is_400_naming_the_encoding(server: Server, body: bytes) -> None:
    with server.client() as http:
        answer = http.post("/v1/events", content=body, headers=server.auth("partner"))

    error = refused(answer, 400, "bad_encoding")
    assert "UTF-8" in error["message"]


@pytest.mark.parametrize("body", [b"42", b'"an event"', b"null", b"true", b"[1, [2]]"])
def test_json_that_is_not_an_object_or_array_of_objects_is_422(server: Server, body: bytes) -> None:
    with server.client() as http:
        answer = http.post("/v1/events", content=body, headers=server.auth("partner"))

    error = refused(answer, 422, "events_invalid")
    assert {(p["index"], p["field"]) for p in error["fields"]} == {
        (n, "event") for n in range(len(json.loads(body)) if body.startswith(b"[") else 1)
    }


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
def test_a_body_declared_as_something_else_than_json_is_415(
    server: Server, content_type: str
) -> None:
    before = server.world.log_size()
    with server.client() as http:
        answer = http.post(
            "/v1/events",
            content=json.dumps(event_json()).encode(),
            headers=server.auth("partner") | {"Content-Type": content_type},
        )

    error = refused(answer, 415, "unsupported_media_type")
    assert "application/json" in error["message"]
    assert server.world.log_size() == before


@pytest.mark.parametrize(
    "content_type",
    [None, "application/json", "application/json; charset=utf-8", "application/vnd.refnet+json"],
)
def test_json_without_or_with_a_json_content_type_is_read(
    server: Server, content_type: str | None
) -> None:
    headers = server.auth("partner")
    if content_type is not None:
        headers["Content-Type"] = content_type
    with server.client() as http:
        request = http.build_request(
            "POST", "/v1/events", content=json.dumps(event_json()).encode(), headers=headers
        )
        assert request.headers.get("content-type") == content_type
        answer = http.send(request)

    assert answer.status_code == 202, answer.text
    assert answer.json()["accepted"] == 1


def test_text_holding_nul_is_422_naming_the_field_and_publishes_nothing(server: Server) -> None:
    # PostgreSQL's text and jsonb cannot hold U+0000: an event carrying one would stop
    # the projection at every start, so the gateway refuses it at the door.
    bad = event_json()
    bad["data"]["programme"] = "Netzwerk\u0000Integration"
    fine = event_json()
    before = server.world.log_size()
    with server.client() as http:
        answer = http.post("/v1/events", json=[fine, bad], headers=server.auth("partner"))

    error = refused(answer, 422, "events_invalid")
    assert [(p["index"], p["field"]) for p in error["fields"]] == [(1, "data.programme")]
    assert server.world.log_size() == before


def test_lone_surrogates_are_422_in_valid_utf8_json(server: Server) -> None:
    # `"\ud800"` is valid JSON but not a character; quoting it back must not break the answer.
    event = event_json()
    raw = json.dumps(event).replace(event["event_id"], "\\ud800")
    raw = raw.replace('"Netzwerk Integration"', '"\\udfff"')
    with server.client() as http:
        answer = http.post("/v1/events", content=raw.encode(), headers=server.auth("partner"))

    error = refused(answer, 422, "events_invalid")
    assert {p["field"] for p in error["fields"]} == {"event_id", "data.programme"}
    answer.content.decode("utf-8")  # strict: raises if the body is not UTF-8
