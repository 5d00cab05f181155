"""The HTTP API's authentication and authorisation: who may read what."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.api.support import ReadModel, Tokens, assert_error, bearer, rid, utc

pytestmark = pytest.mark.integration


# -- authentication ------------------------------------------------------------------------

PROTECTED = [
    "/v1/network/outcomes",
    "/v1/partners/awo-en/caseload",
    "/v1/partners/awo-en/referrals?direction=inbox",
    "/v1/health",
]


@pytest.mark.parametrize("path", PROTECTED)
async def test_no_token_is_401_with_a_bearer_challenge(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path)

    assert_error(response, 401, "unauthenticated")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("path", PROTECTED)
@pytest.mark.parametrize(
    "which", ["garbage", "unknown id", "wrong secret", "expired", "revoked", "basic scheme"]
)
async def test_bad_expired_or_revoked_token_is_401(
    client: httpx.AsyncClient, tokens: Tokens, path: str, which: str
) -> None:
    good_id = tokens.coordinator.split("_")[1]
    headers = {
        "garbage": bearer("not-a-token"),
        "unknown id": bearer(f"rn_{'0' * 12}_{'A' * 43}"),
        "wrong secret": bearer(f"rn_{good_id}_{'A' * 43}"),
        "expired": bearer(tokens.expired),
        "revoked": bearer(tokens.revoked),
        "basic scheme": {"Authorization": "Basic dXNlcjpwYXNz"},
    }[which]

    response = await client.get(path, headers=headers)

    assert_error(response, 401, "unauthenticated")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


# -- authorisation -------------------------------------------------------------------------


async def test_partner_reads_its_own_views_only(
    client: httpx.AsyncClient, tokens: Tokens, rows: ReadModel
) -> None:
    own, other = tokens.partner_id, rid("partner")
    mine = await rows.participant("schwelm", utc(2024, 5, 1))
    await rows.link(own, mine, "enrolled", utc(2024, 5, 1))
    theirs = await rows.participant("witten", utc(2024, 5, 2))
    await rows.link(other, theirs, "enrolled", utc(2024, 5, 2))
    headers = bearer(tokens.partner)

    caseload = await client.get(f"/v1/partners/{own}/caseload", headers=headers)
    inbox = await client.get(f"/v1/partners/{own}/referrals?direction=inbox", headers=headers)
    foreign_caseload = await client.get(f"/v1/partners/{other}/caseload", headers=headers)
    foreign_refs = await client.get(
        f"/v1/partners/{other}/referrals?direction=outbox", headers=headers
    )
    network = await client.get("/v1/network/outcomes", headers=headers)

    assert caseload.status_code == 200
    assert [e["participant_id"] for e in caseload.json()] == [mine]
    assert inbox.status_code == 200 and inbox.json() == []
    assert_error(foreign_caseload, 403, "forbidden")
    assert_error(foreign_refs, 403, "forbidden")
    assert_error(network, 403, "forbidden")


async def test_coordinator_reads_everything(
    client: httpx.AsyncClient, tokens: Tokens, rows: ReadModel
) -> None:
    partner = rid("partner")
    person = await rows.participant("bochum", utc(2024, 6, 1))
    await rows.link(partner, person, "enrolled", utc(2024, 6, 1))
    headers = bearer(tokens.coordinator)

    responses = [
        await client.get(path, headers=headers)
        for path in (
            "/v1/network/outcomes",
            f"/v1/partners/{partner}/caseload",
            f"/v1/partners/{partner}/referrals?direction=inbox",
            f"/v1/partners/{tokens.partner_id}/referrals?direction=outbox",
        )
    ]

    assert [r.status_code for r in responses] == [200, 200, 200, 200]
    assert [e["participant_id"] for e in responses[1].json()] == [person]


async def test_auditor_reads_network_outcomes_but_not_person_level_partner_views(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    headers = bearer(tokens.auditor)
    partner = tokens.partner_id

    outcomes = await client.get("/v1/network/outcomes", headers=headers)
    caseload = await client.get(f"/v1/partners/{partner}/caseload", headers=headers)
    refs = await client.get(f"/v1/partners/{partner}/referrals?direction=inbox", headers=headers)

    assert outcomes.status_code == 200
    assert_error(caseload, 403, "forbidden")
    assert_error(refs, 403, "forbidden")


async def test_a_partner_with_no_rows_gets_empty_lists(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    nobody = rid("partner")
    headers = bearer(tokens.coordinator)

    caseload = await client.get(f"/v1/partners/{nobody}/caseload", headers=headers)
    outbox = await client.get(f"/v1/partners/{nobody}/referrals?direction=outbox", headers=headers)

    assert (caseload.status_code, caseload.json()) == (200, [])
    assert (outbox.status_code, outbox.json()) == (200, [])
