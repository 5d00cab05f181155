"""Direct Kafka access: SCRAM principals and ACLs on the broker's SASL listener.

A partner's principal may write to the event log and read nothing, so partners never
see each other's events; only the projection service's principal reads the log. The
changes are made through the operator's listener (`REFNET_KAFKA_BOOTSTRAP`), whose
ANONYMOUS principal is a super user on the local broker (see `stack_kafka`).

    RefNetError                 (refnet.events.errors)
    └── KafkaAccessError        a credential or ACL change failed, or was refused
        ├── AuthorizerMissing   the broker runs without an authorizer: ACLs cannot exist
        ├── PrincipalExists     the partner has credentials already (rotating needs a flag)
        └── ReservedPrincipal   the name belongs to a service principal, not a partner
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Literal, cast

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined]  # not re-exported in its stubs
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ConfigResource,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

from refnet.events.errors import RefNetError
from refnet.events.fields import SLUG_RULE, is_slug
from refnet.events.kafka_client import login
from refnet.events.settings import Settings
from refnet.services.kafka.admin import admin_client

# Kafka accepts 4096 to 16384 iterations; more makes a stolen hash costlier to crack.
ITERATIONS = 8192
ADMIN_PRINCIPAL = "admin"
PROJECTIONS_PRINCIPAL = "refnet-projections"
GATEWAY_PRINCIPAL = "refnet-api"  # on Kubernetes; the local API uses the loopback listener
WEBHOOKS_PRINCIPAL = "refnet-webhooks"  # on Kubernetes, the webhook delivery worker
TIMEOUT = 15.0
_STANDARD_AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"


class KafkaAccessError(RefNetError):
    """Creating, changing or reading Kafka credentials or ACLs failed."""


class AuthorizerMissing(KafkaAccessError):
    """The broker has no authorizer, so it neither keeps nor enforces ACLs."""


class PrincipalExists(KafkaAccessError):
    """The partner has SCRAM credentials already; replacing them would lock out its clients."""


class ReservedPrincipal(KafkaAccessError):
    """The id names a service principal (admin, projections) and cannot be a partner."""


@dataclass(frozen=True)
class AclEntry:
    """One ACL as the broker keeps it, in words."""

    principal: str
    resource_type: str
    pattern: str
    resource: str
    operation: str
    permission: str
    host: str


@dataclass(frozen=True)
class Revoked:
    """What `revoke_partner` removed."""

    acls: int
    credential: bool


@dataclass(frozen=True)
class ServiceAccess:
    """What `ensure_service_access` did on `stack up`."""

    outcome: Literal["granted", "no-authorizer"]
    projections_principal: str
    password_file: Path | None


def new_password() -> str:
    """A random password for a SCRAM credential (32 URL-safe characters)."""
    return secrets.token_urlsafe(24)


def sasl_client_config(settings: Settings, username: str, password: str) -> dict[str, str]:
    """librdkafka settings for a client of the SASL/SCRAM listener."""
    return {"bootstrap.servers": settings.kafka_sasl_bootstrap} | login(username, password)


def partner_acls(settings: Settings, partner_id: str) -> list[AclBinding]:
    """Write to the event log, nothing else. No READ anywhere and no consumer group.

    Idempotent producers need no cluster IDEMPOTENT_WRITE: since Kafka 3.0 (KIP-679)
    WRITE on a topic is enough.
    """
    principal = f"User:{partner_id}"
    topic = settings.topic_events
    return [
        _allow(principal, ResourceType.TOPIC, topic, AclOperation.WRITE),
        _allow(principal, ResourceType.TOPIC, topic, AclOperation.DESCRIBE),
    ]


def gateway_acls(settings: Settings, principal_name: str) -> list[AclBinding]:
    """What the API's HTTP gateway does: write to the log, as a partner's own client does."""
    return partner_acls(settings, principal_name)


def webhooks_acls(settings: Settings, principal_name: str) -> list[AclBinding]:
    """What the webhook delivery worker does: read the log and its dead letters, keep its
    own group; it writes nothing to Kafka."""
    principal = f"User:{principal_name}"
    return [
        *(
            _allow(principal, ResourceType.TOPIC, topic, operation)
            for topic in (settings.topic_events, settings.topic_dead_letter)
            for operation in (AclOperation.READ, AclOperation.DESCRIBE)
        ),
        _allow(principal, ResourceType.GROUP, settings.webhook_group, AclOperation.READ),
        _allow(principal, ResourceType.GROUP, settings.webhook_group, AclOperation.DESCRIBE),
    ]


def projections_acls(settings: Settings, principal_name: str) -> list[AclBinding]:
    """What the projection worker does: read the log, park events, keep its group."""
    principal = f"User:{principal_name}"
    group = settings.consumer_group
    # faust makes and uses one topic of its own, named after the app id (= the group).
    leader = f"{group}-__assignor-__leader"
    return [
        _allow(principal, ResourceType.TOPIC, settings.topic_events, AclOperation.READ),
        _allow(principal, ResourceType.TOPIC, settings.topic_events, AclOperation.DESCRIBE),
        _allow(principal, ResourceType.TOPIC, settings.topic_dead_letter, AclOperation.WRITE),
        _allow(principal, ResourceType.TOPIC, settings.topic_dead_letter, AclOperation.DESCRIBE),
        _allow(principal, ResourceType.GROUP, group, AclOperation.READ),
        _allow(principal, ResourceType.GROUP, group, AclOperation.DESCRIBE),
        *(
            _allow(principal, ResourceType.TOPIC, leader, operation)
            for operation in (
                AclOperation.CREATE,
                AclOperation.READ,
                AclOperation.WRITE,
                AclOperation.DESCRIBE,
            )
        ),
    ]


def grant_partner(
    settings: Settings, partner_id: str, password: str, *, replace: bool = False
) -> None:
    """Create the partner's principal: SCRAM credentials and write-only ACLs.

    Refuses a partner that has credentials already unless `replace`, since a new
    password locks out the clients using the old one.
    """
    check_partner_id(partner_id)
    admin = admin_client(settings.kafka_bootstrap)
    require_authorizer(admin)
    if not replace and _has_credential(admin, partner_id):
        raise PrincipalExists(
            f"partner {partner_id} has Kafka credentials already; revoke them first "
            "(`refnet partners revoke-kafka`) or give it a new password "
            "(`refnet partners add --replace-password`)"
        )
    _upsert_credential(admin, partner_id, password)
    _create_acls(admin, partner_acls(settings, partner_id), f"partner {partner_id}")


def grant_projections(
    settings: Settings, password: str, principal: str = PROJECTIONS_PRINCIPAL
) -> None:
    """Create or update the projection service's principal and its ACLs (idempotent)."""
    admin = admin_client(settings.kafka_bootstrap)
    require_authorizer(admin)
    _upsert_credential(admin, principal, password)
    _create_acls(admin, projections_acls(settings, principal), f"principal {principal}")


