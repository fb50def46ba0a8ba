"""The bare loop of `python -m harness bench` for impl: drivers/bench.mjs's exchanges done
with the Python reference directly, no harness in between (same spec, same answer shape).

client: reference http.request GET with one header to the harness's origin, a fresh
connection each time (agent: False; fetch keeps connections, so the origin closes each: see
command.bare_origin), the whole body read. server: each round a reference
createServer answering res.end(body), listening on a port key and reached through the
ASGI bridge behind one uvicorn, as the impl target serves it, asked over a fresh
connection, then closed.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable
from http.client import HTTPConnection
from typing import Any

from harness.observations import Json
from harness.reference import http
from harness.reference.asgi import UvicornThread, asgi_app
from harness.reference.bridge import http_server_handler
from harness.reference.fetch import aclose_shared_client
from harness.reference.server import create_server


async def _get(options: dict[str, Any]) -> None:
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def settle(err: BaseException | None = None) -> None:
        if not done.done():
            done.set_result(None) if err is None else done.set_exception(err)

    def on_response(res: http.IncomingMessage) -> None:
        res.on("data", lambda _chunk: None)
        res.on("end", settle)

    req = http.request(options, on_response)
    req.on("error", settle)
    req.end()
    await done
    await req.wait_closed()


async def _timed(n: int, once: Callable[[int], Awaitable[None]]) -> list[float]:
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        await once(i)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def _client_ms(spec: Json) -> list[float]:
    client = spec["client"]
    name, value = client["header"]

    async def main() -> list[float]:
        async def get(i: int) -> None:
            await _get({"host": client["host"], "port": client["port"], "path": "/",
                        "agent": False, "headers": {name: value}})

        try:
            await _timed(spec["warm"], get)
            return await _timed(spec["n"], get)
        finally:
            await aclose_shared_client()

    return asyncio.run(main())


def _server_ms(spec: Json) -> list[float]:
    body = base64.b64decode(spec["server"]["body_b64"])
    current: list[Any] = [None]  # the ASGI app of this round's server, behind one uvicorn

    async def front_app(scope: Any, receive: Any, send: Any) -> None:
        await current[0](scope, receive, send)

    def scenario(port: int) -> None:
        server = create_server(lambda req, res: res.end(body))
        server.listen(0)
        current[0] = asgi_app(http_server_handler(server))
        try:
            conn = HTTPConnection("127.0.0.1", port)
            conn.request("GET", "/", headers={"Host": "h"})
            conn.getresponse().read()
            conn.close()
        finally:
            server.close()

    with UvicornThread(front_app) as front:
        out: list[float] = []
        for _ in range(spec["warm"] + spec["n"]):
            t0 = time.perf_counter()
            scenario(front.port)
            out.append((time.perf_counter() - t0) * 1000)
        return out[spec["warm"]:]


def bench_loop(spec: Json) -> Json:
    """The answer drivers/bench.mjs gives, from the reference."""
    return {"client_ms": _client_ms(spec), "server_ms": _server_ms(spec)}
