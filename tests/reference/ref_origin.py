"""A scripted raw HTTP/1.1 origin for the reference's tests (asyncio sockets, 127.0.0.1).

The origin records each request exactly as it crossed the wire (head bytes, header
case and order, framing, body chunks with arrival times) and answers with a coroutine
the test supplies, which writes raw bytes so that tests can send anything: 1xx
responses, trailers, malformed heads, bodies cut short.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from harness.reference.fetch import aclose_shared_client


@dataclass
class Recorded:
    method: str = ""
    target: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    head: bytes = b""
    framing: str = "none"
    body: bytes = b""
    chunk_times: list[float] = field(default_factory=list)  # monotonic arrival times
    complete: bool = False

    def header(self, name: str) -> str | None:
        values = [v for n, v in self.headers if n.lower() == name.lower()]
        return ", ".join(values) if values else None

    @property
    def names(self) -> list[str]:
        return [n for n, _ in self.headers]


Responder = Callable[[Recorded, asyncio.StreamWriter], Awaitable[None]]


def simple(
    status: int = 200,
    reason: str = "OK",
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
    keep_alive: bool = True,
) -> Responder:
    """Answer with a Content-Length response."""

    async def respond(req: Recorded, w: asyncio.StreamWriter) -> None:
        lines = [f"HTTP/1.1 {status} {reason}".rstrip(" ")]
        hs = list(headers or [])
        if not any(n.lower() in ("content-length", "transfer-encoding") for n, _ in hs):
            hs.append(("Content-Length", str(len(body))))
        if not keep_alive:
            hs.append(("Connection", "close"))
        lines += [f"{n}: {v}" for n, v in hs]
        w.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        await w.drain()

    return respond


class Origin:
    """`async with Origin(responder) as origin:` -> origin.port, origin.requests."""

    def __init__(self, respond: Responder) -> None:
        self.respond = respond
        self.requests: list[Recorded] = []
        self.connections = 0
        self.port = 0
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> Origin:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._tasks.add(asyncio.current_task())  # type: ignore[arg-type]
        self.connections += 1
        try:
            while not writer.is_closing():
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                rec = _parse_head(head)
                self.requests.append(rec)
                await _read_body(reader, rec)
                await self.respond(rec, writer)
                if rec.header("connection") == "close":
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # a cancelled handler ends quietly: asyncio's stream callback would log it
        finally:
            if not writer.is_closing():
                writer.close()


def _parse_head(head: bytes) -> Recorded:
    lines = head[:-4].split(b"\r\n")
    method, target, _ = lines[0].decode("latin-1").split(" ", 2)
    headers = []
    for line in lines[1:]:
        name, _, value = line.decode("latin-1").partition(":")
        headers.append((name, value.strip()))
    return Recorded(method=method, target=target, headers=headers, head=head)


async def _read_body(reader: asyncio.StreamReader, rec: Recorded) -> None:
    length = rec.header("content-length")
    if (rec.header("transfer-encoding") or "").lower() == "chunked":
        rec.framing = "chunked"
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass  # trailers
                break
            rec.body += await reader.readexactly(size)
            rec.chunk_times.append(time.monotonic())
            await reader.readexactly(2)
    elif length is not None:
        rec.framing = "content-length"
        if int(length):
            rec.body = await reader.readexactly(int(length))
            rec.chunk_times.append(time.monotonic())
    rec.complete = True


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    """asyncio.run plus closing the loop's shared fetch client."""

    async def main() -> Any:
        try:
            return await asyncio.wait_for(coro, 10)
        finally:
            await aclose_shared_client()

    return asyncio.run(main())


class Recorder:
    """Collects (src, event, payload, time) from a request and its response."""

    REQ_EVENTS = ("socket", "finish", "response", "timeout", "abort", "error", "close", "drain")
    RES_EVENTS = ("data", "end", "aborted", "error", "close")

    def __init__(self) -> None:
        self.events: list[tuple[str, str, Any, float]] = []
        self.res: Any = None
        self.body = b""

    def attach(self, req: Any, read: bool = True) -> Any:
        for name in self.REQ_EVENTS:
            if name != "response" or read:
                req.on(name, self._cb("req", name))
        if read:
            req.on("response", self._on_response)
        return req

    def _cb(self, src: str, name: str) -> Callable[..., None]:
        def listener(*args: Any) -> None:
            self.events.append((src, name, args[0] if args else None, time.monotonic()))

        return listener

    def _on_response(self, res: Any) -> None:
        self.res = res
        for name in self.RES_EVENTS:
            res.on(name, self._cb("res", name))
        res.on("data", self._add)

    def _add(self, chunk: Any) -> None:
        self.body += chunk if isinstance(chunk, bytes) else chunk.encode()

    def names(self) -> list[str]:
        return [f"{src}:{name}" for src, name, _, _ in self.events]

    def payload(self, name: str) -> Any:
        for src, ev, value, _ in self.events:
            if f"{src}:{ev}" == name:
                return value
        raise KeyError(name)