def revoke_partner(settings: Settings, partner_id: str) -> Revoked:
    """Remove the partner's ACLs and SCRAM credential (see `revoke_principal`)."""
    check_partner_id(partner_id)
    return revoke_principal(settings, partner_id)


def revoke_principal(settings: Settings, principal: str) -> Revoked:
    """Remove every ACL of `User:<principal>`, then its SCRAM credential.

    ACLs go first: they bind connections already open, while a removed credential only
    refuses new ones.
    """
    admin = admin_client(settings.kafka_bootstrap)
    require_authorizer(admin)
    matching = _acl_filter(ResourceType.ANY, None, ResourcePatternType.ANY, f"User:{principal}")
    futures = admin.delete_acls([matching], request_timeout=TIMEOUT)
    deleted = _result(futures[matching], f"removing the ACLs of {principal}")
    removed = _delete_credential(admin, principal)
    return Revoked(len(deleted or []), removed)


def list_acls(settings: Settings, topic: str | None = None) -> list[AclEntry]:
    """ACLs that apply to `topic` (literal, prefixed or wildcard), or all ACLs if None."""
    admin = admin_client(settings.kafka_bootstrap)
    require_authorizer(admin)
    if topic is None:
        wanted = _acl_filter(ResourceType.ANY, None, ResourcePatternType.ANY)
    else:
        wanted = _acl_filter(ResourceType.TOPIC, topic, ResourcePatternType.MATCH)
    found = _result(admin.describe_acls(wanted, request_timeout=TIMEOUT), "listing ACLs")
    entries = [_entry(binding) for binding in found or []]
    return sorted(entries, key=lambda e: (e.principal, e.resource_type, e.resource, e.operation))


