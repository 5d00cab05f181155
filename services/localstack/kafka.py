"""The local single-node Kafka broker (KRaft): jars from Maven, storage, start, stop.

The broker version is pinned once, in deploy/kafka/pom.xml; its jars are resolved into
the cache once per pom content, and its storage is formatted once per data directory.
"""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import socket
import subprocess
import time
import uuid
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import psutil
from confluent_kafka import KafkaException

from refnet.events.settings import Settings
from refnet.services.kafka.admin import BrokerUnavailable, admin_client
from refnet.services.localstack.errors import JarsUnavailable, StackError, ToolMissing
from refnet.services.localstack.process import (
    data_dir,
    deploy_dir,
    last_line,
    log_file,
    running_pid,
    start_background,
    stop_background,
)

KAFKA = "kafka"
"""Name of the broker among the stack's background processes."""

START_TIMEOUT = 90.0
_POM_NS = {"m": "http://maven.apache.org/POM/4.0.0"}
_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}

# librdkafka logs every refused connection; the stack reports failures itself.


@dataclass(frozen=True)
class KafkaStart:
    """What `start_kafka` found or did, and where the broker answers."""

    outcome: Literal["started", "running", "external"]
    bootstrap: str
    pid: int | None


def kafka_version() -> str:
    """The broker version pinned in deploy/kafka/pom.xml."""
    pom = deploy_dir() / "kafka" / "pom.xml"
    node = ElementTree.parse(pom).find("m:properties/m:kafka.version", _POM_NS)
    if node is None or not (node.text or "").strip():
        raise JarsUnavailable(f"{pom} has no <kafka.version> property")
    return (node.text or "").strip()


def ensure_kafka_jars(settings: Settings) -> Path:
    """Resolve the broker's jars with Maven unless already complete; return the libs dir."""
    home = settings.cache_dir.expanduser().resolve() / f"kafka-{kafka_version()}"
    return resolve_jars(deploy_dir() / "kafka" / "pom.xml", home, _has_broker_jar)


def resolve_jars(pom: Path, home: Path, complete: Callable[[Path], bool]) -> Path:
    """The runtime jars of `pom` (at the broker's Kafka version) in `home`/libs, resolved
    with Maven once per pom content; `complete(libs)` says whether the copy is whole."""
    version = kafka_version()
    libs, marker = home / "libs", home / ".complete"
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()  # `home` names the version
    if marker.is_file() and marker.read_text().strip() == digest and complete(libs):
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ToolMissing("Maven (mvn) is needed to fetch the Kafka jars: apt-get install maven")
    # Same pom as before (or no record): copy into place, Maven skips jars it has.
    # A changed pom resolves into a fresh folder so no stale jar stays on the classpath.
    target = libs if not marker.is_file() else home / "libs.new"
    shutil.rmtree(home / "libs.new", ignore_errors=True)
    command = [
        mvn, "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
        f"-DoutputDirectory={target}", "-DincludeScope=runtime", f"-Dkafka.version={version}",
    ]  # fmt: skip
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=1800)
    except subprocess.TimeoutExpired as exc:
        raise JarsUnavailable(
            f"Maven did not resolve {pom.parent.name} jars within 30 minutes"
        ) from exc
    if result.returncode != 0 or not complete(target):
        output = (result.stdout + result.stderr).strip().splitlines()
        reason = next((ln for ln in reversed(output) if "ERROR" in ln), "the jars were not copied")
        raise JarsUnavailable(f"Maven could not resolve {pom} at Kafka {version}: {reason.strip()}")
    if target != libs:
        shutil.rmtree(libs, ignore_errors=True)
        target.replace(libs)
    marker.write_text(digest + "\n")
    return libs


