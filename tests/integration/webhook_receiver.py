"""A webhook receiver on this machine and the delivery worker, for the webhook tests."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook

from refnet.services.localstack.process import settings_env
from refnet.services.webhooks.endpoints import Endpoint, add_endpoint, delivery_log
from tests.integration.world import World, run_sync
from tests.integration.world_serving import free_port

FAST = {"webhook_retry_base": 0.2, "webhook_retry_cap": 1.0}
"""Retries within the tests' patience: 0.2 s, doubling up to 1 s."""


@dataclass
class Receiver:
    """An endpoint on this machine: records each post, answers `status` (or is down)."""

    port: int = field(default_factory=free_port)
    status: int = 204
    received: list[tuple[dict[str, str], bytes, int]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/refnet"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                headers = {k.lower(): v for k, v in self.headers.items()}
                status = receiver.status
                receiver.received.append((headers, body, status))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def notices(self, secret: str) -> dict[str, dict[str, Any]]:
        """Every notice received that verifies, by webhook id (a repeat counts once)."""
        verified = {}
        for headers, body, status in self.received:
            if not 200 <= status < 300:
                continue
            payload = Webhook(secret).verify(body, headers)  # raises if the signature is bad
            verified[headers["webhook-id"]] = payload
        return verified


def start_delivery(world: World, metrics_port: int = 0) -> subprocess.Popen[bytes]:
    """`refnet partners webhooks run` for `world`, its metrics on `metrics_port` (0: none)."""
    log = (world.log_dir / "webhooks.log").open("ab")
    argv = [sys.executable, "-m", "refnet.services.cli.main", "partners", "webhooks", "run"]
    env = settings_env(world.settings) | {"REFNET_WEBHOOK_METRICS_PORT": str(metrics_port)}
    process = subprocess.Popen(argv, env=env, stdout=log, stderr=log)
    world.workers.append(process)  # stopped with the world's workers
    return process


def eventually(probe: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := probe():
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def endpoint_of(world: World, partner: str, url: str) -> Endpoint:
    async def add() -> Endpoint:
        async with world.connection() as conn:
            return await add_endpoint(conn, partner, url)

    endpoint: Endpoint = run_sync(add())
    return endpoint


def log_of(world: World, endpoint: Endpoint) -> list[Any]:
    async def read() -> list[Any]:
        async with world.connection() as conn:
            return list(await delivery_log(conn, endpoint.endpoint_id))

    entries: list[Any] = run_sync(read())
    return entries
