"""IncomingMessage for the client: a Node-style readable over a fetch Response body.

What fetch hands over is all there is: header names come lower-cased and combined (the
iteration order of WHATWG Headers), the HTTP version is not exposed (always "1.1"),
trailers never arrive (`trailers` stays {}) and interim 1xx responses were swallowed.
The body flows like a Node Readable: 'data' starts when a 'data' listener is added or
`resume()` is called, `pause()` stops pulling from fetch (back-pressure), and
`async for` works.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from .errors import NodeError
from .fetch import Response
from .readable import _END, Readable, header_views

if TYPE_CHECKING:
    from .client import ClientRequest


class IncomingMessage(Readable):
    """The client-side response: status, headers, and a readable body."""

    def __init__(self, req: ClientRequest, response: Response) -> None:
        super().__init__()
        self.req = req
        self.socket = req.socket
        self.connection = req.socket
        self.status_code: int = response.status
        self.status_message: str = response.status_text
        # fetch does not tell the version; it speaks HTTP/1.1 to the origin.
        self.http_version = "1.1"
        self.http_version_major = 1
        self.http_version_minor = 1
        # fetch has joined duplicates already (each Set-Cookie stays apart), so Node's
        # rules find nothing else to merge.
        items = list(response.headers.items())
        if isinstance(req.max_headers_count, int) and req.max_headers_count > 0:
            items = items[: req.max_headers_count]  # Node's parser hands over this many lines
        self.headers, self.raw_headers, self.headers_distinct = header_views(items, False)
        # fetch drops trailers: these stay empty (declared limitation).
        self.trailers: dict[str, str] = {}
        self.raw_trailers: list[str] = []
        self.trailers_distinct: dict[str, list[str]] = {}
        self.url = ""
        self.method: str | None = None
        self.complete = False
        self.aborted = False
        self.destroyed = False
        self.readable_ended = False
        self.errored: BaseException | None = None
        self._response = response

    # ---- Readable API (the shared part is in readable.py) ---------------------------

    def pause(self) -> IncomingMessage:
        self._flowing = False
        self._update_want()
        return self

    @property
    def readable(self) -> bool:
        """True until 'end' (or destroy), as a Node Readable's `readable`."""
        return not self.readable_ended and not self.destroyed

    def destroy(self, error: BaseException | None = None) -> IncomingMessage:
        if not self.destroyed:
            if error is not None:
                self.errored = error
            # Cut off mid-body, the error also destroys the socket, so the request gets it.
            self.req._destroy_response(error, req_error=None if self.complete else error)
        return self

    def set_timeout(
        self, msecs: float, callback: Callable[..., Any] | None = None
    ) -> IncomingMessage:
        if callback is not None:
            self.on("timeout", callback)
        self.req._set_response_timeout(msecs)
        return self

    async def _iterate(self) -> AsyncIterator[Any]:
        self._iter_queue = asyncio.Queue()
        while self._buffer:
            self._iter_queue.put_nowait(self._buffer.popleft())
        self._flowing = True
        self._update_want()
        finished = False
        try:
            while True:
                item = await self._iter_queue.get()
                self._update_want()
                if item is _END:
                    finished = True
                    return
                if isinstance(item, BaseException):
                    finished = True
                    raise item
                yield item
        finally:
            if not finished:
                self.destroy()  # leaving the loop early destroys the stream, as in Node

    # ---- driven by ClientRequest ----------------------------------------------------

    def _update_want(self) -> None:
        if self._iter_queue is not None:
            ready = self._iter_queue.empty()
        else:
            ready = bool(self._flowing) and not self._buffer
        if ready and not self.destroyed:
            self._want.set()
        else:
            self._want.clear()

    def _flush(self) -> None:
        while self._buffer and self._flowing and self._iter_queue is None and not self.destroyed:
            self._emit_chunk(self._buffer.popleft())
        self._update_want()

    def _emit_chunk(self, chunk: Any) -> None:
        if self._iter_queue is not None:
            self._iter_queue.put_nowait(chunk)
        else:
            self.emit("data", chunk)

    def _deliver(self, data: bytes, final: bool = False) -> None:
        chunk: Any = data
        if self._decoder is not None:
            chunk = self._decoder.decode(data, final)
            if chunk == "":
                return
        elif not data:
            return
        if self._flowing and not self._buffer and self._iter_queue is None:
            self.emit("data", chunk)
        elif self._iter_queue is not None:
            self._iter_queue.put_nowait(chunk)
        else:
            self._buffer.append(chunk)
        self._update_want()

    async def _pump(self, on_activity: Callable[[], None]) -> None:
        """Pull the fetch body while someone reads; raises the fetch error on a broken body."""
        body = self._response.body
        if body is not None:
            it = body.__aiter__()
            while True:
                await self._want.wait()
                if self.destroyed:
                    return
                try:
                    data = await it.__anext__()
                except StopAsyncIteration:
                    break
                on_activity()
                self._deliver(data)
                if self.destroyed:
                    return
        self.complete = True
        if self._decoder is not None:
            self._deliver(b"", final=True)
        # 'end' waits until everything buffered has been read, as in Node.
        while True:
            await self._want.wait()
            if self.destroyed:
                return
            if not self._buffer:
                break
        self.readable_ended = True
        if self._iter_queue is not None:
            self._iter_queue.put_nowait(_END)
        self.req._invoke(self.emit, "end")  # a listener's throw must not stop the exchange

    def _fail(self, error: NodeError) -> None:
        """The body broke off: let an iterator see the error."""
        if self._iter_queue is not None:
            self._iter_queue.put_nowait(error)
