"""Serving an ASGI app on a real loopback socket inside the test's event loop."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass

import uvicorn
from litestar import Litestar


@dataclass
class Served:
    url: str
    server: uvicorn.Server


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def serve(app: Litestar, port: int = 0) -> Served:
    """Run `app` with uvicorn on a loopback port (a free one unless given), in this loop."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        # A test may leave a request hanging on purpose (a sandbox holding its answer): don't
        # wait for it at the end.
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    task = asyncio.get_running_loop().create_task(server.serve())
    server.task = task  # type: ignore[attr-defined]
    async with asyncio.timeout(10):
        while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
            await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    return Served(f"http://127.0.0.1:{port}", server)


async def shut(served: Served) -> None:
    served.server.should_exit = True
    await served.server.task  # type: ignore[attr-defined]