def start_kafka(settings: Settings) -> KafkaStart:
    """Start the local broker unless one answers already; wait until it answers."""
    bootstrap = settings.kafka_bootstrap
    local = _local_port(bootstrap)
    pid = running_pid(KAFKA, settings)
    if pid is not None:
        wait_for_broker(settings, bootstrap)
        return KafkaStart("running", bootstrap, pid)
    if broker_answers(bootstrap):
        return KafkaStart("external", bootstrap, None)
    if local is None:
        raise BrokerUnavailable(
            f"no broker answers at REFNET_KAFKA_BOOTSTRAP={bootstrap}, and the stack "
            "only starts a broker on this machine"
        )
    if local != settings.kafka_port:
        raise StackError(
            f"REFNET_KAFKA_BOOTSTRAP={bootstrap} does not point to the local broker's "
            f"port REFNET_KAFKA_PORT={settings.kafka_port}"
        )
    java = shutil.which("java")
    if java is None:
        raise ToolMissing("Java 17 or newer is needed to run the Kafka broker")
    libs = ensure_kafka_jars(settings)
    properties = write_server_properties(settings)
    _format_storage(settings, java, libs, properties)
    argv = [java, f"-Xmx{settings.kafka_heap}", *_jvm_options(settings, libs)]
    pid = start_background(KAFKA, [*argv, "kafka.Kafka", str(properties)], settings)
    wait_for_broker(settings, bootstrap)
    return KafkaStart("started", bootstrap, pid)


def stop_kafka(settings: Settings, timeout: float = 60.0) -> bool:
    """Stop the broker the stack started (controlled shutdown on SIGTERM)."""
    return stop_background(KAFKA, settings, timeout)


def write_server_properties(settings: Settings) -> Path:
    """Write `<data_dir>/kafka/server.properties` for a combined broker and controller."""
    home = data_dir(settings) / "kafka"
    (home / "data").mkdir(parents=True, exist_ok=True)
    port, controller = settings.kafka_port, settings.kafka_controller_port
    sasl = settings.kafka_sasl_port
    properties = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.bootstrap.servers": f"127.0.0.1:{controller}",
        "listeners": (
            f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller},"
            f"SASL://127.0.0.1:{sasl}"
        ),
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port},SASL://127.0.0.1:{sasl}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": (
            "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL:SASL_PLAINTEXT"
        ),
        # Partners and services authenticate on the SASL listener with SCRAM credentials
        # kept in the cluster metadata (see services/kafka_access.py).
        "sasl.enabled.mechanisms": "SCRAM-SHA-512",
        "listener.name.sasl.scram-sha-512.sasl.jaas.config": (
            "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        ),
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        # PLAINTEXT (the local operator's listener: worker, CLI, tests) and CONTROLLER
        # are bound to loopback and authenticate nobody, so ANONYMOUS is a super user.
        # A production broker would disable PLAINTEXT and use admin over SASL instead.
        "super.users": "User:ANONYMOUS;User:admin",
        "allow.everyone.if.no.acl.found": "false",
        "log.dirs": str(home / "data"),
        "num.partitions": str(settings.topic_partitions),
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        # Topics are made by `ensure_topics` with explicit configs, never by accident.
        "auto.create.topics.enable": "false",
    }
    path = home / "server.properties"
    path.write_text("".join(f"{key}={value}\n" for key, value in properties.items()))
    return path


def broker_answers(bootstrap: str, timeout: float = 3.0) -> bool:
    """Whether a Kafka broker at `bootstrap` returns metadata within `timeout` seconds."""
    if not port_open(bootstrap):
        return False
    try:
        admin_client(bootstrap).list_topics(timeout=timeout)
    except KafkaException:
        return False
    return True


def port_open(bootstrap: str) -> bool:
    """Whether any address of `bootstrap` accepts a TCP connection."""
    return any(_port_open(address) for address in bootstrap.split(","))


