"""The server's IncomingMessage: a Node-style request built from a fetch Request.

What a fetch Request can tell is all there is, as in workerd:

- ``url`` is the path and query of ``Request.url``; fetch has already parsed that URL,
  so dot segments are resolved and the fragment is gone (Node keeps the raw target).
- header names are lower-cased (``raw_headers`` too); the fetch header list keeps each
  received line apart, so Node's duplicate rules apply exactly: ``set-cookie`` is a list,
  ``cookie`` joins with ``'; '``, the single-value fields keep the first value unless
  ``joinDuplicateHeaders``, everything else joins with ``', '``.
- ``http_version`` is always ``'1.1'`` and ``trailers`` stay empty (fetch exposes neither).
- the body flows like a Node Readable: 'data' starts when a 'data' listener is added, on
  ``resume()`` or with ``async for``; ``pause()`` stops pulling from fetch; 'end' follows
  the last chunk and ``complete`` turns true; 'close' follows 'end' at once (Node 24
  destroys a request once it has been read). A body nobody reads is dropped
  once the response finished (Node's ``_dump``), so 'end' and 'close' come after the
  response's 'close' then.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, Self

from .errors import response_aborted
from .fetch import Request
from .outgoing_message import DEFAULT_HIGH_WATER_MARK
from .readable import _END, Readable, header_views
from .sockets import ServerSocket

if TYPE_CHECKING:
    from .server import Server
    from .server_response import ServerResponse


def _target_of(url: str) -> str:
    """Path and query of an absolute URL, without re-parsing it."""
    scheme_end = url.find("://")
    path_start = url.find("/", scheme_end + 3) if scheme_end >= 0 else 0
    target = url[path_start:] if path_start >= 0 else "/"
    return target.split("#", 1)[0]


class ServerIncomingMessage(Readable):
    """``req`` in a 'request' listener."""

    def __init__(self, request: Request, server: Server | None = None) -> None:
        super().__init__()
        join = bool(server.join_duplicate_headers) if server is not None else False
        self.method: str = request.method
        self.url: str = _target_of(request.url)
        self.headers, self.raw_headers, self.headers_distinct = header_views(
            request.headers.raw_items(), join
        )
        self.http_version = "1.1"
        self.http_version_major = 1
        self.http_version_minor = 1
        # fetch drops trailers: these stay empty (declared limitation).
        self.trailers: dict[str, str] = {}
        self.raw_trailers: list[str] = []
        self.trailers_distinct: dict[str, list[str]] = {}
        self.socket = ServerSocket(
            server._port if server is not None else None, request.url.startswith("https:")
        )
        self.connection = self.socket
        self.readable_high_water_mark: int = (
            server.high_water_mark if server is not None else DEFAULT_HIGH_WATER_MARK
        )
        self.complete = False
        self.aborted = False
        self.destroyed = False
        self.readable_ended = False
        self.request = request  # the fetch Request, for code that wants it
        self.res: ServerResponse | None = None
        self._body = request.body
        self._pump_task: asyncio.Task[None] | asyncio.Handle | None = None
        self._dumped = False
        if (
            server is not None
            and server.optimize_empty_requests
            and "content-length" not in self.headers
            and "transfer-encoding" not in self.headers
        ):
            # optimizeEmptyRequests: no body stream at all, ended and destroyed from the
            # start, so no 'data', 'end' or 'close' ever comes from it.
            self.complete = self.readable_ended = self.destroyed = True
            self._closed = True

    # ---- Readable API (the shared part is in readable.py) ---------------------------

    def pause(self) -> ServerIncomingMessage:
        self._flowing = False
        self._want.clear()
        return self

    def resume(self) -> Self:
        super().resume()
        self._start()  # a no-op once the pump started
        return self

    def set_timeout(
        self, msecs: float, callback: Callable[..., Any] | None = None
    ) -> ServerIncomingMessage:
        """Node's: the callback listens to 'timeout' here; the timer is the socket's."""
        if callback is not None:
            self.on("timeout", callback)
        self.socket.set_timeout(msecs)
        return self

    def destroy(self, error: BaseException | None = None) -> ServerIncomingMessage:
        if not self.destroyed:
            self.destroyed = True
            self._want.set()  # let the pump notice and stop
            if error is not None and self.listener_count("error"):
                self.emit("error", error)
            self._emit_close()
            if self.res is not None and not self.res.finished:
                # The request's socket is the response's: destroying it ends the response.
                self.res.destroy()
        return self

    async def _iterate(self) -> AsyncIterator[Any]:
        queue: asyncio.Queue[Any] = asyncio.Queue()
        self._iter_queue = queue
        while self._buffer:
            queue.put_nowait(self._buffer.popleft())
        if self.readable_ended:
            queue.put_nowait(_END)
        self._flowing = True
        self._start()
        self._want.set()
        while True:
            item = await queue.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    # ---- driven by the server -------------------------------------------------------

    def _start(self) -> None:
        if self._pump_task is None and not self.readable_ended:
            self._want.set()
            if self._body is None:
                # Nothing to pull: 'end' on the next loop turn, without a task.
                self._pump_task = asyncio.get_running_loop().call_soon(self._end_bodyless)
            else:
                self._pump_task = asyncio.get_running_loop().create_task(self._pump())

    def _end_bodyless(self) -> None:
        if self.destroyed or self.readable_ended:
            return
        self.complete = True
        self._emit_end()

    def _emit_end(self) -> None:
        self.readable_ended = True
        if self._iter_queue is not None:
            self._iter_queue.put_nowait(_END)
        self.emit("end")
        # Node 24 destroys a request that was read to the end: 'close' follows 'end' (on
        # Node's next tick, which comes before any I/O, such as the response's 'finish').
        self._emit_close()

    def _flush(self) -> None:
        while self._buffer and self._flowing and not self.destroyed:
            self.emit("data", self._buffer.popleft())
        if self._flowing and not self.destroyed:
            self._want.set()

    def _push(self, chunk: Any) -> None:
        if self._iter_queue is not None:
            self._iter_queue.put_nowait(chunk)
        elif self._dumped:
            return
        elif self._flowing and not self._buffer:
            self.emit("data", chunk)
        else:
            self._buffer.append(chunk)
            self._want.clear()

    async def _pump(self) -> None:
        body = self._body
        try:
            if body is not None:
                async for data in body:
                    if self.destroyed:
                        return
                    if data:
                        self.socket._touch()
                        self._push(self._decoder.decode(data) if self._decoder else bytes(data))
                    await self._want.wait()
                    if self.destroyed:
                        return
        except Exception as exc:  # the client went away or the body broke
            self._body_failed(exc)
            return
        self.complete = True
        if self._decoder is not None:
            tail = self._decoder.decode(b"", True)
            if tail:
                self._push(tail)
        # 'end' waits until everything buffered has been read, as in Node.
        while self._buffer and not self.destroyed:
            self._want.clear()
            await self._want.wait()
        if self.destroyed:
            return
        self._emit_end()

    def _body_failed(self, exc: BaseException) -> None:
        if self._iter_queue is not None:
            self._iter_queue.put_nowait(response_aborted())
        if self.res is not None:
            self.res._client_abort()
        else:
            self._abort()

    def _mark_complete_if_bodyless(self) -> None:
        # With no body the parser is done as soon as the head is: complete flips after
        # the 'request' listeners ran, as in Node.
        if self._body is None:
            self.complete = True

    def _dump(self) -> None:
        """The response finished and nobody read the body: read and drop it (Node's _dump).

        As Node's ``resume()``, the reading starts on the next loop turn, so the
        response's 'close' (scheduled right after 'finish') comes before this 'end'.
        """
        if self._pump_task is None and not self.readable_ended and not self._dumped:
            self._dumped = True
            self.remove_all_listeners("data")
            self._flowing = True
            asyncio.get_running_loop().call_soon(self._start)

    def _abort_begin(self) -> None:
        """The client went away: 'aborted' first (only if the body had not ended)."""
        if self._closed or self.aborted:
            return
        if not self.readable_ended or not self.complete:
            self.aborted = True
            self.emit("aborted")
        self.destroyed = True
        self._want.set()

    def _abort_end(self) -> None:
        """Then 'error' ECONNRESET (if the body was cut off and it is listened to) and 'close'."""
        if self._closed:
            return
        if self.aborted and self.listener_count("error"):
            self.emit("error", response_aborted())
        self._emit_close()

    def _abort(self) -> None:
        self._abort_begin()
        self._abort_end()

    def _close_after_end(self) -> None:
        """After the response closed: a destroyed request closes now; an unread body is
        dropped, and 'end' then 'close' follow (a request read to the end closes by itself)."""
        if self.destroyed:
            self._emit_close()
        elif not self.readable_ended:
            self._dump()
