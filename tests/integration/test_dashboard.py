"""The web dashboard over the demo network: sign-in, cookies, CSRF, roles, figures, answers.

One world holds the demo history, projected by a real worker; the app is driven
through `httpx.AsyncClient` over the ASGI transport, signing in with the form as
a browser does. Answers from the inbox go through the real gateway to the real
log, and the test waits on offsets for the worker to apply them.
"""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from email.utils import parsedate_to_datetime

import httpx
import openpyxl  # type: ignore[import-untyped]
import pytest
from fastapi import FastAPI

from refnet.services.api.app import create_app
from refnet.services.dashboard.answers import answer_event_id
from refnet.services.demo.generator import demo_history
from refnet.services.registry.tokens import issue_token, revoke_token
from tests.integration.api_client import CSRF
from tests.integration.world import World, run_sync

pytestmark = pytest.mark.integration

PARTNER = "awo-en"


@dataclass(frozen=True)
class Demo:
    world: World
    app: FastAPI
    tokens: dict[str, str]
    placed_participant: str


@pytest.fixture(scope="module")
def demo_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, str]]:
    world = World.create(tmp_path_factory.mktemp("dashboard"))
    try:
        events = demo_history()
        world.publish(events)
        world.start_worker()
        run_sync(world.wait(timeout=240))
        placed = next(e.participant_id for e in events if e.type == "participant.placed")
        yield world, placed
    finally:
        world.dispose()


@pytest.fixture(scope="module")
async def demo(demo_world: tuple[World, str]) -> AsyncIterator[Demo]:
    world, placed = demo_world
    app = create_app(world.settings)
    async with app.router.lifespan_context(app):
        async with world.connection() as conn:
            tokens = {
                "coordinator": (await issue_token(conn, "coordinator")).token,
                "auditor": (await issue_token(conn, "auditor")).token,
                "partner": (await issue_token(conn, "partner", PARTNER)).token,
            }
        yield Demo(world, app, tokens, placed)


def client(demo: Demo, base: str = "http://refnet.test") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=demo.app), base_url=base)


