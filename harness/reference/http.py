"""The public face of the reference: Node's `node:http` names in snake_case.

Client names live in client.py, agent.py and incoming.py. Server names
(create_server, Server, ServerResponse, ...) live in server.py, and the bridge's
(http_server_handler, handle_as_node_request: ``cloudflare:node``'s exports) in
bridge.py; both are looked up on first use, so the client side works on its own.
"""

from __future__ import annotations

import math
from importlib import import_module
from typing import Any

from . import client as _client
from .agent import Agent, HttpsAgent, global_agent
from .client import ClientRequest, get, get_global_agent, request
from .constants import MAX_HEADER_SIZE, METHODS, STATUS_CODES
from .errors import UNDEFINED, AbortError, NodeError, invalid_arg_type, out_of_range
from .incoming import IncomingMessage
from .limitations import LIMITATIONS
from .signals import AbortController, AbortSignal
from .sockets import FetchSocket
from .validation import validate_header_name, validate_header_value

max_header_size = MAX_HEADER_SIZE
_max_idle_parsers = 1000  # Node's default pool size of idle HTTP parsers


def set_max_idle_http_parsers(maximum: Any) -> None:
    """Node's `http.setMaxIdleHTTPParsers(max)`: validated and kept (fetch has no parser pool)."""
    global _max_idle_parsers
    if isinstance(maximum, bool) or not isinstance(maximum, int | float):
        raise invalid_arg_type("max", "number", maximum)
    if maximum != maximum or maximum in (math.inf, -math.inf) or maximum != int(maximum):
        raise out_of_range("max", "an integer", maximum)
    if maximum < 1:
        raise out_of_range("max", ">= 1", maximum)
    _max_idle_parsers = int(maximum)


def set_global_agent(agent: Agent) -> None:
    """Node's `http.globalAgent = agent`: requests without an agent option use it."""
    global global_agent
    global_agent = agent
    _client.set_global_agent(agent)


# Looked up in server.py when first asked for (that module is written separately).
_SERVER_NAMES = (
    "create_server",
    "Server",
    "ServerResponse",
    "OutgoingMessage",
    "ServerIncomingMessage",
)
# Looked up in bridge.py (workerd exports them from `cloudflare:node`).
_BRIDGE_NAMES = ("http_server_handler", "handle_as_node_request")

__all__ = [
    "LIMITATIONS",
    "METHODS",
    "STATUS_CODES",
    "UNDEFINED",
    "AbortController",
    "AbortError",
    "AbortSignal",
    "Agent",
    "ClientRequest",
    "FetchSocket",
    "HttpsAgent",
    "IncomingMessage",
    "NodeError",
    "get",
    "get_global_agent",
    "global_agent",
    "max_header_size",
    "request",
    "set_global_agent",
    "set_max_idle_http_parsers",
    "validate_header_name",
    "validate_header_value",
]


def __getattr__(name: str) -> Any:
    module = ".server" if name in _SERVER_NAMES else ".bridge" if name in _BRIDGE_NAMES else None
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        found = import_module(module, __package__)
    except ImportError as exc:
        raise AttributeError(f"{name}: the server side ({module[1:]}.py) is not available") from exc
    return getattr(found, name)


def __dir__() -> list[str]:
    return sorted({*globals(), *_SERVER_NAMES, *_BRIDGE_NAMES})
