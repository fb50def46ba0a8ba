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

import asyncio
import contextlib
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

    async def run(self, requests: list[Json]) -> Json:
        plans = [plan_request(req) for req in requests]  # a malformed scenario fails first
        try:
            records = [
                await self._one(i, req, plan)
                for i, (req, plan) in enumerate(zip(requests, plans, strict=True))
            ]
        finally:
            for conn in self.opened:
                conn.close()
        return {"responses": [rec.to_json() for rec in records]}

    async def _connect(
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
            # asyncio.timeout, not wait_for: no task of its own, three turns of the loop fewer
            # (of 15 in an exchange). The read below keeps wait_for: its task runs after the
            # sender's, so a request's first write goes out before its reply is read.
            async with asyncio.timeout(self.timeout_s):
                reader, writer = await asyncio.open_connection(*address)
        except (OSError, TimeoutError) as e:
            rec.error = f"connect to {address[0]}:{address[1]} failed: {e!r}"
            return None
        conn = Connection(len(self.opened), reader, writer)
        self.opened.append(conn)
        self.pool[key] = conn
        return conn

    async def _one(self, index: int, req: Json, plan: RequestPlan) -> ResponseRecord:
        rec = ResponseRecord(index)
        server = req.get("server", 0)
        if not 0 <= server < len(self.addresses):
            rec.error = f"no address for server {server} (got {len(self.addresses)})"
            return rec
        key = ("conn", req["conn"]) if req.get("conn") is not None else ("own", index)
        read_only = key[0] == "conn" and not plan.head and not plan.parts
        host, port = self.addresses[server]
        conn = await self._connect(key, (host, port), rec, read_only)
        if conn is None:
            return rec
        rec.conn = conn.index
        sender = asyncio.create_task(_send(conn, plan))
        if plan.close_after_head:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(sender, self.timeout_s)
            conn.close()
            rec.closed = True
            rec.error = "no response read: the request closes its connection after the head"
            return rec
        try:
            await asyncio.wait_for(
                read_response(conn, plan.method, rec, self.clock), self.timeout_s
            )
        except TimeoutError:
            conn.usable = False
            waiting = (
                "the response head" if rec.status is None
                else "the end of the body" if rec.tunnel is None
                else "the server to close the tunnel"
            )
            rec.error = f"timeout after {self.timeout_s:g} s waiting for {waiting}"
        if conn.usable and not sender.done():
            # The response came before the request body was sent; finish it before reuse.
            try:
                await asyncio.wait_for(asyncio.shield(sender), self.timeout_s)
            except TimeoutError:
                conn.usable = False
        sender.cancel()
        if not conn.usable and not (conn.closing and conn.buf):
            conn.close()
        return rec


async def _send(conn: Connection, plan: RequestPlan) -> None:
    """Write the head, then each body part after its delay, flushing every time.

    A zero-delay first part rides with the head, as Node's client sends head and body.
    """
    parts = [] if plan.close_after_head else list(plan.parts)
    head = plan.head
    if parts and parts[0][0] == 0:
        head += parts.pop(0)[1]
    with contextlib.suppress(ConnectionError, OSError):
        if head:  # a read-only entry (empty raw) writes nothing: after a half-close, write(b"") raises
            conn.writer.write(head)
            await conn.writer.drain()
        for delay, data in parts:
            if delay:
                await asyncio.sleep(delay)
            if conn.writer.transport.is_closing():
                return
            conn.writer.write(data)
            await conn.writer.drain()
        if plan.half_close and conn.writer.can_write_eof():
            conn.writer.write_eof()


async def run_exchange(
    requests: list[Json], addresses: list[tuple[str, int]], timeout_s: float
) -> Json:
    return await Exchange(addresses, timeout_s).run(requests)
