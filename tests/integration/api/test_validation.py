"""The HTTP API's validation: bad parameters are 422 naming them, in one error shape."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.api.support import Tokens, assert_error, bearer, fields_of

pytestmark = pytest.mark.integration


# -- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("from=yesterday", {"from"}),
        ("to=2024-13-01", {"to"}),
        ("from=2024-02-01&to=2024-01-01", {"to"}),
        ("from=2024-01-01&to=2024-01-01", {"to"}),
        ("from=2024-01-01T02:00:00%2B02:00&to=2024-01-01T00:00:00Z", {"to"}),
        ("from=x&to=y", {"from", "to"}),
    ],
)
async def test_bad_periods_are_422_naming_the_parameter(
    client: httpx.AsyncClient, tokens: Tokens, query: str, named: set[str]
) -> None:
    response = await client.get(f"/v1/network/outcomes?{query}", headers=bearer(tokens.auditor))

    assert fields_of(response) == named


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("", {"direction"}),
        ("direction=sideways", {"direction"}),
        ("direction=inbox&limit=0", {"limit"}),
        ("direction=inbox&limit=1001", {"limit"}),
        ("direction=inbox&limit=ten", {"limit"}),
        ("direction=inbox&offset=-1", {"offset"}),
        ("direction=up&limit=0", {"direction", "limit"}),
    ],
)
async def test_bad_referral_queries_are_422_naming_the_parameter(
    client: httpx.AsyncClient, tokens: Tokens, query: str, named: set[str]
) -> None:
    path = f"/v1/partners/{tokens.partner_id}/referrals?{query}"

    response = await client.get(path, headers=bearer(tokens.partner))

    assert fields_of(response) == named


async def test_a_malformed_partner_id_is_422_naming_it(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    response = await client.get("/v1/partners/AWO_EN/caseload", headers=bearer(tokens.coordinator))

    assert fields_of(response) == {"partner_id"}


async def test_unknown_paths_answer_in_the_same_error_shape(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    response = await client.get("/v1/nothing-here", headers=bearer(tokens.coordinator))

    assert_error(response, 404, "not_found")
