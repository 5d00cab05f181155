"""API bearer tokens: issue, authenticate, revoke, list; used by the API and the CLI.

Only a SHA-256 digest of each secret is stored, and a token authenticates only
while it is neither expired nor revoked.

    RefNetError               (refnet.events.errors)
    └── TokenError            a token operation was refused
        └── TokenRequestInvalid  role, partner, label or expiry of a new token not acceptable
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Literal, get_args

from pydantic import TypeAdapter, ValidationError

from refnet.events.errors import RefNetError
from refnet.events.fields import SLUG_RULE, is_slug
from refnet.projections.store.database import Conn

Role = Literal["coordinator", "auditor", "partner"]
ROLES: Final[tuple[Role, ...]] = get_args(Role)

PREFIX: Final = "rn"
_SECRET_BYTES = 32
_LABEL_MAX = 200
# rn_<12 hex>_<43 chars of url-safe base64>; the secret may itself contain "_".
_TOKEN = re.compile(r"rn_(?P<token_id>[a-z0-9]{8,32})_(?P<secret>[A-Za-z0-9_-]{20,100})")
_ROLE: TypeAdapter[Role] = TypeAdapter(Role)

_INSERT = """
INSERT INTO api_tokens (token_id, secret_sha256, role, partner_id, label, created_at, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
"""
# `active` is decided by the database clock, the same one that stamped revoked_at.
_LOOKUP = """
SELECT secret_sha256, role, partner_id,
  revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now()) AS active
FROM api_tokens WHERE token_id = $1
"""
# Idempotent: revoking twice keeps the first revocation time.
_REVOKE = """
UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE token_id = $1
RETURNING token_id
"""
_LIST = """
SELECT token_id, role, partner_id, label, created_at, expires_at, revoked_at
FROM api_tokens ORDER BY created_at, token_id
"""


class TokenError(RefNetError):
    """A token operation was refused."""


class TokenRequestInvalid(TokenError):
    """The role, partner, label or expiry asked for a new token is not acceptable."""


@dataclass(frozen=True)
class Principal:
    """Who a request acts for: the token's id, its role, and for partners the partner."""

    token_id: str
    role: Role
    partner_id: str | None


@dataclass(frozen=True)
class IssuedToken:
    """A newly issued token; `token` is shown once and cannot be recovered later."""

    token: str
    token_id: str
    role: Role
    partner_id: str | None
    label: str | None
    expires_at: datetime | None


@dataclass(frozen=True)
class TokenInfo:
    """A stored token as `list_tokens` shows it: never the secret."""

    token_id: str
    role: Role
    partner_id: str | None
    label: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    def state(self, now: datetime) -> Literal["active", "expired", "revoked"]:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("ascii")).digest()


def _checked(
    role: str, partner_id: str | None, label: str | None, expires_in: timedelta | None
) -> Role:
    try:
        checked = _ROLE.validate_python(role)
    except ValidationError as exc:
        raise TokenRequestInvalid(f"role must be one of {', '.join(ROLES)}, not {role!r}") from exc
    if role == "partner" and partner_id is None:
        raise TokenRequestInvalid("a partner token needs the partner id it acts for")
    if role != "partner" and partner_id is not None:
        raise TokenRequestInvalid(f"{role} tokens are not bound to a partner; omit the partner id")
    if partner_id is not None:
        if not is_slug(partner_id):
            raise TokenRequestInvalid(f"partner id {partner_id!r} is not valid: {SLUG_RULE}")
    if label is not None and len(label) > _LABEL_MAX:
        raise TokenRequestInvalid(f"label is longer than {_LABEL_MAX} characters")
    if expires_in is not None and expires_in <= timedelta(0):
        raise TokenRequestInvalid("expiry must be in the future")
    return checked


async def issue_token(
    conn: Conn,
    role: str,
    partner_id: str | None = None,
    label: str | None = None,
    expires_in: timedelta | None = None,
) -> IssuedToken:
    """Create a token for `role` (and `partner_id` for partners); store only its digest."""
    checked = _checked(role, partner_id, label, expires_in)
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(_SECRET_BYTES)
    now = datetime.now(UTC)
    expires_at = now + expires_in if expires_in is not None else None
    await conn.execute(
        _INSERT, token_id, _digest(secret), checked, partner_id, label, now, expires_at
    )
    return IssuedToken(
        token=f"{PREFIX}_{token_id}_{secret}",
        token_id=token_id,
        role=checked,
        partner_id=partner_id,
        label=label,
        expires_at=expires_at,
    )


async def authenticate(conn: Conn, token: str) -> Principal | None:
    """The principal of an active token; None for malformed, unknown, expired or revoked ones."""
    match = _TOKEN.fullmatch(token)
    if match is None:
        return None
    row = await conn.fetchrow(_LOOKUP, match["token_id"])
    if row is None:
        return None
    # Constant time, so response timing says nothing about how much of the secret matched.
    if not hmac.compare_digest(bytes(row["secret_sha256"]), _digest(match["secret"])):
        return None
    if not row["active"]:
        return None
    return Principal(token_id=match["token_id"], role=row["role"], partner_id=row["partner_id"])


async def revoke_token(conn: Conn, token_id: str) -> bool:
    """Revoke a token at once; False if no token has this id. Revoking twice is harmless."""
    return await conn.fetchval(_REVOKE, token_id) is not None


async def list_tokens(conn: Conn) -> list[TokenInfo]:
    """Every stored token, oldest first, without secrets."""
    return [TokenInfo(**dict(r)) for r in await conn.fetch(_LIST)]
