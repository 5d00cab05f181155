"""The HTTP API's views over the real read model: the counts, pages and referral lists."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.api.support import ReadModel, Tokens, bearer, rid, utc

pytestmark = pytest.mark.integration


# -- the views -----------------------------------------------------------------------------


async def test_outcomes_count_only_the_period_and_split_by_site_and_partner(
    client: httpx.AsyncClient, tokens: Tokens, rows: ReadModel
) -> None:
    site, partner = rid("site"), rid("partner")
    period = "from=1990-01-01&to=1991-01-01"
    headers = bearer(tokens.coordinator)
    before = (await client.get(f"/v1/network/outcomes?{period}", headers=headers)).json()
    inside = [
        await rows.participant(
            site, utc(1990, 1, 10), placed_at=utc(1990, 3, 1), placement_kind="apprenticeship"
        ),
        await rows.participant(
            site, utc(1990, 2, 10), placed_at=utc(1991, 2, 1), placement_kind="employment"
        ),
        await rows.participant(site, utc(1990, 12, 31, 23, 59)),
    ]
    outside = await rows.participant(site, utc(1989, 12, 31, 23, 59))
    for person in [*inside, outside]:
        await rows.link(partner, person, "enrolled", utc(1990, 1, 1))
    await rows.link(partner, inside[0], "placed", utc(1990, 3, 1))

    after = (await client.get(f"/v1/network/outcomes?{period}", headers=headers)).json()

    assert after["period"] == {"from": "1990-01-01T00:00:00Z", "to": "1991-01-01T00:00:00Z"}
    assert after["participants"] - before["participants"] == 3
    assert after["placed"]["total"] - before["placed"]["total"] == 1
    assert after["placed"]["apprenticeship"] - before["placed"]["apprenticeship"] == 1
    assert after["placed"]["employment"] == before["placed"]["employment"]
    assert {"site": site, "participants": 3, "placed": 1} in after["by_site"]
    assert {"partner_id": partner, "participants": 3, "placed": 1} in after["by_partner"]


async def test_a_naive_bound_is_utc_and_an_offset_is_honoured(
    client: httpx.AsyncClient, tokens: Tokens, rows: ReadModel
) -> None:
    site = rid("site")
    await rows.participant(site, utc(1990, 1, 1, 0, 30))
    headers = bearer(tokens.coordinator)

    async def count(query: str) -> int:
        response = await client.get(f"/v1/network/outcomes?{query}", headers=headers)
        assert response.status_code == 200, response.text
        return sum(s["participants"] for s in response.json()["by_site"] if s["site"] == site)

    assert await count("from=1990-01-01T01:00:00&to=1990-02-01") == 0
    assert await count("from=1990-01-01T01:00:00%2B02:00&to=1990-02-01") == 1
    assert await count("from=1990-01-01&to=1990-01-01T00:30:00") == 0
    assert await count("from=1990-01-01&to=1990-01-01T00:30:01") == 1


async def test_caseload_pages_oldest_link_first(
    client: httpx.AsyncClient, tokens: Tokens, rows: ReadModel
) -> None:
    partner = tokens.partner_id
    people = []
    for day in (3, 1, 2):
        person = await rows.participant("hattingen", utc(2024, 7, day))
        await rows.link(partner, person, "enrolled", utc(2024, 7, day))
        people.append(person)
    oldest_first = [people[1], people[2], people[0]]
    headers = bearer(tokens.partner)
    path = f"/v1/partners/{partner}/caseload"

    first = await client.get(f"{path}?limit=2", headers=headers)
    rest = await client.get(f"{path}?limit=2&offset=2", headers=headers)

    ids = [e["participant_id"] for e in first.json() + rest.json()]
    assert [i for i in ids if i in people] == oldest_first
    assert len(first.json()) == 2


async def test_referrals_inbox_and_outbox_pending_first(
    client: httpx.AsyncClient, tokens: Tokens, rows: ReadModel
) -> None:
    sender, receiver = rid("partner"), rid("partner")
    person = await rows.participant("gevelsberg", utc(2024, 8, 1))
    answered = await rows.referral(person, sender, receiver, utc(2024, 8, 2), "accepted")
    pending = await rows.referral(person, sender, receiver, utc(2024, 8, 5), "pending")
    headers = bearer(tokens.coordinator)

    async def listed(partner: str, direction: str) -> list[str]:
        path = f"/v1/partners/{partner}/referrals?direction={direction}"
        response = await client.get(path, headers=headers)
        assert response.status_code == 200, response.text
        return [r["referral_id"] for r in response.json()]

    assert await listed(receiver, "inbox") == [pending, answered]
    assert await listed(sender, "outbox") == [pending, answered]
    assert await listed(sender, "inbox") == []
    assert await listed(receiver, "outbox") == []
