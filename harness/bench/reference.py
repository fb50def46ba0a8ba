"""What the reference costs on top of the layers it is built on.

    python -m harness.bench.reference [--n 300]

Each measurement times the same operation through the reference and through the bare
layer underneath, interleaved so both see the same machine load, and prints the median
of each and their ratio (the goal is <= 1.5). To add one, write a function
`(n) -> Result` and append it to MEASUREMENTS.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import httpx

from harness.reference import http
from harness.reference.asgi import UvicornThread, asgi_app
from harness.reference.bridge import http_server_handler
from harness.reference.fetch import aclose_shared_client
from harness.reference.server import create_server
from harness.reference.server_response import utc_date

GOAL = 1.5


@dataclass
class Result:
    name: str
    subject: str  # what is measured (the reference path)
    baseline: str  # the bare layer underneath
    subject_s: list[float]
    baseline_s: list[float]

    @property
    def ratio(self) -> float:
        return statistics.median(self.subject_s) / statistics.median(self.baseline_s)

    def line(self) -> str:
        sub, base = statistics.median(self.subject_s), statistics.median(self.baseline_s)
        verdict = "ok" if self.ratio <= GOAL else f"over the {GOAL} goal"
        return (
            f"{self.name}: {self.subject} {sub * 1e6:.0f} us, {self.baseline} {base * 1e6:.0f} us"
            f" (median of {len(self.subject_s)}), ratio {self.ratio:.2f} ({verdict})"
        )


_REPLY = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


async def _keep_alive_origin(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    # The smallest keep-alive origin: one fixed reply per request head (GETs only).
    try:
        while True:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(_REPLY)
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
        writer.close()


async def _reference_get(url: str) -> bytes:
    done: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
    chunks: list[bytes] = []

    def on_response(res: http.IncomingMessage) -> None:
        res.on("data", chunks.append)
        res.on("end", lambda: done.set_result(b"".join(chunks)))

    req = http.get(url, on_response)
    req.on("error", lambda err: None if done.done() else done.set_exception(err))
    body = await done
    await req.wait_closed()
    return body


def client_get(n: int) -> Result:
    """A GET through reference http.request vs the same GET through bare httpx."""

    async def main() -> Result:
        server = await asyncio.start_server(_keep_alive_origin, "127.0.0.1", 0)
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/bench"
        ref_s: list[float] = []
        bare_s: list[float] = []
        async with httpx.AsyncClient() as bare:
            for i in range(n + 20):
                t0 = time.perf_counter()
                assert await _reference_get(url) == b"ok"
                t1 = time.perf_counter()
                assert (await bare.get(url)).content == b"ok"
                t2 = time.perf_counter()
                if i >= 20:  # the first rounds warm up both pools
                    ref_s.append(t1 - t0)
                    bare_s.append(t2 - t1)
        await aclose_shared_client()
        server.close()
        return Result("client GET", "reference.http.get", "bare httpx.AsyncClient", ref_s, bare_s)

    return asyncio.run(main())


async def _bare_asgi(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
    # What the bridge's hello-world sends, written straight to ASGI.
    headers = [
        (b"content-type", b"text/plain"),
        (b"date", utc_date().encode()),
        (b"connection", b"keep-alive"),
        (b"keep-alive", b"timeout=5"),
        (b"content-length", b"2"),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"ok"})


def server_request(n: int) -> Result:
    """A GET answered by createServer via http_server_handler + asgi_app vs a bare ASGI app.

    Both sit behind one uvicorn on 127.0.0.1 (a path prefix picks the app, so the
    dispatch costs both the same) and are driven by one reused httpx client.
    """

    def hello(req: Any, res: Any) -> None:
        res.set_header("Content-Type", "text/plain")
        res.end("ok")

    node_server = create_server(hello)
    node_server.listen(0)
    bridged = asgi_app(http_server_handler(node_server))

    async def app(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        target = _bare_asgi if scope.get("path", "").startswith("/bare") else bridged
        await target(scope, receive, send)

    ref_s: list[float] = []
    bare_s: list[float] = []
    try:
        with UvicornThread(app) as srv, httpx.Client() as client:
            for i in range(n + 20):
                t0 = time.perf_counter()
                assert client.get(srv.url + "/node").content == b"ok"
                t1 = time.perf_counter()
                assert client.get(srv.url + "/bare").content == b"ok"
                t2 = time.perf_counter()
                if i >= 20:  # warm-up rounds
                    ref_s.append(t1 - t0)
                    bare_s.append(t2 - t1)
    finally:
        node_server.close()
    return Result(
        "server request", "http_server_handler behind asgi_app", "bare ASGI app", ref_s, bare_s
    )


MEASUREMENTS: list[Callable[[int], Result]] = [client_get, server_request]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="timed rounds per measurement")
    args = parser.parse_args(argv)
    for measure in MEASUREMENTS:
        print(measure(args.n).line(), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
