"""A WHATWG-style fetch() over httpx: the only network layer the reference uses.

This plays the part of the runtime's fetch in a Workers-like design. Everything the
node:http layer can observe goes through these types, so the limits of fetch are the
limits of the reference:

- Headers hold lower-cased names and ByteString values (one char per byte, Latin-1);
  iteration combines duplicates with ", " except Set-Cookie.
- fetch() owns the connection: Host, Connection, Keep-Alive, Transfer-Encoding and TE
  come from fetch, never from the caller. A bytes body gets a computed Content-Length;
  a streamed body goes out chunked (unless the caller gave a Content-Length).
- Interim 1xx responses are swallowed, trailers are dropped, the HTTP version and the
  original header-name case are not exposed. Bodies are never decompressed and
  redirects are never followed.

httpx's AsyncClient belongs to the event loop that made it, so there is one per loop.
"""

from __future__ import annotations

import asyncio
import errno
import re
import socket
import ssl
import weakref
from collections.abc import AsyncIterator, Iterable, Mapping
from http.cookiejar import CookieJar
from typing import Any, Union

import httpx

from . import net_backend, urls

__all__ = [
    "FetchError",
    "Headers",
    "HeadersInit",
    "Request",
    "Response",
    "aclose_shared_client",
    "fetch",
    "shared_client",
]

_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_HTTP_WHITESPACE = " \t\r\n"
_NULL_BODY_STATUSES = frozenset({101, 103, 204, 205, 304})
_NORMALISED_METHODS = frozenset({"DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"})
_FORBIDDEN_METHODS = frozenset({"CONNECT", "TRACE", "TRACK"})
# Connection-level headers are fetch's business: whatever the caller sets is dropped.
_FETCH_OWNED = frozenset({"host", "connection", "keep-alive", "transfer-encoding", "te"})

HeadersInit = Union["Headers", Mapping[str, str], Iterable[tuple[str, str]], None]
BodyInit = bytes | bytearray | memoryview | AsyncIterator[bytes] | None


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not _TOKEN.match(name):
        raise TypeError(f"Invalid header name: {name!r}")
    return name.lower()


