"""The manifests of deploy/kubernetes: valid for their operators, and true to the code.

`tests/kubernetes/validate.mjs` holds each document to the published models of
Kubernetes, Strimzi and CloudNativePG (values and unknown fields; its npm packages are
pinned in its lock and installed by `make kube-deps`). This module then holds what the
schemas cannot know to the code: the topics and ACLs `refnet stack up` and
`refnet partners add` make, the settings the pods set, the Secrets they read (none
committed), the probes the API serves, and who may reach the brokers and PostgreSQL.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from refnet.events.settings import Settings
from refnet.services.api.app import create_app
from refnet.services.kafka.manifests import KAFKA_CLUSTER, partner_user, service_users
from refnet.services.kafka.topics import DEAD_LETTER_PARTITIONS, TOPIC_CONFIG
from tests.integration.authorization.rules import route_table

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "deploy" / "kubernetes"
VALIDATOR = ROOT / "tests" / "kubernetes"
API, WORKERS, DATABASE = "refnet-api", "refnet-projections", "refnet-db"
WEBHOOKS = "refnet-webhooks"
Document = dict[str, Any]


def documents(directory: Path = MANIFESTS) -> list[Document]:
    found = []
    for path in sorted(directory.glob("*.yaml")):
        found += [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    return found


def of_kind(kind: str) -> list[Document]:
    return [d for d in documents() if d["kind"] == kind]


def named(kind: str, name: str) -> Document:
    (found,) = [d for d in of_kind(kind) if d["metadata"]["name"] == name]
    return found


def containers() -> Iterator[tuple[str, Document]]:
    for deployment in of_kind("Deployment"):
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            yield deployment["metadata"]["name"], container


def validate(*paths: Path) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    if node is None or not (VALIDATOR / "node_modules" / "kubernetes-models").is_dir():
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("node or the validator's packages are missing under CI: `make kube-deps`")
        pytest.skip("the validator's npm packages are not installed (`make kube-deps`)")
    command = [node, "validate.mjs", *map(str, paths)]
    return subprocess.run(command, cwd=VALIDATOR, capture_output=True, text=True, check=False)


# ------------------------------------------------------------------------ the schemas


def test_every_manifest_validates_against_its_operator_s_schema() -> None:
    done = validate(MANIFESTS)

    assert done.returncode == 0, done.stderr
    checked = [line for line in done.stdout.splitlines() if line.startswith("checked ")]
    assert len(checked) == len(documents()), done.stdout
    kinds = {d["kind"] for d in documents()}
    assert kinds >= {"Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser", "Cluster"}
    assert kinds >= {"Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget"}
    assert "NetworkPolicy" in kinds


@pytest.mark.parametrize(
    ("file", "before", "after", "named_in_problem"),
    [
        ("topics.yaml", "  replicas: 3", "  replicaz: 3", "replicaz"),
        ("postgres.yaml", "method: any", "method: some", "synchronous/method"),
        ("postgres.yaml", "dataChecksums:", "dataChecksum:", "dataChecksum"),
        ("kafka.yaml", "type: scram-sha-512", "type: scram", "authentication/type"),
        ("kafka.yaml", "kraftMetadata:", "kraftMetadta:", "kraftMetadta"),
        ("api.yaml", "containerPort: 8000", 'containerPort: "8000"', "containerPort"),
        ("api.yaml", "readOnlyRootFilesystem", "readOnlyRootFileSystem", "readOnlyRootFileSystem"),
        ("users.yaml", "- Describe", "- Describes", "Describes"),
    ],
)
def test_the_validator_refuses_a_misspelt_field_or_a_wrong_value(
    tmp_path: Path, file: str, before: str, after: str, named_in_problem: str
) -> None:
    text = (MANIFESTS / file).read_text()
    assert before in text
    (tmp_path / file).write_text(text.replace(before, after, 1))

    done = validate(tmp_path / file)

    assert done.returncode == 1, done.stdout
    assert named_in_problem in done.stderr, done.stderr


# ------------------------------------------------------------------- true to the code


def test_the_topics_are_those_stack_up_makes_replicated_three_times() -> None:
    settings = Settings()
    events = named("KafkaTopic", settings.topic_events)["spec"]
    dead = named("KafkaTopic", settings.topic_dead_letter)["spec"]
    replicated = TOPIC_CONFIG | {"min.insync.replicas": "2"}

    assert events["partitions"] == settings.topic_partitions
    assert dead["partitions"] == DEAD_LETTER_PARTITIONS
    for spec in (events, dead):
        assert spec["replicas"] == 3
        assert {k: str(v) for k, v in spec["config"].items()} == replicated
    config = named("Kafka", KAFKA_CLUSTER)["spec"]["kafka"]["config"]
    assert config["min.insync.replicas"] == 2 and config["default.replication.factor"] == 3
    pool = named("KafkaNodePool", "combined")
    assert pool["spec"]["replicas"] == 3
    assert set(pool["spec"]["roles"]) == {"controller", "broker"}
    assert pool["metadata"]["labels"]["strimzi.io/cluster"] == KAFKA_CLUSTER


def test_the_services_principals_have_the_acls_the_code_grants() -> None:
    assert of_kind("KafkaUser") == service_users(Settings())
    # A partner's own principal, printed by `refnet partners kafka-user`, writes only.
    acls = partner_user(Settings(), "awo-en")["spec"]["authorization"]["acls"]
    assert [(a["resource"]["name"], a["operations"]) for a in acls] == [
        ("refnet.events", ["Write", "Describe"])
    ]


def test_every_refnet_variable_the_pods_set_is_a_setting() -> None:
    fields = {f"REFNET_{name.upper()}" for name in Settings.model_fields}
    for deployment, container in containers():
        names = {e["name"] for e in container["env"] if e["name"].startswith("REFNET_")}
        assert names and names <= fields, (deployment, sorted(names - fields))
        logins = {e["name"]: e for e in container["env"]}
        assert logins["REFNET_KAFKA_SASL_USERNAME"]["value"] == deployment
        bootstrap = f"{KAFKA_CLUSTER}-kafka-bootstrap:9092"
        assert logins["REFNET_KAFKA_SASL_BOOTSTRAP"]["value"] == bootstrap
        assert logins["REFNET_LOG_FORMAT"]["value"] == "json"


def test_no_secret_is_committed_and_each_one_read_is_made_by_someone() -> None:
    assert of_kind("Secret") == []
    made_by_operators = {u["metadata"]["name"] for u in of_kind("KafkaUser")}
    made_by_operators |= {f"{c['metadata']['name']}-app" for c in of_kind("Cluster")}
    guide = (ROOT / "deploy" / "README.md").read_text()
    read: set[str] = set()
    for deployment in of_kind("Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        read |= {v["secret"]["secretName"] for v in pod.get("volumes", []) if "secret" in v}
        for container in pod["containers"]:
            for env in container["env"]:
                if "valueFrom" in env:
                    read.add(env["valueFrom"]["secretKeyRef"]["name"])
                else:
                    assert "password" not in env["name"].lower(), env
    assert read >= made_by_operators
    for secret in read - made_by_operators:
        assert f"kubectl create secret generic {secret}" in guide, secret


def test_the_pods_run_what_the_cli_and_the_api_serve() -> None:
    commands = {name: c["args"] for name, c in containers()}
    assert commands == {
        API: ["serve"],
        WORKERS: ["projections", "run"],
        WEBHOOKS: ["partners", "webhooks", "run"],
    }
    paths = {path for method, path in route_table(create_app(Settings())) if method == "GET"}
    _, api = next(c for c in containers() if c[0] == API)
    probes = [api["readinessProbe"], api["livenessProbe"]]
    assert {p["httpGet"]["path"] for p in probes} == {"/readyz", "/livez"} <= paths
    for name, setting in ((WORKERS, "WORKER"), (WEBHOOKS, "WEBHOOK")):
        _, worker = next(c for c in containers() if c[0] == name)
        env = {e["name"]: e.get("value") for e in worker["env"]}
        (port,) = worker["ports"]
        assert int(env[f"REFNET_{setting}_METRICS_PORT"]) == port["containerPort"], name
        assert env["REFNET_WORKER_METRICS_HOST"] == "0.0.0.0", name
        assert worker["livenessProbe"]["httpGet"] == {"path": "/metrics", "port": port["name"]}


def test_prometheus_finds_each_pod_s_metrics_port_from_its_annotations() -> None:
    def selects(policy: Document) -> object:
        return policy["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/name")

    for name in (API, WORKERS, WEBHOOKS):
        pod = named("Deployment", name)["spec"]["template"]
        notes = pod["metadata"]["annotations"]
        (container,) = pod["spec"]["containers"]
        ports = {p["containerPort"] for p in container["ports"]}
        assert notes["prometheus.io/scrape"] == "true", name
        assert int(notes["prometheus.io/port"]) in ports, name
        assert notes["prometheus.io/path"] == "/metrics", name
        # ... and a NetworkPolicy lets the monitoring namespace reach that port.
        admitted = {
            port["port"]
            for policy in of_kind("NetworkPolicy")
            if selects(policy) == name
            for rule in policy["spec"].get("ingress", [])
            for port in rule.get("ports", [])
        }
        assert int(notes["prometheus.io/port"]) in admitted, name


def test_the_autoscaler_and_the_disruption_budgets_cover_the_api_and_the_workers() -> None:
    scaler = named("HorizontalPodAutoscaler", API)["spec"]
    assert scaler["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": API}
    assert "replicas" not in named("Deployment", API)["spec"]  # the autoscaler owns it
    assert scaler["minReplicas"] >= 2
    budgets = {
        b["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"]
        for b in of_kind("PodDisruptionBudget")
    }
    assert budgets == {API, WORKERS}


def _peers(rule: Document) -> set[str]:
    names = set()
    for peer in rule.get("from", []):
        labels = peer.get("podSelector", {}).get("matchLabels", {})
        names |= set(labels.values())
        names |= {
            f"namespace {v}"
            for v in peer.get("namespaceSelector", {}).get("matchLabels", {}).values()
        }
    return names


def test_only_refnet_s_own_pods_reach_the_brokers_and_postgresql() -> None:
    policies = of_kind("NetworkPolicy")
    deny = [p for p in policies if p["spec"]["podSelector"] == {} and "ingress" not in p["spec"]]
    assert deny and deny[0]["spec"]["policyTypes"] == ["Ingress"]
    # PostgreSQL's port: the two services and the instances' own replication, no one else.
    on_database = [
        p
        for p in policies
        if p["spec"]["podSelector"].get("matchLabels") == {"cnpg.io/cluster": DATABASE}
    ]
    reach: dict[int, set[str]] = {}
    for policy in on_database:
        for rule in policy["spec"]["ingress"]:
            for port in rule["ports"]:
                reach.setdefault(port["port"], set()).update(_peers(rule))
    assert reach == {5432: {API, WORKERS, WEBHOOKS, DATABASE}, 8000: {"namespace cnpg-system"}}
    # The brokers' one client listener: Strimzi makes their policy from these peers.
    (listener,) = named("Kafka", KAFKA_CLUSTER)["spec"]["kafka"]["listeners"]
    assert _peers({"from": listener["networkPolicyPeers"]}) == {API, WORKERS, WEBHOOKS}
    assert listener["authentication"]["type"] == "scram-sha-512"
    # And no policy of ours opens a broker pod to anyone else.
    assert not [
        p
        for p in policies
        if "strimzi.io/cluster" in p["spec"]["podSelector"].get("matchLabels", {})
    ]


def test_a_partner_s_kafka_user_from_the_cli_validates(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from refnet.services.cli.partners import app as partners_app

    printed = CliRunner().invoke(partners_app, ["kafka-user", "awo-en"])
    assert printed.exit_code == 0, printed.output
    assert yaml.safe_load(printed.stdout) == partner_user(Settings(), "awo-en")
    (tmp_path / "awo-en.yaml").write_text(printed.stdout)

    done = validate(tmp_path / "awo-en.yaml")

    assert done.returncode == 0, done.stderr
    assert "checked" in done.stdout and "KafkaUser/awo-en" in done.stdout


def _pins(lock: Path) -> dict[str, str]:
    pins = {}
    for line in lock.read_text().splitlines():
        if "==" in line and not line.startswith((" ", "#")):
            name, version = line.split(" ")[0].split("==")
            pins[name.lower()] = version
    return pins


def test_the_image_installs_the_versions_ci_tested_without_the_development_tools() -> None:
    image = _pins(ROOT / "deploy" / "container" / "requirements.lock")
    tested = _pins(ROOT / "requirements.lock")

    assert {"faust-streaming", "asyncpg", "fastapi", "uvicorn"} <= set(image)
    assert {name: tested.get(name) for name in image} == image
    assert not {"pytest", "mypy", "ruff", "hypothesis"} & set(image)
    dockerfile = (ROOT / "deploy" / "container" / "Dockerfile").read_text()
    for line in dockerfile.splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), line
