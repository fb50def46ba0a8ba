"""httpcore's anyio network backend, minus a cancel scope around every read and write.

fetch() sets no timeouts (node:http has none by default), yet httpcore's anyio stream
wraps each read and write in ``anyio.fail_after(None)``: a cancel scope entered and left
per call, about a tenth of the reference client's CPU. This stream skips the scope when
there is no timeout and maps errors exactly as httpcore does (``ReadError(exc) from exc``);
connecting, TLS and everything else stay httpcore's own.

httpx has no public hook for a network backend, so ``install`` sets it on the client's
connection pool when the private attributes are where httpx 0.28 / httpcore 1.0 keep
them, and otherwise leaves the client as it is (slower, same behaviour).
"""

from __future__ import annotations

import ssl
from typing import Any

import anyio
import httpcore
import httpx

_BROKEN = (anyio.BrokenResourceError, anyio.ClosedResourceError)


class _Stream(httpcore.AsyncNetworkStream):
    def __init__(self, inner: httpcore.AsyncNetworkStream, raw: Any) -> None:
        self._inner = inner  # httpcore's stream: TLS, extra info and timed calls
        self._raw = raw  # its anyio byte stream

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if timeout is not None:
            return await self._inner.read(max_bytes, timeout)
        try:
            return await self._raw.receive(max_bytes=max_bytes)
        except anyio.EndOfStream:
            return b""
        except _BROKEN as exc:
            raise httpcore.ReadError(exc) from exc

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if timeout is not None or not buffer:
            await self._inner.write(buffer, timeout)
            return
        try:
            await self._raw.send(item=buffer)
        except _BROKEN as exc:
            raise httpcore.WriteError(exc) from exc

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:
        return _wrap(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


def _wrap(stream: httpcore.AsyncNetworkStream) -> httpcore.AsyncNetworkStream:
    raw = getattr(stream, "_stream", None)
    return stream if raw is None else _Stream(stream, raw)


class Backend(httpcore.AnyIOBackend):
    async def connect_tcp(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        return _wrap(await super().connect_tcp(*args, **kwargs))


def install(client: httpx.AsyncClient) -> bool:
    """Give the client's connection pool this backend; False if httpx keeps it elsewhere."""
    pool = getattr(getattr(client, "_transport", None), "_pool", None)
    if not isinstance(getattr(pool, "_network_backend", None), httpcore.AsyncNetworkBackend):
        return False
    pool._network_backend = Backend()  # type: ignore[union-attr]
    return True