def _check_value(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise TypeError(f"Invalid header value type: {type(value).__name__}")
    text = str(value).strip(_HTTP_WHITESPACE)
    if any(ch in "\0\r\n" or ch > "\xff" for ch in text):
        raise TypeError(f"Invalid header value: {text!r}")
    return text


class Headers:
    """WHATWG Headers: case-insensitive, duplicates kept, joined with ", " when read."""

    def __init__(self, init: HeadersInit = None) -> None:
        self._list: list[tuple[str, str]] = []
        if init is None:
            return
        if isinstance(init, Headers):
            self._list = list(init._list)
        elif isinstance(init, Mapping):
            for name, value in init.items():
                self.append(name, value)
        else:
            for pair in init:
                if len(pair) != 2:
                    raise TypeError("Header pairs must contain exactly two items")
                self.append(pair[0], pair[1])

    def append(self, name: str, value: str) -> None:
        self._list.append((_check_name(name), _check_value(value)))

    def set(self, name: str, value: str) -> None:
        key, text = _check_name(name), _check_value(value)
        out: list[tuple[str, str]] = []
        placed = False
        for entry in self._list:
            if entry[0] != key:
                out.append(entry)
            elif not placed:
                out.append((key, text))
                placed = True
        if not placed:
            out.append((key, text))
        self._list = out

    def get(self, name: str) -> str | None:
        key = _check_name(name)
        values = [v for n, v in self._list if n == key]
        return ", ".join(values) if values else None

    def get_set_cookie(self) -> list[str]:
        return [v for n, v in self._list if n == "set-cookie"]

    def has(self, name: str) -> bool:
        key = _check_name(name)
        return any(n == key for n, _ in self._list)

    def delete(self, name: str) -> None:
        key = _check_name(name)
        self._list = [e for e in self._list if e[0] != key]

    def items(self) -> list[tuple[str, str]]:
        """WHATWG iteration: sorted names, values combined, each Set-Cookie on its own."""
        out: list[tuple[str, str]] = []
        for name in sorted({n for n, _ in self._list}):
            if name == "set-cookie":
                out.extend((name, v) for v in self.get_set_cookie())
            else:
                out.append((name, self.get(name) or ""))
        return out

    def raw_items(self) -> list[tuple[str, str]]:
        """The header list itself: insertion order, one entry per append."""
        return list(self._list)

    def keys(self) -> list[str]:
        return [n for n, _ in self.items()]

    def values(self) -> list[str]:
        return [v for _, v in self.items()]

    def __iter__(self) -> Any:
        return iter(self.items())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and _TOKEN.match(name) is not None and self.has(name)

    def __len__(self) -> int:
        return len(self.items())

    def __repr__(self) -> str:
        return f"Headers({self.items()!r})"


class _BodyStream:
    """A body readable exactly once, like a ReadableStream that gets locked."""

    def __init__(self, source: bytes | AsyncIterator[bytes], on_close: Any = None) -> None:
        self._source = source
        self._iter: AsyncIterator[bytes] | None = None
        self._on_close = on_close
        self.used = False

    def __aiter__(self) -> _BodyStream:
        if self.used:
            raise TypeError("Body has already been used")
        return self

    async def __anext__(self) -> bytes:
        self.used = True
        if self._iter is None:
            self._iter = _once(self._source) if isinstance(self._source, bytes) else self._source
        try:
            return await self._iter.__anext__()
        except StopAsyncIteration:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        """Cancel the stream: the network side is released."""
        if self._iter is not None and hasattr(self._iter, "aclose"):
            await self._iter.aclose()
        if self._on_close is not None:
            on_close, self._on_close = self._on_close, None
            await on_close()


async def _once(data: bytes) -> AsyncIterator[bytes]:
    if data:
        yield data


def _make_body(body: BodyInit) -> _BodyStream | None:
    if body is None:
        return None
    if isinstance(body, (bytes, bytearray, memoryview)):
        return _BodyStream(bytes(body))
    if hasattr(body, "__anext__"):
        return _BodyStream(body)
    if hasattr(body, "__aiter__"):
        return _BodyStream(body.__aiter__())
    raise TypeError(f"Unsupported body type: {type(body).__name__}")


class _BodyMixin:
    _body: _BodyStream | None

    @property
    def body(self) -> _BodyStream | None:
        return self._body

    @property
    def body_used(self) -> bool:
        return self._body is not None and self._body.used

    async def read(self) -> bytes:
        """The whole body (WHATWG arrayBuffer()); a second read raises TypeError."""
        if self._body is None:
            return b""
        if self._body.used:
            raise TypeError("Body has already been used")
        return b"".join([chunk async for chunk in self._body])

    async def text(self) -> str:
        return (await self.read()).decode("utf-8", "replace")


class Request(_BodyMixin):
    """A WHATWG Request: absolute URL, token method, Headers, optional body."""

    def __init__(
        self,
        url: str,
        *,
        method: str = "GET",
        headers: HeadersInit = None,
        body: BodyInit = None,
    ) -> None:
        try:
            parsed = urls.parse(url)
        except urls.InvalidURL as exc:
            raise TypeError(f"Invalid URL: {url!r}") from exc
        if parsed.username or parsed.password:
            raise TypeError("Request cannot be constructed from a URL that includes credentials")
        if not isinstance(method, str) or not _TOKEN.match(method):
            raise TypeError(f"Invalid method: {method!r}")
        if method.upper() in _FORBIDDEN_METHODS:
            raise TypeError(f"'{method}' HTTP method is unsupported.")
        if method.upper() in _NORMALISED_METHODS:
            method = method.upper()
        if body is not None and method in ("GET", "HEAD"):
            raise TypeError("Request with GET/HEAD method cannot have body.")
        self.url = parsed.href
        self._parsed = parsed  # fetch() reuses it instead of parsing again
        self.method = method
        self.headers = Headers(headers)
        self._body = _make_body(body)


class Response(_BodyMixin):
    """A WHATWG Response; statuses 200-599, no body on 101/103/204/205/304."""

    def __init__(
        self,
        body: BodyInit = None,
        *,
        status: int = 200,
        status_text: str = "",
        headers: HeadersInit = None,
    ) -> None:
        if not isinstance(status, int) or not 200 <= status <= 599:
            raise ValueError(f"The status provided ({status}) is outside the range [200, 599].")
        if body is not None and status in _NULL_BODY_STATUSES:
            raise TypeError(f"Response with null body status ({status}) cannot have body")
        if not isinstance(status_text, str) or any(c in "\r\n" or c > "\xff" for c in status_text):
            raise TypeError(f"Invalid statusText: {status_text!r}")
        self.status = status
        self.status_text = status_text
        self.headers = Headers(headers)
        self._body = _make_body(body)
        self.url = ""
        self.redirected = False

    @property
    def ok(self) -> bool:
        return 200 <= self.status <= 299

    async def cancel(self) -> None:
        """Give up on the body (ReadableStream.cancel()); frees the connection."""
        if self._body is not None:
            await self._body.aclose()

    @classmethod
    def _from_network(
        cls,
        status: int,
        status_text: str,
        headers: Headers,
        body: _BodyStream | None,
        url: str,
    ) -> Response:
        # Network responses skip the constructor's range check, as in the spec.
        resp = cls.__new__(cls)
        resp.status, resp.status_text, resp.headers = status, status_text, headers
        resp._body, resp.url, resp.redirected = body, url, False
        return resp


class FetchError(TypeError):
    """fetch() rejected: a network error (JS: TypeError 'fetch failed').

    `code` is the errno name of the cause when there is one (ECONNREFUSED, ENOTFOUND,
    ECONNRESET, ETIMEDOUT), else None. `kind` tells the phase: "connect", "dns",
    "reset" (no response at all), "protocol" (an unparsable response), "body" (the
    response body broke off), "timeout" or "other".
    """

    def __init__(
        self, message: str, *, kind: str, code: str | None, cause: BaseException | None = None
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.code = code
        self.cause = cause


def _errno_name(exc: BaseException) -> str | None:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, socket.gaierror):
            return "ENOTFOUND"
        if isinstance(cur, OSError) and cur.errno is not None and cur.errno in errno.errorcode:
            return errno.errorcode[cur.errno]
        if isinstance(cur, ConnectionRefusedError):
            return "ECONNREFUSED"
        cur = cur.__cause__ or cur.__context__
    return None


def _translate(exc: httpx.HTTPError, phase: str) -> FetchError:
    code = _errno_name(exc)
    if isinstance(exc, httpx.ConnectError):
        if code == "ENOTFOUND" or "getaddrinfo" in str(exc) or "Name or service" in str(exc):
            return FetchError("fetch failed", kind="dns", code="ENOTFOUND", cause=exc)
        return FetchError("fetch failed", kind="connect", code=code or "ECONNREFUSED", cause=exc)
    if isinstance(exc, httpx.TimeoutException):
        return FetchError("fetch failed", kind="timeout", code="ETIMEDOUT", cause=exc)
    if phase == "body":
        return FetchError("terminated", kind="body", code=code or "ECONNRESET", cause=exc)
    text = str(exc)
    if isinstance(exc, (httpx.ReadError, httpx.WriteError)) or "without sending" in text:
        return FetchError("fetch failed", kind="reset", code=code or "ECONNRESET", cause=exc)
    if isinstance(exc, httpx.RemoteProtocolError):
        return FetchError("fetch failed", kind="protocol", code=None, cause=exc)
    return FetchError("fetch failed", kind="other", code=code, cause=exc)


_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
    weakref.WeakKeyDictionary()
)


