"""Kafka's own command-line tools against RefNet's broker: `refnet stack kafka TOOL ARGS...`.

Operators know `kafka-topics`, `kafka-consumer-groups`, `kafka-acls` and the
console clients; they run here from Maven-resolved jars at the broker's version
(`deploy/kafka/tools/pom.xml`), with `--bootstrap-server` filled in from
REFNET_KAFKA_BOOTSTRAP unless given. On the SASL listener, pass
`--command-config FILE` as with the tools' own scripts.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from refnet.events.settings import Settings
from refnet.services.localstack.errors import ToolMissing
from refnet.services.localstack.kafka import kafka_version, resolve_jars
from refnet.services.localstack.process import deploy_dir

# The script names of Kafka's distribution, and the classes they run (Kafka 4.x).
TOOLS: dict[str, str] = {
    "topics": "org.apache.kafka.tools.TopicCommand",
    "consumer-groups": "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
    "acls": "org.apache.kafka.tools.AclCommand",
    "console-consumer": "org.apache.kafka.tools.consumer.ConsoleConsumer",
    "console-producer": "org.apache.kafka.tools.ConsoleProducer",
    "get-offsets": "org.apache.kafka.tools.GetOffsetShell",
    "log-dirs": "org.apache.kafka.tools.LogDirsCommand",
}


def _complete(libs: Path) -> bool:
    return libs.is_dir() and any(libs.glob("kafka-tools-[0-9]*.jar"))


def ensure_tool_jars(settings: Settings) -> Path:
    """The tools' jars, resolved with Maven on first use."""
    home = settings.cache_dir.expanduser().resolve() / f"kafka-tools-{kafka_version()}"
    return resolve_jars(deploy_dir() / "kafka" / "tools" / "pom.xml", home, _complete)


def tool_command(settings: Settings, tool: str, args: list[str]) -> list[str]:
    """The java command line of `tool` with `args`; ValueError for an unknown tool."""
    name = tool.removeprefix("kafka-").removesuffix(".sh")
    if name not in TOOLS:
        raise ValueError(f"unknown Kafka tool {tool!r}; one of: {', '.join(sorted(TOOLS))}")
    java = shutil.which("java")
    if java is None:
        raise ToolMissing("Java is needed for Kafka's tools: apt-get install default-jre")
    libs = ensure_tool_jars(settings)
    log_config = deploy_dir() / "kafka" / "tools" / "log4j2.properties"
    command = [java, "-Xmx512m", f"-Dlog4j2.configurationFile={log_config}", "-cp", f"{libs}/*"]
    command.append(TOOLS[name])
    given = any(a == "--bootstrap-server" or a.startswith("--bootstrap-server=") for a in args)
    # The console producer and the offsets tool name it the same way in Kafka 4.
    bootstrap = [] if given else ["--bootstrap-server", settings.kafka_bootstrap]
    return command + bootstrap + args


def run_tool(settings: Settings, tool: str, args: list[str]) -> int:
    """Run `tool` in the foreground, its output the terminal's; its exit code."""
    return subprocess.run(tool_command(settings, tool, args), check=False).returncode
