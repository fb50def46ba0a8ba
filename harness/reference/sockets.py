"""The sockets node:http hands out (`req.socket`, 'socket'): fetch owns the real ones.

The methods a caller may use on a socket are accepted and do nothing; the addresses are
what each side knows: the client the origin it asked fetch for, the server its port key.
"""

from __future__ import annotations

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

    def set_encoding(self, encoding: Any = None) -> Self:
        """Node's server forbids it: the socket carries HTTP framing, never text."""
        raise socket_encoding_not_allowed()
