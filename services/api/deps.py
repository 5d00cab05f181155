"""Request dependencies: settings, the database connection, the caller, and who may read what.

Every 401, and every 403 that depends on who calls, is decided here. A 403 that
depends on what a body holds (an event naming another partner) is the gateway's
(`services/gateway/ingest.check_partner`), a report for another publisher is
`own_publisher`'s here. The access rules:

    role         /v1/network/...   /v1/partners/{id}/...        /v1/audit/...   /v1/health
    coordinator  read              read, any partner            403             read
    auditor      read              403 (person-level records)   read            read
    partner      403               read, only its own id        403             read

    role         POST /v1/events             POST /v1/sequences/unused
    coordinator  403                         403
    auditor      403                         403
    partner      only events naming itself   only for publisher_id = its own id

No token, or an unknown, expired or revoked one: 401 with `WWW-Authenticate: Bearer`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, cast

import asyncpg
from fastapi import Depends, HTTPException, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from refnet.events.fields import Slug
from refnet.events.settings import Settings
from refnet.projections.store.database import StoreUnavailable, is_transient
from refnet.services.gateway.refusals import EventProblem, Refused
from refnet.services.registry.tokens import Principal, authenticate

ACQUIRE_TIMEOUT_SECONDS = 5.0
MAX_PAGE = 1000

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="`rn_<id>_<secret>`, issued with `refnet tokens issue`",
)


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_pool(request: Request) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.app.state.pool
    return pool


AppSettings = Annotated[Settings, Depends(get_settings)]
Pool = Annotated[asyncpg.Pool, Depends(get_pool)]


@asynccontextmanager
async def pooled(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """A connection from `pool`, given back on exit; waits at most ACQUIRE_TIMEOUT_SECONDS."""
    async with pool.acquire(timeout=ACQUIRE_TIMEOUT_SECONDS) as proxy:
        # asyncpg-stubs type the pool's proxy apart from Connection, though at run
        # time it forwards every Connection method; the read side takes Connection.
        yield cast(asyncpg.Connection, proxy)


async def get_conn(pool: Pool) -> AsyncIterator[asyncpg.Connection]:
    """One pooled connection per request; driver failures that may pass become 503s."""
    try:
        async with pooled(pool) as conn:
            yield conn
    except Exception as exc:
        if is_transient(exc):
            raise StoreUnavailable(f"read model unavailable: {exc}") from exc
        raise


Conn = Annotated[asyncpg.Connection, Depends(get_conn)]


def unauthenticated(message: str, invalid: bool = False) -> HTTPException:
    """A 401 that tells the client to present a bearer token (RFC 6750)."""
    challenge = 'Bearer error="invalid_token"' if invalid else "Bearer"
    return HTTPException(401, message, headers={"WWW-Authenticate": challenge})


def forbidden(message: str) -> HTTPException:
    return HTTPException(403, message)


def bearer_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The presented token; 401 before any database work when there is none."""
    if credentials is None:
        raise unauthenticated("an `Authorization: Bearer <token>` header is required")
    return credentials.credentials


BearerToken = Annotated[str, Depends(bearer_token)]


async def get_principal(token: BearerToken, conn: Conn) -> Principal:
    principal = await authenticate(conn, token)
    if principal is None:
        raise unauthenticated("the token is unknown, expired or revoked", invalid=True)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def network_reader(principal: CurrentPrincipal) -> Principal:
    """Coordinators and auditors read the network's aggregated views; partners do not."""
    if principal.role not in ("coordinator", "auditor"):
        raise forbidden("network views are for the coordinator and auditors")
    return principal


CoordinatorOrAuditor = Annotated[Principal, Depends(network_reader)]


def auditor(principal: CurrentPrincipal) -> Principal:
    """Only auditors replay history and read one participant's timeline across partners."""
    if principal.role != "auditor":
        raise forbidden("audit views are for auditor tokens only")
    return principal


Auditor = Annotated[Principal, Depends(auditor)]


def partner_scope(
    partner_id: Annotated[Slug, Path(description="the partner whose view is read")],
    principal: CurrentPrincipal,
) -> str:
    """The partner id of the path, once the caller may read that partner's records.

    These views list participants one by one, so auditors (who read aggregated
    history) are refused, as is every partner but the one named in the path.
    """
    if principal.role == "coordinator":
        return partner_id
    if principal.role == "partner" and principal.partner_id == partner_id:
        return partner_id
    if principal.role == "partner":
        raise forbidden("a partner token reads only its own partner's views")
    raise forbidden(f"{principal.role} tokens may not read partners' person-level views")


PartnerScope = Annotated[str, Depends(partner_scope)]


def partner_caller(principal: CurrentPrincipal) -> str:
    """The partner id of a partner token; other roles act for no publisher of their own."""
    if principal.role != "partner" or principal.partner_id is None:
        raise forbidden("only partner tokens report their unused sequence numbers")
    return principal.partner_id


PartnerCaller = Annotated[str, Depends(partner_caller)]


def own_publisher(partner_id: str, publisher_id: str, gateway_id: str) -> str:
    """`publisher_id` once it is the calling partner's own; else 403 naming `publisher_id`.

    The gateway's numbers are accounted by the gateway itself (its blocks), so
    no token may report them, whatever partner id it holds.
    """
    if publisher_id == gateway_id:
        reason = "the gateway's numbers are accounted by the gateway, not by a partner"
    elif publisher_id != partner_id:
        reason = f"a partner token reports only its own publisher id ({partner_id!r})"
    else:
        return publisher_id
    raise Refused(403, "forbidden", reason, [EventProblem(None, "publisher_id", reason)])


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int


def page(
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="rows per page")] = 500,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1, description="rows to skip")] = 0,
) -> Page:
    return Page(limit=limit, offset=offset)


Paging = Annotated[Page, Depends(page)]