def csrf_of(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found, f"no CSRF field on {page.url}"
    return found.group(1)


async def submit_token(http: httpx.AsyncClient, token: str, next_path: str = "") -> httpx.Response:
    form = await http.get("/sign-in")
    data = {"token": token, "csrf": csrf_of(form), "next": next_path}
    return await http.post("/sign-in", data=data)


@asynccontextmanager
async def signed_in(demo: Demo, role: str) -> AsyncIterator[httpx.AsyncClient]:
    async with client(demo) as http:
        answer = await submit_token(http, demo.tokens[role])
        assert answer.status_code == 303, answer.text
        yield http


def metric(page: httpx.Response, name: str) -> str:
    found: list[str] = re.findall(rf'data-metric="{re.escape(name)}">([^<]*)<', page.text)
    assert len(found) == 1, f"{len(found)} figures named {name} on {page.url}"
    return found[0]


def count(text: str) -> int:
    return int(re.sub(r"\D", "", text))


def session_cookie(answer: httpx.Response) -> str:
    cookies = [c for c in answer.headers.get_list("set-cookie") if c.startswith("refnet_session=")]
    assert len(cookies) == 1, answer.headers.get_list("set-cookie")
    return cookies[0]


# ------------------------------------------------------------------ sign-in


async def test_a_good_token_signs_in_with_a_strict_http_only_cookie_that_expires_with_it(
    demo: Demo,
) -> None:
    async with demo.world.connection() as conn:
        issued = await issue_token(conn, "coordinator", expires_in=timedelta(days=2))
    async with client(demo) as http:
        answer = await submit_token(http, issued.token)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/network"
        cookie = session_cookie(answer)
        flags = [part.strip().lower() for part in cookie.split(";")]
        assert "httponly" in flags and "samesite=strict" in flags
        assert "secure" not in flags  # plain http: a Secure cookie would never come back
        expires = next(f for f in cookie.split(";") if f.strip().lower().startswith("expires="))
        when = parsedate_to_datetime(expires.split("=", 1)[1])
        assert issued.expires_at is not None
        assert abs(when - issued.expires_at) < timedelta(seconds=2)
        page = await http.get("/network")
        assert page.status_code == 200
        assert metric(page, "participants")
    async with client(demo, "https://refnet.test") as http:
        answer = await submit_token(http, issued.token)
        assert "secure" in [p.strip().lower() for p in session_cookie(answer).split(";")]


async def test_a_wrong_expired_or_revoked_token_gets_a_clear_german_message(demo: Demo) -> None:
    async with demo.world.connection() as conn:
        revoked = await issue_token(conn, "coordinator")
        assert await revoke_token(conn, revoked.token_id)
        expired = await issue_token(conn, "auditor", expires_in=timedelta(days=1))
        await conn.execute(
            "UPDATE api_tokens SET created_at = now() - interval '2 days',"
            " expires_at = now() - interval '1 day' WHERE token_id = $1",
            expired.token_id,
        )
    wrong = demo.tokens["coordinator"][:-4] + "xxxx"
    for token in (wrong, revoked.token, expired.token, "not a token"):
        async with client(demo) as http:
            answer = await submit_token(http, token)
            assert answer.status_code == 401
            assert 'role="alert"' in answer.text
            assert "Dieses Token ist unbekannt, abgelaufen oder widerrufen" in answer.text
            assert "Traceback" not in answer.text
            assert not [c for c in answer.headers.get_list("set-cookie") if "refnet_session=" in c]
            assert (await http.get("/network")).status_code == 303


async def test_pages_send_the_signed_out_to_sign_in_and_back(demo: Demo) -> None:
    async with client(demo) as http:
        assert (await http.get("/")).headers["location"] == "/sign-in"
        answer = await http.get("/network/funnel?from=2024-01-01")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/sign-in?next=%2Fnetwork%2Ffunnel%3Ffrom%3D2024-01-01"
        back = await submit_token(
            http, demo.tokens["coordinator"], "/network/funnel?from=2024-01-01"
        )
        assert back.headers["location"] == "/network/funnel?from=2024-01-01"
        elsewhere = await submit_token(http, demo.tokens["coordinator"], "//evil.example/")
        assert elsewhere.headers["location"] == "/network"


async def test_sign_out_ends_the_session(demo: Demo) -> None:
    async with signed_in(demo, "auditor") as http:
        assert (await http.get("/")).headers["location"] == "/audit/outcomes"
        page = await http.get("/audit/outcomes")
        answer = await http.post("/sign-out", data={"csrf": csrf_of(page)})
        assert answer.status_code == 303
        assert 'refnet_session=""' in session_cookie(answer)
        assert (await http.get("/audit/outcomes")).headers["location"].startswith("/sign-in")


# ------------------------------------------------------------------ CSRF and roles


async def test_a_post_without_the_sessions_csrf_token_is_refused(demo: Demo) -> None:
    async with client(demo) as http:
        await http.get("/sign-in")
        data = {"token": demo.tokens["coordinator"], "csrf": "0" * 64}
        refused = await http.post("/sign-in", data=data)
        assert refused.status_code == 403
        assert "Formular nicht angenommen" in refused.text
    async with signed_in(demo, "partner") as http:
        inbox = await http.get("/partner/inbox")
        before = demo.world.log_size()
        for csrf in ("", "0" * 64, csrf_of(inbox)[::-1]):
            form = {"csrf": csrf, **first_referral(inbox)}
            answer = await http.post("/partner/inbox/accept", data=form)
            assert answer.status_code == 403, answer.text
        assert (await http.post("/sign-out", data={"csrf": ""})).status_code == 403
        assert demo.world.log_size() == before
        assert (await http.get("/partner/inbox")).status_code == 200  # still signed in


@pytest.mark.parametrize(
    ("role", "path"),
    [
        ("partner", "/network"),
        ("partner", "/network/esf.csv"),
        ("partner", "/audit/outcomes"),
        ("coordinator", "/partner/inbox"),
        ("coordinator", "/audit/timeline"),
        ("auditor", "/partner/caseload"),
        ("auditor", "/network/overdue"),
    ],
)
async def test_a_page_of_another_role_is_refused(demo: Demo, role: str, path: str) -> None:
    async with signed_in(demo, role) as http:
        answer = await http.get(path)
    assert answer.status_code == 403
    assert "Kein Zugriff" in answer.text
    assert "data-metric" not in answer.text


# ------------------------------------------------------------------ figures


async def test_the_overview_shows_the_same_figures_as_the_json_api(demo: Demo) -> None:
    bearer = {"Authorization": f"Bearer {demo.tokens['coordinator']}"}
    async with signed_in(demo, "coordinator") as http:
        # A page's date is midnight in Berlin; the JSON API is asked with that offset.
        berlin = "?from=2024-01-01T00:00:00%2B01:00&to=2024-07-01T00:00:00%2B02:00"
        for query, api_query in (("", ""), ("?from=2024-01-01&to=2024-07-01", berlin)):
            body = (await http.get(f"/v1/network/outcomes{api_query}", headers=bearer)).json()
            page = await http.get(f"/network{query}")
            assert page.status_code == 200
            assert count(metric(page, "participants")) == body["participants"]
            assert count(metric(page, "placed")) == body["placed"]["total"]
            assert count(metric(page, "referrals_sent")) == body["referrals"]["sent"]
            assert count(metric(page, "in_training")) == body["in_training"]
            if not query:
                assert (body["participants"], body["placed"]["total"]) == (413, 148)
                assert (metric(page, "participants"), metric(page, "placed")) == ("413", "148")
        funnel = (await http.get("/v1/network/funnel", headers=bearer)).json()
        page = await http.get("/network/funnel")
        for stage in funnel["stages"]:
            assert count(metric(page, f"stage_{stage['stage']}")) == stage["participants"]
        bad = await http.get("/network?from=2024-02-30")
        assert bad.status_code == 400
        assert "Bitte geben Sie ein Datum" in bad.text


async def test_the_chosen_language_is_english_on_every_later_page(demo: Demo) -> None:
    async with signed_in(demo, "coordinator") as http:
        german = await http.get("/network")
        assert '<html lang="de">' in german.text and "Ergebnisse des Netzwerks" in german.text
        switch = await http.get("/language/en", params={"next": "/network"})
        assert switch.status_code == 303 and switch.headers["location"] == "/network"
        for path in ("/network", "/network/funnel"):
            page = await http.get(path)
            assert '<html lang="en">' in page.text
            assert "Sign out" in page.text and "Abmelden" not in page.text
        assert "Network outcomes" in (await http.get("/network")).text
        await http.get("/language/de", params={"next": "/network"})
        assert '<html lang="de">' in (await http.get("/network")).text


# ------------------------------------------------------------------ partner answers


def first_referral(inbox: httpx.Response) -> dict[str, str]:
    form = re.search(
        r'action="/partner/inbox/accept".*?name="referral_id" value="([^"]+)".*?'
        r'name="participant_id" value="([^"]+)"',
        inbox.text,
        re.S,
    )
    assert form, "no referral to answer in the inbox"
    return {"referral_id": form.group(1), "participant_id": form.group(2)}


async def inbox_answer(http: httpx.AsyncClient) -> tuple[dict[str, str], dict[str, str]]:
    """The inbox's first referral, and the form that answers it."""
    inbox = await http.get("/partner/inbox")
    referral = first_referral(inbox)
    return referral, {"csrf": csrf_of(inbox), **referral}


async def referral_state(world: World, referral: dict[str, str]) -> str:
    rows = await world.fetch(
        "SELECT state FROM referrals WHERE referral_id = $1 AND participant_id = $2",
        referral["referral_id"],
        referral["participant_id"],
    )
    return str(rows[0][0])


async def test_a_partner_accepts_a_referral_once_however_often_it_posts(demo: Demo) -> None:
    world = demo.world
    async with signed_in(demo, "partner") as http:
        referral, form = await inbox_answer(http)
        before = world.log_size()
        answer = await http.post("/partner/inbox/accept", data=form)
        assert answer.status_code == 303, answer.text
        shown = await http.get(answer.headers["location"])
        assert 'role="status"' in shown.text and "wurde angenommen" in shown.text
        assert world.log_size() == before + 1
        expected_id = answer_event_id(
            "accepted", PARTNER, referral["participant_id"], referral["referral_id"]
        )
        published = [e for e in world.read_log() if str(e.event_id) == expected_id]
        assert len(published) == 1
        assert published[0].type == "referral.accepted" and published[0].partner_id == PARTNER
        assert published[0].participant_id == referral["participant_id"]

        again = await http.post("/partner/inbox/accept", data=form)  # a double click
        assert again.status_code == 409
        assert world.log_size() == before + 1
        await world.wait()
        assert await referral_state(world, referral) == "accepted"
        later = await http.post("/partner/inbox/accept", data=form)
        assert later.status_code == 409 and "wartet nicht mehr" in later.text
        assert world.log_size() == before + 1
        assert referral["referral_id"] not in (await http.get("/partner/inbox")).text


async def test_declining_needs_a_reason_and_then_publishes_a_decline(demo: Demo) -> None:
    world = demo.world
    async with signed_in(demo, "partner") as http:
        referral, form = await inbox_answer(http)
        before = world.log_size()
        missing = await http.post("/partner/inbox/decline", data=form)
        assert missing.status_code == 422 and "Bitte wählen Sie einen Grund" in missing.text
        unknown = await http.post("/partner/inbox/decline", data=form | {"reason": "bored"})
        assert unknown.status_code == 422
        assert world.log_size() == before
        answer = await http.post("/partner/inbox/decline", data=form | {"reason": "no_capacity"})
        assert answer.status_code == 303
        assert world.log_size() == before + 1
        await world.wait()
        assert await referral_state(world, referral) == "declined"


# ------------------------------------------------------------------ auditor, ESF+


async def test_each_timeline_shown_is_recorded_like_the_apis_reads(demo: Demo) -> None:
    world, pid = demo.world, demo.placed_participant
    reads = "SELECT token_id, role, what FROM record_reads WHERE participant_id = $1"
    before = len(await world.fetch(reads, pid))
    async with signed_in(demo, "auditor") as http:
        page = await http.get("/audit/timeline", params={"participant": pid})
        assert page.status_code == 200 and "participant.placed" in page.text
        assert (
            await http.get("/audit/timeline", params={"participant": "nobody-here"})
        ).status_code == 404
        assert (await http.get("/audit/timeline", params={"participant": "a@b"})).status_code == 400
        as_of = await http.get("/audit/outcomes")
        assert count(metric(as_of, "participants")) == 413
    rows = await world.fetch(reads, pid)
    assert len(rows) == before + 1
    token_id = demo.tokens["auditor"].split("_")[1]
    assert rows[-1] == (token_id, "auditor", "audit history")


@pytest.mark.parametrize(
    ("fmt", "media"),
    [
        ("csv", "text/csv; charset=utf-8"),
        ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        ("pdf", "application/pdf"),
    ],
)
async def test_the_esf_downloads_have_their_media_types(demo: Demo, fmt: str, media: str) -> None:
    async with signed_in(demo, "coordinator") as http:
        page = await http.get("/network/esf")
        assert page.status_code == 200
        assert count(metric(page, "output.EECO01.total")) == 413
        assert f'href="/network/esf.{fmt}"' in page.text
        answer = await http.get(f"/network/esf.{fmt}")
    assert answer.status_code == 200, answer.text[:500]
    assert answer.headers["content-type"] == media
    assert answer.headers["content-disposition"].startswith("attachment; filename=")
    if fmt == "xlsx":
        book = openpyxl.load_workbook(io.BytesIO(answer.content), read_only=True)
        values = [v for sheet in book for row in sheet.iter_rows(values_only=True) for v in row]
        assert 413 in values
    elif fmt == "csv":
        assert "413" in answer.content.decode("utf-8-sig")
    else:
        assert answer.content.startswith(b"%PDF")
