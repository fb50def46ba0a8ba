"""Read requests off one accepted connection, recording heads and bodies as they arrive."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from .chunked import ChunkedDecoder
from .clock import Clock
from .heads import (
    MAX_HEAD_BYTES,
    RequestHead,
    classify_following_bytes,
    find_head_end,
    parse_request_head,
    skip_leading_empty_lines,
)
from .origin_record import RequestRecord

# How long bytes after a request may stay ambiguous (body, or the next request?) before
# they count as its body. Node 20 sends GET/DELETE bodies raw right behind the head; a next request on a
# keep-alive connection only comes after the response, and starts a fresh read.
STRAY_GRACE_S = 0.05
READ_SIZE = 65536

NewRecord = Callable[[RequestHead, float], RequestRecord]


class RequestReader:
    def __init__(self, reader: asyncio.StreamReader, clock: Clock, new_record: NewRecord) -> None:
        self._reader = reader
        self._clock = clock
        self._new_record = new_record
        self._buf = bytearray()
        self._t = 0.0  # arrival time of the latest read

    async def run(self, on_request: Callable[[RequestRecord], None]) -> None:
        """Read until EOF (or an unreadable body); hand each record over as its head arrives."""
        prev: RequestRecord | None = None
        try:
            while True:
                head = await self._next_head(prev)
                if head is None:
                    return
                rec = self._new_record(parse_request_head(head), self._t)
                on_request(rec)
                prev = rec
                if not await self._read_body(rec):
                    return
        finally:
            if prev is not None and not prev.body_done.is_set():
                prev.finish(False)

    async def _read(self, timeout: float | None = None) -> bytes | None:
        """The next bytes (b"" at EOF), or None if `timeout` passed first."""
        try:
            if timeout is None:
                data = await self._reader.read(READ_SIZE)
            else:
                data = await asyncio.wait_for(self._reader.read(READ_SIZE), max(timeout, 0))
        except TimeoutError:
            return None
        except (ConnectionError, OSError):
            data = b""
        self._t = self._clock.ms()
        return data

    async def _next_head(self, prev: RequestRecord | None) -> bytes | None:
        """The next complete head.

        Bytes that follow a request sent without framing, and do not start a request line,
        are that request's body. So are bytes beyond a Content-Length (a client that lied
        about its length), which would otherwise vanish from the recording.
        """
        stray_to = prev if prev is not None and prev.framing in ("none", "content-length") else None
        pending_t = self._t
        while True:
            if stray_to is not None and self._buf:
                kind = classify_following_bytes(self._buf)
                if kind == "stray":
                    self._settle(stray_to, pending_t)
                    continue
                if kind == "request":
                    stray_to = None
                else:
                    stray_to.unsettled, stray_to.unsettled_t = bytes(self._buf), pending_t
                    data = await self._read(STRAY_GRACE_S - (self._clock.ms() - pending_t) / 1000)
                    if not data:  # grace over, or EOF: the bytes were body
                        self._settle(stray_to, pending_t)
                        if data == b"":
                            return None
                        continue
                    if classify_following_bytes(data) != "stray":  # a fresh request line
                        self._settle(stray_to, pending_t)
                        pending_t = self._t
                    self._buf += data
                    continue
            if stray_to is None:
                skip_leading_empty_lines(self._buf)
            end = find_head_end(self._buf)
            if end is not None:
                head = bytes(self._buf[:end])
                del self._buf[:end]
                return head
            if len(self._buf) > MAX_HEAD_BYTES:
                return None
            data = await self._read()
            if not data:
                if stray_to is not None and self._buf:
                    self._settle(stray_to, pending_t)
                return None
            if not self._buf:
                pending_t = self._t
            self._buf += data

    def _settle(self, rec: RequestRecord, t: float) -> None:
        rec.unsettled = b""
        rec.add_body(bytes(self._buf), t)
        self._buf.clear()

    async def _read_body(self, rec: RequestRecord) -> bool:
        """Record the body; False if the connection cannot carry another request."""
        if rec.framing == "none":
            rec.finish(True)
            return True
        if rec.framing == "content-length":
            return await self._read_sized(rec)
        return await self._read_chunked(rec)

    async def _read_sized(self, rec: RequestRecord) -> bool:
        left = rec.length
        t = self._t
        while left:
            if not self._buf:
                data = await self._read()
                if not data:
                    rec.finish(False)
                    return False
                self._buf += data
                t = self._t
            take = bytes(self._buf[:left])
            del self._buf[: len(take)]
            rec.add_body(take, t)
            left -= len(take)
        rec.finish(True)
        return True

    async def _read_chunked(self, rec: RequestRecord) -> bool:
        decoder = ChunkedDecoder()
        data, t = bytes(self._buf), self._t
        self._buf.clear()
        while True:
            rec.add_body(decoder.feed(data), t)
            if decoder.done:
                rec.trailers = decoder.trailers
                self._buf += decoder.leftover
                rec.finish(True)
                return True
            if decoder.error:  # the rest of the stream cannot be framed
                rec.finish(False)
                return False
            read = await self._read()
            if not read:
                rec.finish(False)
                return False
            data, t = read, self._t