class _NoJar(CookieJar):
    """fetch keeps no cookie jar: nothing stored, nothing sent, and no Set-Cookie parsed
    (a jar whose policy refuses every domain still parses each response's cookies)."""

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None

    def add_cookie_header(self, request: Any) -> None:
        return None


_ssl_context: ssl.SSLContext | None = None


def _tls() -> ssl.SSLContext:
    # One TLS context for every loop's client: building one costs tens of milliseconds.
    global _ssl_context
    if _ssl_context is None:
        _ssl_context = ssl.create_default_context()
    return _ssl_context


def shared_client() -> httpx.AsyncClient:
    """The httpx client of the running event loop (made on first use)."""
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None or client.is_closed:
        client = httpx.AsyncClient(
            timeout=None,  # node:http has no default timeouts
            follow_redirects=False,
            trust_env=False,  # never route the reference through an environment proxy
            cookies=_NoJar(),
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=64),
            verify=_tls(),
        )
        net_backend.install(client)
        _clients[loop] = client
    return client


async def aclose_shared_client() -> None:
    """Close the running loop's client (call before the loop ends to free sockets)."""
    client = _clients.pop(asyncio.get_running_loop(), None)
    if client is not None:
        await client.aclose()


def _wire_headers(
    request: Request, source: bytes | AsyncIterator[bytes] | None
) -> list[tuple[bytes, bytes]]:
    out: list[tuple[bytes, bytes]] = []
    user_length: str | None = None
    for name, value in request.headers.raw_items():
        if name in _FETCH_OWNED:
            continue
        if name == "content-length":
            user_length = value
            continue
        out.append((name.encode("latin-1"), value.encode("latin-1")))
    if isinstance(source, bytes):
        out.append((b"content-length", str(len(source)).encode()))
    elif source is None:
        if request.method in ("POST", "PUT"):
            out.append((b"content-length", b"0"))
    elif user_length is not None:
        # A stream with a declared length goes out with that length, unchunked.
        out.append((b"content-length", user_length.encode("latin-1")))
    else:
        out.append((b"transfer-encoding", b"chunked"))
    return out


