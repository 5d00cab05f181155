"""Signing in and out, the start page, the language switch and the dashboard's own assets.

Sign-in checks the token with the API's `authenticate`; a token that does not
work is answered on the form (401), never with a stack trace.
"""

from __future__ import annotations

import mimetypes
from datetime import datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse, RedirectResponse

from refnet.services.api.deps import Conn
from refnet.services.dashboard.rendering import LANGUAGE_COOKIE, N_, page, refused
from refnet.services.dashboard.session import (
    PRE_SESSION_COOKIE,
    SESSION_COOKIE,
    CheckedForm,
    PageRoute,
    SignInForm,
    clear_cookie,
    csrf_token,
    new_pre_session,
    safe_next,
    set_cookie,
)
from refnet.services.i18n.translations import LANGUAGES
from refnet.services.registry.tokens import Principal, authenticate, list_tokens

router = APIRouter(include_in_schema=False, route_class=PageRoute)

STATIC = Path(__file__).parent / "static"
HOMES = {"coordinator": "/network", "auditor": "/audit/outcomes", "partner": "/partner/inbox"}
"""Where each role starts."""
LANGUAGE_SECONDS = 365 * 24 * 3600


def home(principal: Principal) -> str:
    return HOMES[principal.role]


@router.get("/")
async def start(request: Request, conn: Conn) -> Response:
    """The role's home page when signed in, else the sign-in form."""
    token = request.cookies.get(SESSION_COOKIE)
    principal = await authenticate(conn, token) if token else None
    return RedirectResponse(home(principal) if principal else "/sign-in", status_code=303)


def _sign_in_page(
    request: Request, next_path: str | None, error: str | None, status: int
) -> Response:
    pre = request.cookies.get(PRE_SESSION_COOKIE) or new_pre_session()
    signed_out = error is None and request.query_params.get("signed_out") == "1"
    context = {
        "next": next_path or "",
        "error": error,
        "signed_out": signed_out,
        "csrf": csrf_token(pre),
    }
    response = page(request, "sign_in.html", context, status=status)
    set_cookie(response, request, PRE_SESSION_COOKIE, pre)
    return response


@router.get("/sign-in")
async def sign_in_form(
    request: Request,
    next: Annotated[str | None, Query()] = None,
    expired: Annotated[str | None, Query()] = None,
) -> Response:
    """The sign-in form."""
    error = N_("Your session has ended. Please sign in again.") if expired else None
    return _sign_in_page(request, safe_next(next), error, 200)


async def _expiry(conn: Conn, principal: Principal) -> datetime | None:
    """When the token expires; the session cookie expires with it."""
    for info in await list_tokens(conn):
        if info.token_id == principal.token_id:
            return info.expires_at
    return None


@router.post("/sign-in")
async def sign_in(request: Request, conn: Conn, form: SignInForm) -> Response:
    """Check the token as the API does; a working one opens a session."""
    token = str(form.get("token") or "").strip()
    next_path = safe_next(str(form.get("next") or ""))
    if not token:
        return _sign_in_page(request, next_path, N_("Please enter your token."), 401)
    principal = await authenticate(conn, token)
    if principal is None:
        message = N_("This token is unknown, has expired or was revoked. Please check it.")
        return _sign_in_page(request, next_path, message, 401)
    response = RedirectResponse(next_path or home(principal), status_code=303)
    set_cookie(response, request, SESSION_COOKIE, token, await _expiry(conn, principal))
    clear_cookie(response, request, PRE_SESSION_COOKIE)
    return response


@router.post("/sign-out")
async def sign_out(request: Request, _: CheckedForm) -> Response:
    """End the session; the token itself stays valid until it expires or is revoked."""
    response = RedirectResponse("/sign-in?signed_out=1", status_code=303)
    clear_cookie(response, request, SESSION_COOKIE)
    return response


@router.get("/language/{lang}")
async def choose_language(
    request: Request, lang: str, next: Annotated[str | None, Query()] = None
) -> Response:
    """Remember the reader's language and go back to the page they were on."""
    response = RedirectResponse(safe_next(next) or "/", status_code=303)
    if lang in LANGUAGES:
        set_cookie(
            response, request, LANGUAGE_COOKIE, lang, max_age=LANGUAGE_SECONDS, samesite="lax"
        )
    return response


_ASSETS = {p.name for p in STATIC.iterdir() if p.is_file()} if STATIC.is_dir() else set()


@router.get("/static/{name}")
async def asset(request: Request, name: str) -> Response:
    """One of the dashboard's own files; nothing is fetched from elsewhere."""
    if name not in _ASSETS:
        return refused(request, N_("Not found"), "", 404)
    media = mimetypes.guess_type(name)[0] or "application/octet-stream"
    headers = {"Cache-Control": "public, max-age=3600"}
    return FileResponse(STATIC / name, media_type=media, headers=headers)
