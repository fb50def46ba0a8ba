"""The sockets node:http hands out (`req.socket`, 'socket'): fetch owns the real ones.

The methods a caller may use on a socket are accepted and do nothing; the addresses are
what each side knows: the client the origin it asked fetch for, the server its port key.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Self

from .events import EventEmitter
from .outgoing_message import DEFAULT_HIGH_WATER_MARK
from .server_errors import socket_encoding_not_allowed


class StandInSocket(EventEmitter):
    """A socket without a connection behind it: the methods are accepted no-ops."""

    connecting = False
    encrypted: bool | None = None

    def __init__(self) -> None:
        super().__init__()
        self.destroyed = False

    def set_timeout(self, msecs: float, callback: Callable[..., Any] | None = None) -> Self:
        return self

    def set_no_delay(self, no_delay: bool = True) -> Self:
        return self

    def set_keep_alive(self, enable: bool = False, delay: float = 0) -> Self:
        return self

    def destroy(self, error: BaseException | None = None) -> Self:
        self.destroyed = True
        return self


class FetchSocket(StandInSocket):
    """The client's 'socket': the origin fetch was asked to reach."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__()
        self.remote_address = host
        self.remote_port = port
        self.remote_family = "IPv6" if ":" in host else "IPv4"


class ServerSocket(StandInSocket):
    """The server's ``req.socket``: fetch hands the server no socket, only the port key."""

    def __init__(self, local_port: int | None, encrypted: bool) -> None:
        super().__init__()
        self.local_address = "127.0.0.1"
        self.local_port = local_port
        self.remote_address: str | None = None
        self.remote_port: int | None = None
        self.encrypted = True if encrypted else None
        self.writable_high_water_mark = DEFAULT_HIGH_WATER_MARK  # the response sets its own
        self.bytes_written = 0  # what the response has handed over, head included
        self.timeout: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        # Set by the server: what destroying this socket does to the request in flight.
        self.on_destroy: Callable[[], None] | None = None

    # ---- the idle timer (net.Socket.setTimeout): body bytes in and out reset it -----

    def set_timeout(self, msecs: float, callback: Callable[..., Any] | None = None) -> Self:
        self._cancel_timer()
        if msecs:
            self.timeout = msecs
            if callback is not None:
                self.once("timeout", callback)
            self._arm()
        else:
            self.timeout = None
            if callback is not None:
                self.off("timeout", callback)
        return self

    def _arm(self) -> None:
        if self.timeout and not self.destroyed:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self.timeout / 1000, self._fire)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _touch(self) -> None:
        """Activity on the connection: the idle timer starts over (a fired one too)."""
        if self.timeout:
            self._cancel_timer()
            self._arm()

    def _fire(self) -> None:
        # Not re-armed here: the next activity on the connection does that.
        self._timer = None
        self.emit("timeout")

    def destroy(self, error: BaseException | None = None) -> Self:
        """The connection goes: the request in flight is aborted, no reply follows."""
        if not self.destroyed:
            self.destroyed = True
            self._cancel_timer()
            if self.on_destroy is not None:
                self.on_destroy()
        return self

    def set_encoding(self, encoding: Any = None) -> Self:
        """Node's server forbids it: the socket carries HTTP framing, never text."""
        raise socket_encoding_not_allowed()
