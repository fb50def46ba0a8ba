"""The per-process port table that stands in for sockets in the fetch-backed server.

workerd keeps one map from port number to server per isolate: ``server.listen(port)``
only claims a key in it, and the bridge looks the key up to route a fetch Request. This
module is the Python model of that map. It is guarded by a lock because an ASGI server
may run on another thread than the code that calls ``listen``.
"""

from __future__ import annotations

import threading
from typing import Any

# workerd hands out keys from the IANA dynamic range when asked for port 0.
FIRST_DYNAMIC_PORT = 49152
MAX_PORT = 65535


class PortTable:
    """A thread-safe map ``port -> server`` with Node-like free-port allocation."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._servers: dict[int, Any] = {}
        self._next_dynamic = FIRST_DYNAMIC_PORT

    def claim(self, port: int, server: Any) -> int | None:
        """Register ``server`` on ``port`` (0: the next free dynamic port).

        Returns the port claimed, or None when the port is taken (the caller turns that
        into EADDRINUSE) or, for 0, when the dynamic range is exhausted.
        """
        with self._lock:
            if port == 0:
                picked = self._pick_free()
                if picked is None:
                    return None
                port = picked
            elif port in self._servers:
                return None
            self._servers[port] = server
            return port

    def _pick_free(self) -> int | None:
        # Hand keys out in increasing order like workerd, wrapping once over the range.
        span = MAX_PORT - FIRST_DYNAMIC_PORT + 1
        for offset in range(span):
            candidate = (
                FIRST_DYNAMIC_PORT + (self._next_dynamic - FIRST_DYNAMIC_PORT + offset) % span
            )
            if candidate not in self._servers:
                self._next_dynamic = candidate + 1 if candidate < MAX_PORT else FIRST_DYNAMIC_PORT
                return candidate
        return None

    def release(self, port: int, server: Any) -> bool:
        """Free ``port`` if ``server`` holds it; True when something was freed."""
        with self._lock:
            if self._servers.get(port) is server:
                del self._servers[port]
                return True
            return False

    def lookup(self, port: int) -> Any | None:
        with self._lock:
            return self._servers.get(port)

    def ports(self) -> list[int]:
        with self._lock:
            return sorted(self._servers)

    def __contains__(self, port: object) -> bool:
        with self._lock:
            return port in self._servers


# The process-wide table, shared by every Server and the bridge.
PORTS = PortTable()
