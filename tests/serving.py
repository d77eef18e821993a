"""Serving an ASGI app on a real loopback socket inside the test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import uvicorn
from litestar import Litestar

from tests.waiting import eventually


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
    # uvicorn offers no event to wait on.
    await eventually(lambda: server.started, "uvicorn did not start", seconds=10, every=0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    return Served(f"http://127.0.0.1:{port}", server)


async def shut(served: Served) -> None:
    served.server.should_exit = True
    await served.server.task  # type: ignore[attr-defined]


@contextlib.asynccontextmanager
async def browse(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """`app` on a loopback socket in this event loop, and a client with its own cookies."""
    served = await serve(app)
    try:
        async with httpx.AsyncClient(base_url=served.url, timeout=30) as client:
            yield client
    finally:
        await shut(served)