async def fetch(request: Request | str, **init: Any) -> Response:
    """Send `request` and resolve with the Response once its head has arrived.

    The body streams both ways. Raises FetchError on a network error; a broken
    response body raises FetchError(kind="body") from the body iterator.
    """
    if isinstance(request, str):
        request = Request(request, **init)
    if request.body_used:
        raise TypeError(
            "Cannot construct a Request with a Request object that has already been used."
        )
    parsed = request._parsed
    source: bytes | AsyncIterator[bytes] | None = None
    if request.body is not None:
        request.body.used = True
        raw = request.body._source
        source = raw if isinstance(raw, bytes) else _body_pump(raw)
    host = parsed.hostname
    url = httpx.URL(
        scheme=parsed.scheme,
        host=host[1:-1] if host.startswith("[") else host,
        port=parsed.effective_port,
        raw_path=parsed.target.encode("ascii"),
    )
    wire = [(b"host", parsed.host.encode("ascii"))] + _wire_headers(request, source)
    outgoing = httpx.Request(request.method, url, content=source)
    outgoing.headers = httpx.Headers(wire)  # exactly fetch's header list, nothing from httpx
    client = shared_client()
    try:
        resp = await client.send(outgoing, stream=True)
    except httpx.HTTPError as exc:
        raise _translate(exc, "request") from exc

    headers = Headers()
    for name, value in resp.headers.raw:
        headers.append(name.decode("latin-1"), value.decode("latin-1"))
    status_text = resp.extensions.get("reason_phrase", b"").decode("latin-1")
    has_body = request.method != "HEAD" and resp.status_code not in _NULL_BODY_STATUSES
    body = _BodyStream(_raw_body(resp), on_close=resp.aclose) if has_body else None
    if body is None:
        await resp.aclose()
    return Response._from_network(resp.status_code, status_text, headers, body, request.url)


async def _body_pump(source: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    # Empty chunks would be written as nothing anyway; bytes-likes become bytes for httpx.
    async for chunk in source:
        if chunk:
            yield bytes(chunk)


async def _raw_body(resp: httpx.Response) -> AsyncIterator[bytes]:
    # aiter_raw: the bytes as sent, never decompressed.
    try:
        async for chunk in resp.aiter_raw():
            if chunk:
                yield chunk
    except httpx.HTTPError as exc:
        raise _translate(exc, "body") from exc
    finally:
        await resp.aclose()
