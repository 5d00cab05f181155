"""The dashboard's small rules: CSRF tokens, where sign-in may lead, answer ids, periods."""

from __future__ import annotations

import datetime as dt
import uuid

from starlette.requests import Request

from refnet.services.cli.demo import dashboard_lines
from refnet.services.dashboard.answers import answer_event_id
from refnet.services.dashboard.periods import chosen_period
from refnet.services.dashboard.session import csrf_token, safe_next


def test_csrf_tokens_differ_per_session_and_do_not_reveal_it() -> None:
    one, two = csrf_token("rn_aaaaaaaaaaaa_secret1"), csrf_token("rn_aaaaaaaaaaaa_secret2")
    assert one != two and len(one) == 64
    assert csrf_token("rn_aaaaaaaaaaaa_secret1") == one
    assert "secret1" not in one


def test_sign_in_leads_only_to_a_path_of_this_site() -> None:
    assert safe_next("/network/funnel?from=2024-01-01") == "/network/funnel?from=2024-01-01"
    for outside in ("https://evil.example/", "//evil.example/", "/\\evil.example", "", None):
        assert safe_next(outside) is None


def test_an_answer_has_one_event_id_per_action_partner_and_referral() -> None:
    accept = answer_event_id("accepted", "awo-en", "p-1", "ref-1")
    assert accept == answer_event_id("accepted", "awo-en", "p-1", "ref-1")
    assert uuid.UUID(accept).version == 5
    others = {
        answer_event_id("declined", "awo-en", "p-1", "ref-1"),
        answer_event_id("accepted", "bobeq", "p-1", "ref-1"),
        answer_event_id("accepted", "awo-en", "p-2", "ref-1"),
        answer_event_id("accepted", "awo-en", "p-1", "ref-2"),
    }
    assert accept not in others and len(others) == 4


def request(query: str) -> Request:
    return Request(
        {
            "type": "http",
            "method": "GET",
            "path": "/network",
            "query_string": query.encode(),
            "headers": [],
        }
    )


def test_a_period_is_read_as_midnights_in_germany() -> None:
    choice = chosen_period(request("from=2024-01-01&to=2024-07-01"))
    assert not choice.problems
    # Winter and summer time: 23:00 and 22:00 UTC the evening before.
    assert choice.period.from_ == dt.datetime(2023, 12, 31, 23, tzinfo=dt.UTC)
    assert choice.period.to == dt.datetime(2024, 6, 30, 22, tzinfo=dt.UTC)
    assert choice.query == "from=2024-01-01&to=2024-07-01"
    assert chosen_period(request("")).period.from_ is None


def test_a_bad_period_names_the_field_and_counts_nothing() -> None:
    assert [f for f, _ in chosen_period(request("from=2024-13-01")).problems] == ["from"]
    backwards = chosen_period(request("from=2024-07-01&to=2024-01-01"))
    assert [f for f, _ in backwards.problems] == ["to"]
    assert backwards.period.from_ is None and backwards.period.to is None


def test_the_demo_prints_where_the_dashboard_is_and_a_token_to_sign_in_with() -> None:
    token = "rn_0123456789ab_" + "s" * 43
    lines = dashboard_lines("http://127.0.0.1:8000", token)
    assert lines[0].startswith("Dashboard: http://127.0.0.1:8000/")
    assert lines[1].endswith(token)
    assert "refnet tokens revoke 0123456789ab" in lines[2]
