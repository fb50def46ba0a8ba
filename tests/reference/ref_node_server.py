"""Helpers for the server-side tests: a listening Server and a fetch Request to it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from harness.reference.bridge import handle_as_node_request
from harness.reference.fetch import Request, Response
from harness.reference.server import Server, create_server

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@contextmanager
def listening(
    handler: Callable[..., Any] | None = None, options: dict[str, Any] | None = None
) -> Iterator[Server]:
    """A server on a free port key, closed (port freed) afterwards."""
    server = create_server(options or {}, handler)
    server.listen(0)
    try:
        yield server
    finally:
        server.close()


def port_of(server: Server) -> int:
    address = server.address()
    assert address is not None
    return int(address["port"])


async def chunks(*parts: bytes, delay: float = 0.0) -> AsyncIterator[bytes]:
    for part in parts:
        if delay:
            await asyncio.sleep(delay)
        yield part


async def send(
    server: Server,
    target: str = "/",
    *,
    method: str = "GET",
    headers: Any = None,
    body: Any = None,
) -> tuple[Response, bytes]:
    """Route one fetch Request to ``server`` and read the whole Response body."""
    request = Request(f"http://127.0.0.1{target}", method=method, headers=headers, body=body)
    response = await handle_as_node_request(port_of(server), request)
    return response, await response.read()


async def settle(turns: int = 5) -> None:
    """Let call_soon callbacks (Node's next ticks) run."""
    for _ in range(turns):
        await asyncio.sleep(0)
