"""URLs no client sends: long parameters, unknown query parameters, bad period bounds."""

from __future__ import annotations

import pytest

from tests.integration.hostile.support import (
    LONG,
    NOBODY,
    Server,
    _unstamped,
    event_json,
    read_operations,
    reader,
    refused,
    valid_url,
)

pytestmark = pytest.mark.integration


def test_long_parameters_on_read_routes_are_422_naming_them(server: Server) -> None:
    seen = set()
    with server.client() as http:
        for path, parameters in read_operations(server):
            url, query = valid_url(path, parameters)
            for parameter in parameters:
                name = parameter["name"]
                if parameter["in"] == "path":
                    target, params = path.replace(f"{{{name}}}", "a" * LONG), query
                else:
                    target, params = url, query | {name: "9" * LONG}
                answer = http.get(target, params=params, headers=server.auth(reader(path)))
                error = refused(answer, 422, "invalid_request")
                assert name in {p["field"] for p in error["fields"]}, (path, name, error)
                seen.add(name)

    assert seen >= {"partner_id", "from", "to", "limit", "offset", "direction", "state"}


def test_unknown_query_parameters_are_ignored_everywhere(server: Server) -> None:
    with server.client() as http:
        for path, parameters in read_operations(server):
            url, query = valid_url(path, parameters)
            if path in ("/v1/audit/outcomes", "/v1/audit/esf"):  # as of now unless told: pin it
                query |= {"as_of": "2025-01-01"}
            plain = http.get(url, params=query, headers=server.auth(reader(path)))
            extra = query | {"unknown": "1", "limit_": "x", "partner_id": "x", "pad": "y" * LONG}
            noisy = http.get(url, params=extra, headers=server.auth(reader(path)))
            found = 404 if NOBODY in url else 200
            assert plain.status_code == noisy.status_code == found, (path, noisy.text)
            if path != "/v1/health":  # its lag moves between two calls
                assert _unstamped(plain.json()) == _unstamped(noisy.json()), path
        posted = http.post(
            "/v1/events", params={"unknown": "1"}, json=event_json(), headers=server.auth("partner")
        )

    assert posted.status_code == 202, posted.text


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("from=9999-12-31T23:59:59-23:59", "from"),  # valid, but past the UTC calendar
        ("to=0001-01-01T00:00:00%2B14:00", "to"),
        ("from=0.5", "from"),  # a number, not a Unix timestamp
        ("to=99999999999999", "to"),
        ("from=2024-02-30", "from"),
        ("to=2024-01-01T25:00:00", "to"),
    ],
)
def test_period_bounds_that_are_no_iso_8601_utc_time_are_422(
    server: Server, query: str, named: str
) -> None:
    with server.client() as http:
        answer = http.get(f"/v1/network/outcomes?{query}", headers=server.auth("coordinator"))

    error = refused(answer, 422, "invalid_request")
    assert [p["field"] for p in error["fields"]] == [named]
