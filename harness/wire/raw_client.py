"""The raw client for server scenarios: sends scripted requests, records the responses.

Requests go out one after another. Those sharing a `conn` index share a connection
(keep-alive; pipelining when one `raw` holds several requests and entries with an empty
`raw` read the later replies); if the server closed it, a new one is opened and numbered
anew, so `conn` in the record shows which connections were really used (in open order).
A reply that announces a close ends the connection for new requests, not for reading
the replies to requests pipelined before it.
Nothing a target does makes this raise: every failure becomes the record's `error`.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Hashable

from .client_request import RequestPlan, plan_request
from .clock import Clock
from .codec import Json
from .response_reader import Connection, read_response
from .response_record import ResponseRecord


class Exchange:
    def __init__(self, addresses: list[tuple[str, int]], timeout_s: float) -> None:
        self.addresses = addresses
        self.timeout_s = timeout_s
        self.clock = Clock()
        self.pool: dict[Hashable, Connection] = {}
        self.opened: list[Connection] = []

    def run(self, requests: list[Json]) -> Json:
        plans = [plan_request(req) for req in requests]  # a malformed scenario fails first
        try:
            records = [
                self._one(i, req, plan) for i, (req, plan) in enumerate(zip(requests, plans, strict=True))
            ]
        finally:
            for conn in self.opened:
                conn.close()
        return {"responses": [rec.to_json() for rec in records]}

    def _connect(
        self, key: Hashable, address: tuple[str, int], rec: ResponseRecord, read_only: bool
    ) -> Connection | None:
        conn = self.pool.get(key)
        if conn is not None and conn.usable and not conn.eof:
            return conn
        if conn is not None and read_only:
            if conn.buf or (conn.closing and not conn.eof):
                return conn  # a pipelined reply already read, or behind one that announced the close
            # Nothing left to read: a new connection would carry no request, so no reply.
            rec.conn = conn.index
            rec.error = "the connection closed before this pipelined reply"
            return None
        try:
            sock = socket.create_connection(address, timeout=self.timeout_s)
        except OSError as e:  # refused, unreachable, TimeoutError
            rec.error = f"connect to {address[0]}:{address[1]} failed: {e!r}"
            return None
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # each part goes out as written
        conn = Connection(len(self.opened), sock)
        self.opened.append(conn)
        self.pool[key] = conn
        return conn

    def _one(self, index: int, req: Json, plan: RequestPlan) -> ResponseRecord:
        rec = ResponseRecord(index)
        server = req.get("server", 0)
        if not 0 <= server < len(self.addresses):
            rec.error = f"no address for server {server} (got {len(self.addresses)})"
            return rec
        key = ("conn", req["conn"]) if req.get("conn") is not None else ("own", index)
        read_only = key[0] == "conn" and not plan.head and not plan.parts
        host, port = self.addresses[server]
        conn = self._connect(key, (host, port), rec, read_only)
        if conn is None:
            return rec
        rec.conn = conn.index
        conn.deadline = time.monotonic() + self.timeout_s
        _send(conn, plan)
        if plan.close_after_head:
            with contextlib.suppress(TimeoutError):
                conn.flush()
            conn.close()
            rec.closed = True
            rec.error = "no response read: the request closes its connection after the head"
            return rec
        try:
            read_response(conn, plan.method, rec, self.clock)
        except TimeoutError:
            conn.usable = False
            waiting = (
                "the response head" if rec.status is None
                else "the end of the body" if rec.tunnel is None
                else "the server to close the tunnel"
            )
            rec.error = f"timeout after {self.timeout_s:g} s waiting for {waiting}"
        if conn.usable and conn.sending:
            # The response came before the request body was sent; finish it before reuse.
            conn.deadline = time.monotonic() + self.timeout_s
            try:
                conn.flush()
            except TimeoutError:
                conn.usable = False
        conn.drop_unsent()
        if not conn.usable and not (conn.closing and conn.buf):
            conn.close()
        return rec


def _send(conn: Connection, plan: RequestPlan) -> None:
    """Queue the head, then each body part after its delay (sent while the reply is read).
    A zero-delay first part rides with the head, as Node's client sends head and body.
    A read-only entry (empty `raw`) writes nothing: a write after a half-close fails."""
    parts = [] if plan.close_after_head else list(plan.parts)
    head = plan.head
    if parts and parts[0][0] == 0:
        head += parts.pop(0)[1]
    conn.send(head, parts, plan.half_close)


def run_exchange(requests: list[Json], addresses: list[tuple[str, int]], timeout_s: float) -> Json:
    return Exchange(addresses, timeout_s).run(requests)