def list_principals(settings: Settings) -> list[str]:
    """Names of every user with SCRAM credentials on the broker, sorted."""
    admin = admin_client(settings.kafka_bootstrap)
    # Without a list of users the client returns one future, not one per user.
    every = cast(Future[Any], admin.describe_user_scram_credentials(request_timeout=TIMEOUT))
    described = _result(every, "listing SCRAM users")
    return sorted(described or {})


def ensure_service_access(settings: Settings) -> ServiceAccess:
    """The admin's and the projection service's credentials and ACLs, for `stack up`.

    The projections password is made once and kept beside the broker's data (mode
    0600); running again re-applies the same credentials and ACLs. A broker without
    an authorizer (an external or older one) is reported, not treated as a failure.
    """
    admin = admin_client(settings.kafka_bootstrap)
    if not authorizer_enabled(admin):
        return ServiceAccess("no-authorizer", PROJECTIONS_PRINCIPAL, None)
    _upsert_credential(admin, ADMIN_PRINCIPAL, settings.kafka_admin_password)
    path = settings.data_path() / "kafka" / f"{PROJECTIONS_PRINCIPAL}.password"
    password = path.read_text().strip() if path.is_file() else ""
    if not password:
        password = new_password()
        write_secret(path, password)
    grant_projections(settings, password)
    return ServiceAccess("granted", PROJECTIONS_PRINCIPAL, path)


def authorizer_enabled(admin: AdminClient) -> bool:
    """Whether the broker enforces ACLs (read from its `authorizer.class.name`)."""
    cluster = _result(admin.describe_cluster(request_timeout=TIMEOUT), "describing the cluster")
    broker = ConfigResource(ResourceType.BROKER, str(cluster.nodes[0].id))
    futures = admin.describe_configs([broker], request_timeout=TIMEOUT)
    configs = _result(futures[broker], "reading the broker's config")
    entry = configs.get("authorizer.class.name")
    return bool(entry is not None and entry.value)


def require_authorizer(admin: AdminClient) -> None:
    """Raise AuthorizerMissing unless the broker enforces ACLs."""
    if not authorizer_enabled(admin):
        raise AuthorizerMissing(
            "the Kafka broker runs without an authorizer, so it keeps no ACLs; restart the "
            "local stack (`refnet stack down`, then `refnet stack up`) to enable "
            f"{_STANDARD_AUTHORIZER} and the SASL listener"
        )


def check_partner_id(partner_id: str) -> None:
    """A partner id is a slug and never the name of a service principal."""
    if not is_slug(partner_id):
        raise KafkaAccessError(f"{partner_id!r} is not a partner id: {SLUG_RULE}")
    if partner_id in (ADMIN_PRINCIPAL, PROJECTIONS_PRINCIPAL):
        raise ReservedPrincipal(f"{partner_id!r} is a service principal, not a partner")


