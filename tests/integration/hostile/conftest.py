"""The real `refnet serve` process the hostile-input tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.hostile.support import MAX_BYTES, Server, issue_tokens
from tests.integration.world import World, run_sync, served_api

# The server is `refnet serve` in a process of its own on a free port, with a
# world's settings (its own topics and schemas) and `REFNET_INGEST_MAX_BYTES` at
# 256 KiB, so that oversized bodies stay cheap. Requests go over real HTTP, so
# uvicorn's parsing, chunked transfer and Content-Length handling are part of what
# is tested.


@pytest.fixture(scope="package")
def server(infrastructure: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`refnet serve` on a free port with a world of its own; stopped even if a test fails."""
    log_dir = tmp_path_factory.mktemp("hostile")
    world = World.create(log_dir, ingest_max_bytes=MAX_BYTES)
    try:
        # A worker projects what the tests post, so the health it reports is ok.
        world.start_worker()
        run_sync(world.wait_for_heartbeat())
        tokens = run_sync(issue_tokens(world))
        log = log_dir / "api.log"
        with served_api(world, log) as base_url:
            yield Server(base_url, world, tokens, log)
    finally:
        world.dispose()
