"""A createServer hello-world served on a real socket through the bridge.

    uvicorn harness.reference.demo:app --host 127.0.0.1 --port 8787 --no-server-header --no-date-header

The Server listens on port key 8080 of the in-process port table (not a socket);
``http_server_handler(8080)`` routes every request to it and ``asgi_app`` puts that fetch
handler behind uvicorn. The two ``--no-*-header`` flags stop uvicorn adding a second
Date and a Server header next to the ones the ServerResponse sends.
"""

from __future__ import annotations

from .asgi import asgi_app
from .bridge import http_server_handler
from .server import create_server
from .server_incoming import ServerIncomingMessage
from .server_response import ServerResponse

PORT_KEY = 8080


def hello(req: ServerIncomingMessage, res: ServerResponse) -> None:
    res.set_header("Content-Type", "text/plain; charset=utf-8")
    res.end(f"Hello from node:http on fetch: {req.method} {req.url}\n")


server = create_server(hello)
server.listen(PORT_KEY)
app = asgi_app(http_server_handler(PORT_KEY))
