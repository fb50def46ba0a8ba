"""The bridge from fetch to node:http servers: ``http_server_handler`` and
``handle_as_node_request`` (workerd's ``cloudflare:node`` exports of the same names).

A fetch handler is ``async (Request) -> Response``. The bridge routes each Request to the
Server listening on a port key of the port table, waits until that server's
ServerResponse has a head, and returns a Response whose body streams the rest.

- ``http_server_handler(port)`` / ``http_server_handler({"port": port})`` /
  ``http_server_handler(server)``: the port is looked up on every request, so the handler
  may be made before ``listen``. A server that is not listening yet is made to
  ``listen()`` (a free key), as workerd does.
- ``handle_as_node_request(port, request)`` routes one Request by hand.
- A port nobody listens on raises Error ``ERR_INVALID_ARG_VALUE`` naming the port (the
  code workerd uses); a value that is no port number at all raises TypeError
  ``ERR_INVALID_ARG_VALUE`` too.
- A 'request' listener that raises before sending anything gives a 500 Response.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from .errors import NodeError, invalid_arg_value
from .fetch import Request, Response
from .port_table import PORTS
from .server import Server
from .server_errors import server_not_found

FetchHandler = Callable[[Request], Awaitable[Response]]


def _check_port(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
        raise invalid_arg_value("port", value, "must be a port number from 0 to 65535")
    return value


def _port_of(target: Any) -> int:
    if isinstance(target, Server):
        address = target.address()
        if address is None:
            target.listen()
            address = target.address()
        if address is None:  # listen() found no free key
            raise NodeError("Failed to determine port for server", "ERR_INVALID_ARG_VALUE")
        return int(address["port"])
    if isinstance(target, Mapping):
        return _check_port(target.get("port"))
    return _check_port(target)


async def handle_as_node_request(port: int | Mapping[str, Any], request: Request) -> Response:
    """Hand ``request`` to the server listening on ``port``; resolve with its Response."""
    key = _check_port(port.get("port") if isinstance(port, Mapping) else port)
    server = PORTS.lookup(key)
    if server is None:
        raise server_not_found(key)
    return await server._handle_fetch(request)


def http_server_handler(target: int | Mapping[str, Any] | Server) -> FetchHandler:
    """A fetch handler for the server on ``target`` (a port, ``{"port": n}`` or a Server)."""
    port = _port_of(target)

    async def fetch(request: Request) -> Response:
        return await handle_as_node_request(port, request)

    # workerd hands back an object with a fetch method; both spellings work here.
    fetch.fetch = fetch  # type: ignore[attr-defined]
    fetch.port = port  # type: ignore[attr-defined]
    return fetch