def wait_for_broker(settings: Settings, bootstrap: str, timeout: float = START_TIMEOUT) -> None:
    """Poll until the broker answers; fail early if its process dies meanwhile."""
    log = log_file(settings, KAFKA)
    deadline = time.monotonic() + timeout
    while not broker_answers(bootstrap):
        if running_pid(KAFKA, settings) is None:
            raise BrokerUnavailable(
                f"Kafka broker exited while starting: {last_line(log)}; see {log}"
            )
        if time.monotonic() > deadline:
            raise BrokerUnavailable(
                f"Kafka broker did not answer at {bootstrap} within {timeout:.0f}s; see {log}"
            )
        time.sleep(0.5)


def broker_version(settings: Settings) -> str | None:
    """The version of the broker on the local Kafka port, read from its classpath."""
    pid = running_pid(KAFKA, settings)
    port = _local_port(settings.kafka_bootstrap)
    if pid is None and port is not None:
        pid = _listener_pid(port)
    if pid is None:
        return None
    try:
        command = psutil.Process(pid).cmdline()
    except psutil.Error:
        return None
    for index, argument in enumerate(command[:-1]):
        if argument in ("-cp", "-classpath", "--class-path"):
            for entry in command[index + 1].split(":"):
                for jar in Path(entry).parent.glob("kafka-clients-*.jar"):
                    found = re.fullmatch(r"kafka-clients-(.+)\.jar", jar.name)
                    if found:
                        return found.group(1)
    return None


def new_cluster_id() -> str:
    """A random KRaft cluster id; never one starting with '-', which reads as an option."""
    while True:
        raw = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not raw.startswith("-"):
            return raw


def _format_storage(settings: Settings, java: str, libs: Path, properties: Path) -> None:
    """Format the KRaft storage once, with a cluster id kept beside it."""
    home = properties.parent
    if (home / "data" / "meta.properties").is_file():
        return
    id_file = home / "cluster.id"
    if not id_file.is_file() or id_file.read_text().startswith("-"):
        id_file.write_text(new_cluster_id() + "\n")
    cluster_id = id_file.read_text().strip()
    command = [
        java, *_jvm_options(settings, libs), "kafka.tools.StorageTool", "format",
        "--standalone", "--ignore-formatted", f"--cluster-id={cluster_id}", "-c", str(properties),
    ]  # fmt: skip
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)
    except subprocess.TimeoutExpired as exc:
        raise BrokerUnavailable(f"formatting Kafka storage in {home} took over 5 minutes") from exc
    if result.returncode != 0:
        lines = (result.stdout + result.stderr).strip().splitlines() or ["no output"]
        raise BrokerUnavailable(f"formatting Kafka storage in {home} failed: {lines[-1]}")


def _jvm_options(settings: Settings, libs: Path) -> list[str]:
    logs = data_dir(settings) / "kafka" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    return [
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={deploy_dir() / 'kafka' / 'log4j2.properties'}",
        f"-Dkafka.logs.dir={logs}",
        "-cp",
        f"{libs}/*",
    ]


def _has_broker_jar(libs: Path) -> bool:
    return libs.is_dir() and any(libs.glob("kafka_*.jar")) and any(libs.glob("kafka-clients-*"))


def _split(address: str) -> tuple[str, int] | None:
    host, _, port = address.strip().rpartition(":")
    return (host.strip("[]"), int(port)) if port.isdigit() else None


def _local_port(bootstrap: str) -> int | None:
    """The port if the bootstrap is one address on this machine, else None."""
    part = _split(bootstrap) if "," not in bootstrap else None
    return part[1] if part is not None and part[0] in _LOCAL_HOSTS else None


def _port_open(address: str) -> bool:
    part = _split(address)
    if part is None:
        return False
    try:
        with socket.create_connection(part, timeout=1.0):
            return True
    except OSError:
        return False


def _listener_pid(port: int) -> int | None:
    try:
        connections = psutil.net_connections(kind="tcp")
    except psutil.Error:
        return None
    for connection in connections:
        if connection.status == psutil.CONN_LISTEN and connection.laddr.port == port:
            return int(connection.pid) if connection.pid else None
    return None
