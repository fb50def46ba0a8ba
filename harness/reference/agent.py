"""Agent: options are kept and exposed, connections are not touched (declared no-op).

On a fetch-backed runtime the fetch implementation owns every connection, so an Agent
cannot pool, limit or close sockets. This Agent validates and keeps its options (with
Node's defaults), answers `get_name`, and otherwise does nothing: `sockets`,
`free_sockets` and `requests` stay empty, `destroy()` has nothing to close and no
'free' event is ever emitted. `global_agent` has Node's global-agent options (keepAlive,
lifo, a 5 s timeout). `options` is Node's: the options as given (keys as spelled),
plus `noDelay` and `path`.
"""

from __future__ import annotations

import math
from typing import Any

from .errors import UNDEFINED, invalid_arg_type, invalid_arg_value, js_string, out_of_range
from .events import EventEmitter
from .options import normalise_options


class Agent(EventEmitter):
    """node:http Agent with options but no effect on connections."""

    default_port = 80
    protocol = "http:"

    def __init__(self, options: dict[str, Any] | None = None, /, **kwargs: Any) -> None:
        super().__init__()
        if options is not None and not isinstance(options, dict):
            raise invalid_arg_type("options", "Object", options)
        given = {**(options or {}), **kwargs}
        opts = normalise_options(given)
        # Node's `agent.options`: the caller's object with its own keys, then noDelay
        # (true unless given) and path (null).
        self.options: dict[str, Any] = dict(given)
        if self.options.get("noDelay", self.options.get("no_delay")) is None:
            self.options["noDelay"] = True
        self.options["path"] = None
        self.keep_alive: bool = bool(opts.get("keep_alive", False))
        self.keep_alive_msecs: float = opts.get("keep_alive_msecs") or 1000
        self.max_sockets: float = opts.get("max_sockets") or math.inf
        self.max_total_sockets: float = _max_total_sockets(opts.get("max_total_sockets", UNDEFINED))
        self.max_free_sockets: float = opts.get("max_free_sockets") or 256
        scheduling = opts.get("scheduling", "lifo")
        if scheduling not in ("fifo", "lifo"):
            raise invalid_arg_value("scheduling", scheduling, "must be one of: 'fifo', 'lifo'")
        self.scheduling: str = scheduling
        self.timeout: float | None = opts.get("timeout")
        # Node shortens a server's Keep-Alive timeout hint by this much; only a finite
        # number >= 0 is taken, anything else is Node's default of 1000 ms.
        buffer: Any = opts.get("agent_keep_alive_timeout_buffer")
        self.agent_keep_alive_timeout_buffer: float = (
            buffer if _is_number(buffer) and buffer >= 0 and math.isfinite(buffer) else 1000
        )
        if "default_port" in opts:
            self.default_port = opts["default_port"]
        # Node's bookkeeping, always empty here: fetch owns the sockets.
        self.sockets: dict[str, list[Any]] = {}
        self.free_sockets: dict[str, list[Any]] = {}
        self.requests: dict[str, list[Any]] = {}
        self.total_socket_count = 0
        self.destroyed = False

    def get_name(self, options: dict[str, Any] | None = None) -> str:
        """Node's pool key: host:port:localAddress[:family]."""
        opts = normalise_options(options or {})
        host = opts.get("host") or "localhost"
        name = f"{host}:"
        port = opts.get("port")
        if port is not None and port is not UNDEFINED:
            name += js_string(port)
        name += ":"
        local = opts.get("local_address")
        if local:
            name += js_string(local)
        family = opts.get("family")
        if family in (4, 6):
            name += f":{family}"
        if opts.get("socket_path"):
            name += f":{opts['socket_path']}"
        return name

    def add_request(self, req: Any, options: dict[str, Any] | None = None) -> None:
        """No-op: the request goes straight to fetch."""

    def create_connection(self, *args: Any, **kwargs: Any) -> None:
        """No-op: fetch creates connections; there is no socket to hand out."""
        return None

    def keep_socket_alive(self, socket: Any) -> bool:
        return False

    def reuse_socket(self, socket: Any, req: Any) -> None:
        """No-op."""

    def destroy(self) -> None:
        """Nothing to close; marks the agent destroyed."""
        self.destroyed = True

    def __repr__(self) -> str:
        return f"Agent({self.options!r})"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _max_total_sockets(value: Any) -> float:
    """Node's check: absent means Infinity, else a number >= 1 (NaN is out of range)."""
    if value is UNDEFINED:
        return math.inf
    if not _is_number(value):
        raise invalid_arg_type("maxTotalSockets", "number", value)
    if not value >= 1:
        raise out_of_range("maxTotalSockets", ">= 1", value)
    return value


class HttpsAgent(Agent):
    """Stands in for https.Agent so the protocol check can be exercised."""

    default_port = 443
    protocol = "https:"


# Node v20's globalAgent: keepAlive on, lifo scheduling, 5 s timeout.
global_agent = Agent({"keepAlive": True, "scheduling": "lifo", "timeout": 5000})


_current_global_agent: Agent | None = None


def set_global_agent(agent: Agent) -> None:
    """Replace the agent used when a request names none (Node: http.globalAgent = x)."""
    global _current_global_agent
    _current_global_agent = agent


def get_global_agent() -> Agent:
    return _current_global_agent or global_agent