def write_secret(path: Path, secret: str) -> None:
    """Write `secret` to `path` readable by its owner only, even if the file existed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "w") as out:
        os.fchmod(out.fileno(), stat.S_IRUSR | stat.S_IWUSR)
        out.write(secret + "\n")


# ------------------------------------------------------------------ helpers


def _allow(principal: str, restype: ResourceType, name: str, operation: AclOperation) -> AclBinding:
    return AclBinding(
        restype,
        name,
        ResourcePatternType.LITERAL,
        principal,
        "*",
        operation,
        AclPermissionType.ALLOW,
    )


def _acl_filter(
    restype: ResourceType,
    name: str | None,
    pattern: ResourcePatternType,
    principal: str | None = None,
) -> AclBindingFilter:
    """A filter on resource and principal; None matches any name or principal."""
    return AclBindingFilter(
        restype,
        name,  # type: ignore[arg-type]  # None means "any"; the stubs allow only str
        pattern,
        principal,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        AclOperation.ANY,
        AclPermissionType.ANY,
    )


def _entry(binding: AclBinding) -> AclEntry:
    return AclEntry(
        principal=binding.principal,
        resource_type=_name(binding.restype),
        pattern=_name(binding.resource_pattern_type),
        resource=binding.name,
        operation=_name(binding.operation),
        permission=_name(binding.permission_type),
        host=binding.host,
    )


def _name(value: Enum | str | int) -> str:
    """An enum member's name (the client converts the fields of a binding to enums)."""
    return value.name if isinstance(value, Enum) else str(value)


def _upsert_credential(admin: AdminClient, user: str, password: str) -> None:
    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, ITERATIONS)
    upsert = UserScramCredentialUpsertion(user, info, password.encode())
    futures = admin.alter_user_scram_credentials([upsert], request_timeout=TIMEOUT)
    _result(futures[user], f"setting the SCRAM credential of {user}")


def _delete_credential(admin: AdminClient, user: str) -> bool:
    """Delete the user's credential; False if there was none."""
    deletion = UserScramCredentialDeletion(user, ScramMechanism.SCRAM_SHA_512)
    futures = admin.alter_user_scram_credentials([deletion], request_timeout=TIMEOUT)
    return _found(futures[user], f"removing the SCRAM credential of {user}")


def _has_credential(admin: AdminClient, user: str) -> bool:
    # With a list of users the client returns one future per user.
    futures = cast(
        dict[str, Future[Any]],
        admin.describe_user_scram_credentials([user], request_timeout=TIMEOUT),
    )
    return _found(futures[user], f"reading the SCRAM credential of {user}")


def _found(future: Future[Any], doing: str) -> bool:
    """Wait for a credential request; False if the user has no credential."""
    try:
        future.result()
    except KafkaException as exc:
        if _code(exc) == KafkaError.RESOURCE_NOT_FOUND:
            return False
        raise KafkaAccessError(f"{doing} failed: {_why(exc)}") from exc
    return True


def _create_acls(admin: AdminClient, bindings: Iterable[AclBinding], whom: str) -> None:
    """Create `bindings`; an ACL that exists already is left as it is by the broker."""
    futures = admin.create_acls(list(bindings), request_timeout=TIMEOUT)
    for binding, future in futures.items():
        what = f"{_name(binding.operation)} on {_name(binding.restype).lower()} {binding.name}"
        _result(future, f"allowing {whom} {what}")


def _result(future: Future[Any], doing: str) -> Any:
    """The future's result; a Kafka error becomes a KafkaAccessError naming what failed."""
    try:
        return future.result()
    except KafkaException as exc:
        raise KafkaAccessError(f"{doing} failed: {_why(exc)}") from exc


def _code(exc: KafkaException) -> int | None:
    error = exc.args[0] if exc.args else None
    return error.code() if isinstance(error, KafkaError) else None


def _why(exc: KafkaException) -> str:
    error = exc.args[0] if exc.args else None
    return error.str() if isinstance(error, KafkaError) else str(exc)
