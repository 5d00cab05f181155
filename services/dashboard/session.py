"""Who reads a page: the session cookie, its CSRF token, and the refusals a page may answer.

The session cookie holds the RefNet token itself, not a session of our own:
every request checks it with the same `authenticate` as the API, so a token
revoked with `refnet tokens revoke` or past its expiry stops working in the
dashboard at once, no server-side session store is needed, and every API
process (however many) accepts it without a shared secret. The cookie is
HttpOnly (no script reads it), SameSite=Strict (no other site's page sends
it), Secure when the request came over https, and expires with the token (a
token that never expires gives a cookie that ends when the browser closes).

Every form post carries a CSRF token: HMAC-SHA256 keyed by the session cookie
(or, before sign-in, by a random pre-session cookie), which a page of another
origin can neither read nor compute. A post without the right one is refused
with 403 before anything else happens.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from starlette.datastructures import FormData

from refnet.projections.store.database import StoreUnavailable
from refnet.services.api.deps import Conn
from refnet.services.dashboard.rendering import N_, refused
from refnet.services.registry.tokens import Principal, Role, authenticate

SESSION_COOKIE = "refnet_session"
PRE_SESSION_COOKIE = "refnet_presession"
CSRF_FIELD = "csrf"
_CSRF_PURPOSE = b"refnet dashboard form"


def csrf_token(cookie_value: str) -> str:
    """The CSRF token of the session (or pre-session) whose cookie holds `cookie_value`."""
    digest = hmac.new(cookie_value.encode(), _CSRF_PURPOSE, hashlib.sha256)
    return digest.hexdigest()


def new_pre_session() -> str:
    return secrets.token_urlsafe(32)


def set_cookie(
    response: Response,
    request: Request,
    name: str,
    value: str,
    expires: datetime | None = None,
    max_age: int | None = None,
    samesite: Literal["strict", "lax"] = "strict",
) -> None:
    """An HttpOnly cookie, SameSite=Strict unless told, Secure over https.

    With neither `expires` nor `max_age` it lasts for the visit.
    """
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        expires=expires,
        path="/",
        httponly=True,
        samesite=samesite,
        secure=request.url.scheme == "https",
    )


def clear_cookie(response: Response, request: Request, name: str) -> None:
    response.delete_cookie(
        name, path="/", httponly=True, samesite="strict", secure=request.url.scheme == "https"
    )


def safe_next(value: str | None) -> str | None:
    """A path of this site to go on to after sign-in; anything else (another host) is dropped."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return None
    return value


# ------------------------------------------------------------------ refusals


class PageRefusal(Exception):
    """A page that cannot be shown as asked; `answer` says what the reader gets instead."""

    def answer(self, request: Request) -> Response:
        raise NotImplementedError


class SignInNeeded(PageRefusal):
    """No valid session: to the sign-in form, coming back here afterwards."""

    def __init__(self, expired: bool = False) -> None:
        super().__init__("sign-in needed")
        self.expired = expired

    def answer(self, request: Request) -> Response:
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        target = f"/sign-in?next={quote(here, safe='')}"
        if self.expired:
            target += "&expired=1"
        response = RedirectResponse(target, status_code=303)
        if self.expired:
            clear_cookie(response, request, SESSION_COOKIE)
        return response


class Denied(PageRefusal):
    """A signed-in reader whose role may not see this page."""

    def answer(self, request: Request) -> Response:
        return refused(request, N_("Access denied"), N_("Your role may not see this page."), 403)


class CsrfRefused(PageRefusal):
    """A form post without this session's CSRF token: perhaps sent by another site."""

    def answer(self, request: Request) -> Response:
        message = N_(
            "The form was not sent from this dashboard, or it has expired. "
            "Nothing was changed. Reload the page and send it again."
        )
        return refused(request, N_("Form not accepted"), message, 403)


class PageRoute(APIRoute):
    """A dashboard route: its refusals become pages, never a JSON error or a stack trace."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handle(request)
            except PageRefusal as refusal:
                return refusal.answer(request)
            except RequestValidationError:
                message = N_("The address holds a value this page cannot use.")
                return refused(request, N_("Invalid address"), message, 400)
            except StoreUnavailable:
                message = N_("The database does not answer. Please try again shortly.")
                return refused(request, N_("Temporarily unavailable"), message, 503)

        return guarded


# ------------------------------------------------------------------ readers


async def current_viewer(request: Request, conn: Conn) -> Principal:
    """The principal of the session cookie, checked as the API checks a bearer token."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise SignInNeeded()
    principal = await authenticate(conn, token)
    if principal is None:
        raise SignInNeeded(expired=True)
    request.state.viewer = principal
    request.state.csrf = csrf_token(token)
    return principal


Viewer = Annotated[Principal, Depends(current_viewer)]


def role(*allowed: Role) -> Any:
    """A dependency: the viewer, once their role is one of `allowed`; else the 403 page."""

    def check(viewer: Viewer) -> Principal:
        if viewer.role not in allowed:
            raise Denied("role not allowed")
        return viewer

    return Depends(check)


Coordinator = Annotated[Principal, role("coordinator")]
NetworkReader = Annotated[Principal, role("coordinator", "auditor")]
Auditor = Annotated[Principal, role("auditor")]
PartnerStaff = Annotated[Principal, role("partner")]


async def checked_form(request: Request, viewer: Viewer) -> FormData:
    """The posted form, once its CSRF token is this session's."""
    form = await request.form()
    if not _csrf_matches(form, request.state.csrf):
        raise CsrfRefused("csrf token missing or wrong")
    return form


def _csrf_matches(form: FormData, expected: str) -> bool:
    sent = form.get(CSRF_FIELD)
    return isinstance(sent, str) and hmac.compare_digest(sent, expected)


async def pre_session_form(request: Request) -> FormData:
    """The sign-in form, once its CSRF token is the pre-session cookie's."""
    form = await request.form()
    pre = request.cookies.get(PRE_SESSION_COOKIE)
    if not pre or not _csrf_matches(form, csrf_token(pre)):
        raise CsrfRefused("pre-session csrf token missing or wrong")
    return form


CheckedForm = Annotated[FormData, Depends(checked_form)]
SignInForm = Annotated[FormData, Depends(pre_session_form)]
