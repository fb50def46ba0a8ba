"""A createServer hello-world served on a real socket through the bridge.

    uvicorn harness.reference.demo:app --host 127.0.0.1 --port 8787 --no-server-header --no-date-header

The Server listens on port key 8080 of the in-process port table (not a socket);
``http_server_handler(8080)`` routes every request to it and ``asgi_app`` puts that fetch
handler behind uvicorn. The two ``--no-*-header`` flags stop uvicorn adding a second
Date and a Server header next to the ones the ServerResponse sends.

Importing this module has no side effect: the server is made, and claims key 8080, the
first time ``app`` (or ``server``) is asked for, which uvicorn does when it loads the app.
``make_app(port_key)`` builds the same thing on another key.
"""

from __future__ import annotations

import threading
from typing import Any

from .asgi import ASGIApp, asgi_app
from .bridge import http_server_handler
from .server import Server, create_server
from .server_incoming import ServerIncomingMessage
from .server_response import ServerResponse

__all__ = ["PORT_KEY", "hello", "make_app"]  # and `app`, `server` (made on first use)

PORT_KEY = 8080
_made: dict[str, Any] = {}
_lock = threading.Lock()


def hello(req: ServerIncomingMessage, res: ServerResponse) -> None:
    res.set_header("Content-Type", "text/plain; charset=utf-8")
    res.end(f"Hello from node:http on fetch: {req.method} {req.url}\n")


def make_app(port_key: int = PORT_KEY) -> tuple[Server, ASGIApp]:
    """A hello-world Server listening on `port_key` and the ASGI app bridging to it."""
    server = create_server(hello)
    server.listen(port_key)
    return server, asgi_app(http_server_handler(port_key))


def __getattr__(name: str) -> Any:
    # PEP 562: `app` and `server` exist from their first use on.
    if name not in ("app", "server"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    with _lock:
        if not _made:
            _made["server"], _made["app"] = make_app(PORT_KEY)
    return _made[name]
