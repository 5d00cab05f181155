"""Kafka principals as Strimzi `KafkaUser` resources, from the same ACLs the CLI grants.

On Kubernetes the Strimzi user operator keeps credentials and ACLs, so a partner is
added by applying the resource `refnet partners kafka-user ID` prints rather than by
`refnet partners add`; both start from `partner_acls`, so the two cannot drift.
deploy/kubernetes/users.yaml holds the services' principals, made here too (a test
compares them).
"""

from __future__ import annotations

from typing import Any, cast

from confluent_kafka.admin import (  # type: ignore[attr-defined]  # not re-exported in its stubs
    AclBinding,
    AclOperation,
    AclPermissionType,
    ResourcePatternType,
    ResourceType,
)

from refnet.events.settings import Settings
from refnet.services.kafka.access import (
    GATEWAY_PRINCIPAL,
    PROJECTIONS_PRINCIPAL,
    WEBHOOKS_PRINCIPAL,
    gateway_acls,
    partner_acls,
    projections_acls,
    webhooks_acls,
)

STRIMZI_API = "kafka.strimzi.io/v1"
KAFKA_CLUSTER = "refnet-kafka"  # the Kafka resource of deploy/kubernetes/kafka.yaml

# Strimzi spells operations and resource types its own way (KafkaUser's acls schema).
_OPERATIONS = {
    AclOperation.READ: "Read",
    AclOperation.WRITE: "Write",
    AclOperation.CREATE: "Create",
    AclOperation.DELETE: "Delete",
    AclOperation.ALTER: "Alter",
    AclOperation.DESCRIBE: "Describe",
    AclOperation.DESCRIBE_CONFIGS: "DescribeConfigs",
    AclOperation.ALTER_CONFIGS: "AlterConfigs",
    AclOperation.IDEMPOTENT_WRITE: "IdempotentWrite",
}
_RESOURCES = {
    ResourceType.TOPIC: "topic",
    ResourceType.GROUP: "group",
    ResourceType.BROKER: "cluster",
}
_PATTERNS = {ResourcePatternType.LITERAL: "literal", ResourcePatternType.PREFIXED: "prefix"}


def kafka_user(name: str, acls: list[AclBinding], *, component: str) -> dict[str, Any]:
    """A `KafkaUser` with a SCRAM-SHA-512 login and `acls`, one entry per resource."""
    by_resource: dict[tuple[str, str, str, str], list[str]] = {}
    for acl in acls:
        if acl.permission_type != AclPermissionType.ALLOW or acl.principal != f"User:{name}":
            raise ValueError(f"{acl} is not an ALLOW of User:{name}")
        # AclBinding keeps its enums as given; the stubs allow str and int too.
        kind = _RESOURCES[cast(ResourceType, acl.restype)]
        pattern = _PATTERNS[cast(ResourcePatternType, acl.resource_pattern_type)]
        operation = _OPERATIONS[cast(AclOperation, acl.operation)]
        by_resource.setdefault((kind, acl.name, pattern, acl.host), []).append(operation)
    entries = [
        {
            "resource": {"type": kind, "name": resource, "patternType": pattern},
            "operations": operations,
            "host": host,
            "type": "allow",
        }
        for (kind, resource, pattern, host), operations in by_resource.items()
    ]
    return {
        "apiVersion": STRIMZI_API,
        "kind": "KafkaUser",
        "metadata": {
            "name": name,
            "labels": {
                "strimzi.io/cluster": KAFKA_CLUSTER,
                "app.kubernetes.io/part-of": "refnet",
                "app.kubernetes.io/component": component,
            },
        },
        "spec": {
            "authentication": {"type": "scram-sha-512"},
            "authorization": {"type": "simple", "acls": entries},
        },
    }


def partner_user(settings: Settings, partner_id: str) -> dict[str, Any]:
    """The partner's principal: write to the log, read nothing (as `partners add`)."""
    return kafka_user(partner_id, partner_acls(settings, partner_id), component="partner")


def service_users(settings: Settings) -> list[dict[str, Any]]:
    """The API's, the workers' and the webhook worker's principals, as
    deploy/kubernetes/users.yaml has them."""
    return [
        kafka_user(GATEWAY_PRINCIPAL, gateway_acls(settings, GATEWAY_PRINCIPAL), component="api"),
        kafka_user(
            PROJECTIONS_PRINCIPAL,
            projections_acls(settings, PROJECTIONS_PRINCIPAL),
            component="projections",
        ),
        kafka_user(
            WEBHOOKS_PRINCIPAL, webhooks_acls(settings, WEBHOOKS_PRINCIPAL), component="webhooks"
        ),
    ]
