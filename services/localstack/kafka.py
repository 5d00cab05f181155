"""The local Kafka broker, or cluster (KRaft): jars from Maven, storage, start, stop.

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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import psutil
from confluent_kafka import KafkaException

from refnet.events.settings import Settings
from refnet.services.kafka.admin import BrokerUnavailable, admin_client
from refnet.services.localstack.errors import JarsUnavailable, StackError, ToolMissing
from refnet.services.localstack.kafka_nodes import KAFKA, Node, nodes, write_server_properties
from refnet.services.localstack.process import (
    deploy_dir,
    last_line,
    log_file,
    running_pid,
    start_background,
    stop_background,
    tracked_names,
)

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
    """Start the local broker, or each node of the local cluster that is not running;
    wait until every node answers."""
    bootstrap = settings.kafka_bootstrap
    members = nodes(settings)
    pids = {node.name: running_pid(node.name, settings) for node in members}
    if all(pids.values()):
        wait_for_broker(settings, bootstrap)
        return KafkaStart("running", bootstrap, pids[KAFKA])
    if not any(pids.values()) and broker_answers(bootstrap):
        return KafkaStart("external", bootstrap, None)
    _check_local(settings, bootstrap)
    java = shutil.which("java")
    if java is None:
        raise ToolMissing("Java 17 or newer is needed to run the Kafka broker")
    libs = ensure_kafka_jars(settings)
    started = False
    for node in members:
        if pids[node.name] is not None:
            continue
        properties = write_server_properties(settings, node)
        _format_storage(settings, node, java, libs, properties)
        argv = [java, f"-Xmx{settings.kafka_heap}", *_jvm_options(node, libs)]
        argv += ["kafka.Kafka", str(properties)]
        pids[node.name] = start_background(node.name, argv, settings)
        started = True
    wait_for_broker(settings, bootstrap)
    return KafkaStart("started" if started else "running", bootstrap, pids[KAFKA])


def _check_local(settings: Settings, bootstrap: str) -> None:
    """The stack starts brokers on this machine only, on the ports its settings name."""
    wanted = {node.port for node in nodes(settings)}
    local = {_local_port(address) for address in bootstrap.split(",")}
    if None in local:
        raise BrokerUnavailable(
            f"no broker answers at REFNET_KAFKA_BOOTSTRAP={bootstrap}, and the stack "
            "only starts brokers on this machine"
        )
    if not local <= wanted:
        raise StackError(
            f"REFNET_KAFKA_BOOTSTRAP={bootstrap} does not point to the local broker's "
            f"port REFNET_KAFKA_PORT={settings.kafka_port}"
            + (f" (or its cluster's {sorted(wanted)})" if len(wanted) > 1 else "")
        )


def stop_kafka(settings: Settings, timeout: float = 60.0) -> list[str]:
    """Stop the nodes the stack started, all at once (controlled shutdown on SIGTERM):
    one by one, the last would wait for a controller quorum that is gone."""
    names = [node.name for node in nodes(settings)]
    names += [n for n in tracked_names(settings) if n.startswith(f"{KAFKA}-") and n not in names]
    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        stopped = pool.map(lambda name: stop_background(name, settings, timeout), names)
        return [name for name, done in zip(names, stopped, strict=True) if done]


def broker_answers(bootstrap: str, timeout: float = 3.0, brokers: int = 1) -> bool:
    """Whether Kafka at `bootstrap` returns metadata listing at least `brokers` brokers
    within `timeout` seconds."""
    if not port_open(bootstrap):
        return False
    try:
        metadata = admin_client(bootstrap).list_topics(timeout=timeout)
    except KafkaException:
        return False
    return len(metadata.brokers) >= brokers


def port_open(bootstrap: str) -> bool:
    """Whether any address of `bootstrap` accepts a TCP connection."""
    return any(_port_open(address) for address in bootstrap.split(","))


def wait_for_broker(settings: Settings, bootstrap: str, timeout: float = START_TIMEOUT) -> None:
    """Poll until the broker answers; fail early if its process dies meanwhile."""
    deadline = time.monotonic() + timeout
    members = nodes(settings)
    # Each node on its own address: a survivor's metadata lists a dead node as long as
    # no controller quorum has fenced it.
    addresses = [bootstrap] if len(members) == 1 else [node.address for node in members]
    while not all(broker_answers(a, brokers=len(members)) for a in addresses):
        for node in members:
            if running_pid(node.name, settings) is None:
                log = log_file(settings, node.name)
                raise BrokerUnavailable(
                    f"Kafka broker {node.name} exited while starting: {last_line(log)}; see {log}"
                )
        if time.monotonic() > deadline:
            raise BrokerUnavailable(
                f"Kafka broker did not answer at {bootstrap} within {timeout:.0f}s; see {log}"
            )
        time.sleep(0.5)


def broker_version(settings: Settings) -> str | None:
    """The version of the broker on the local Kafka port, read from its classpath."""
    pids = [running_pid(node.name, settings) for node in nodes(settings)]
    pid = next((p for p in pids if p is not None), None)
    port = _local_port(settings.kafka_bootstrap.split(",")[0])
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


def _format_storage(
    settings: Settings, node: Node, java: str, libs: Path, properties: Path
) -> None:
    """Format the node's KRaft storage once, with the cluster's id (kept beside node 1's)."""
    home = node.home
    if (home / "data" / "meta.properties").is_file():
        return
    id_file = nodes(settings)[0].home / "cluster.id"
    id_file.parent.mkdir(parents=True, exist_ok=True)
    if not id_file.is_file() or id_file.read_text().startswith("-"):
        id_file.write_text(new_cluster_id() + "\n")
    cluster_id = id_file.read_text().strip()
    # One node forms its own quorum; a cluster's voters are in its properties already.
    alone = ["--standalone"] if settings.kafka_brokers == 1 else []
    command = [
        java, *_jvm_options(node, libs), "kafka.tools.StorageTool", "format",
        *alone, "--ignore-formatted", f"--cluster-id={cluster_id}", "-c", str(properties),
    ]  # fmt: skip
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)
    except subprocess.TimeoutExpired as exc:
        raise BrokerUnavailable(f"formatting Kafka storage in {home} took over 5 minutes") from exc
    if result.returncode != 0:
        lines = (result.stdout + result.stderr).strip().splitlines() or ["no output"]
        raise BrokerUnavailable(f"formatting Kafka storage in {home} failed: {lines[-1]}")


def _jvm_options(node: Node, libs: Path) -> list[str]:
    logs = node.home / "logs"
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
