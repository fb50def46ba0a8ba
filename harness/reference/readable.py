"""What the client's and the server's IncomingMessage share: Node's Readable part and headers.

Only what behaves the same on both sides lives here: ``header_views`` (Node's duplicate
rules), the flowing state (``None`` until started, as Node's ``readableFlowing``),
``set_encoding`` and its string decoder, ``resume`` on the next tick, a 'data' listener
starting the flow, ``async for`` and a single 'close'. How each side pulls, buffers and
delivers chunks differs, so that stays in ``incoming.py`` and ``server_incoming.py``.
"""

from __future__ import annotations

import asyncio
import base64
import codecs
from collections import deque
from collections.abc import AsyncIterator
from typing import Any, Self

from .errors import unknown_encoding
from .events import EventEmitter

# Node keeps only the first value of these when a request repeats them.
SINGLE_VALUE_HEADERS = frozenset({
    "age", "authorization", "content-length", "content-type", "etag", "expires", "from",
    "host", "if-modified-since", "if-unmodified-since", "last-modified", "location",
    "max-forwards", "proxy-authorization", "referer", "retry-after", "server", "user-agent",
})  # fmt: skip


def header_views(
    raw_items: list[tuple[str, str]], join_duplicates: bool
) -> tuple[dict[str, Any], list[str], dict[str, list[str]]]:
    """``headers``, ``raw_headers`` and ``headers_distinct`` with Node's duplicate rules."""
    headers: dict[str, Any] = {}
    raw: list[str] = []
    distinct: dict[str, list[str]] = {}
    for name, value in raw_items:
        raw += (name, value)
        distinct.setdefault(name, []).append(value)
        if name not in headers:
            headers[name] = [value] if name == "set-cookie" else value
        elif name == "set-cookie":
            headers[name].append(value)
        elif name == "cookie":
            headers[name] += "; " + value
        elif name not in SINGLE_VALUE_HEADERS or join_duplicates:
            headers[name] += ", " + value
    return headers, raw, distinct


# Ends an `async for`: put on the iterator's queue after the last chunk.
_END = object()


class _Decoder:
    """Node's string decoders: multi-byte characters are never split across chunks."""

    def __init__(self, encoding: str) -> None:
        enc = encoding.lower().replace("-", "")
        self.encoding = encoding
        self._pending = b""
        self._kind = enc
        if enc in ("utf8",):
            self._inc: Any = codecs.getincrementaldecoder("utf-8")("replace")
        elif enc in ("utf16le", "ucs2"):
            self._inc = codecs.getincrementaldecoder("utf-16-le")("replace")
        elif enc in ("latin1", "binary"):
            self._inc = codecs.getincrementaldecoder("latin-1")()
        elif enc == "ascii":
            self._inc = None
        elif enc in ("hex", "base64", "base64url"):
            self._inc = None
        else:
            raise unknown_encoding(encoding)

    def decode(self, data: bytes, final: bool = False) -> str:
        if self._inc is not None:
            return self._inc.decode(data, final)
        if self._kind == "ascii":
            return bytes(b & 0x7F for b in data).decode("ascii")
        if self._kind == "hex":
            return data.hex()
        # base64 works on 3-byte groups; keep the remainder for the next chunk.
        data = self._pending + data
        cut = len(data) if final else len(data) - len(data) % 3
        self._pending = data[cut:]
        text = base64.b64encode(data[:cut]).decode("ascii")
        return (
            text.replace("+", "-").replace("/", "_").rstrip("=")
            if self._kind == "base64url"
            else text
        )


class Readable(EventEmitter):
    """Base of both IncomingMessages; a subclass supplies ``_flush`` and ``_iterate``."""

    # Set by the subclass (its public attributes keep their own order for `vars()`).
    destroyed: bool

    def __init__(self) -> None:
        super().__init__()
        self._flowing: bool | None = None  # None: never started, as in Node
        self._buffer: deque[Any] = deque()
        self._decoder: _Decoder | None = None
        self._want = asyncio.Event()  # set while the body may be pulled further
        self._iter_queue: asyncio.Queue[Any] | None = None  # set once `async for` starts
        self._closed = False

    def set_encoding(self, encoding: str) -> Self:
        self._decoder = _Decoder(encoding)
        return self

    def resume(self) -> Self:
        if not self._flowing:
            self._flowing = True
            # Node resumes on the next tick; buffered chunks go out then.
            asyncio.get_running_loop().call_soon(self._flush)
        return self

    def is_paused(self) -> bool:
        return self._flowing is False

    @property
    def readable_flowing(self) -> bool | None:
        return self._flowing

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iterate()

    def _iterate(self) -> AsyncIterator[Any]:
        raise NotImplementedError

    def _flush(self) -> None:
        raise NotImplementedError

    def _listener_added(self, event: str) -> None:
        if event == "data" and self._flowing is None:
            self.resume()

    def _emit_close(self) -> None:
        if not self._closed:
            self._closed = True
            self.destroyed = True
            self.emit("close")
