"""OutgoingMessage: what ClientRequest and ServerResponse share, as in Node's _http_outgoing.

The header store (set/append/get/has/remove, names, raw names, ``set_headers``), the stored
head (``headers_sent``), the write/end state (``finished``, ``writable_*``, ``closed``),
the argument handling of ``write()`` and ``end()`` with their after-end errors, the
high-water-mark bookkeeping behind 'drain', and the end callbacks run before 'finish'.
Where the bytes go (a fetch request body, a fetch Response) is the subclass's business:
``_write_body`` and ``_end``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping
from typing import Any

from .chunks import to_bytes
from .errors import (
    UNDEFINED,
    NodeError,
    cannot_pipe,
    headers_sent,
    invalid_arg_type,
    invalid_arg_value,
    method_not_implemented,
    stream_already_finished,
    stream_destroyed,
    write_after_end,
)
from .events import EventEmitter
from .fetch import Headers
from .validation import validate_header_name, validate_header_value

Callback = Callable[..., Any]

DEFAULT_HIGH_WATER_MARK = 16384
# A `close` token in a Connection header (Node's RE_CONN_CLOSE).
CLOSE_TOKEN = re.compile(r"(?:^|\W)close(?:$|\W)", re.IGNORECASE)


def header_pairs(obj: list[Any] | tuple[Any, ...]) -> list[tuple[Any, Any]]:
    """A flat ``[k, v, k, v]`` list or a ``[[k, v], ...]`` list as pairs (odd: Node's error)."""
    if obj and isinstance(obj[0], list | tuple):
        return [(entry[0], entry[1]) for entry in obj]
    if len(obj) % 2:
        raise invalid_arg_value("headers", obj)
    return [(obj[i], obj[i + 1]) for i in range(0, len(obj), 2)]


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


class OutgoingMessage(EventEmitter):
    """Node's OutgoingMessage: the base of ClientRequest and ServerResponse."""

    def __init__(self) -> None:
        super().__init__()
        self._loop = asyncio.get_running_loop()
        # lower-cased name -> [name as given, value as given], in insertion order; None
        # until a header is set (write_head merges only when there is a store).
        self._out: dict[str, list[Any]] | None = None
        # The stored head, final once set: (name, value) wire lines.
        self._header: list[tuple[str, str]] | None = None
        self._unique_headers: set[str] = set()
        self.send_date = False
        self.strict_content_length = False
        self._removed_content_length = False
        self._removed_transfer_encoding = False
        self._removed_connection = False
        self.socket: Any = None
        self.connection: Any = None
        self.finished = False
        self.writable_finished = False
        self.destroyed = False
        self.errored: BaseException | None = None
        self._closed = False
        self.writable_high_water_mark = DEFAULT_HIGH_WATER_MARK
        self._buffered = 0  # bytes written and not yet taken by fetch
        self._need_drain = False
        self._end_callbacks: list[Callback] = []
        self._corked = 0  # cork() levels; writes are never held back (fetch takes them)

    # ---- state ------------------------------------------------------------------

    @property
    def headers_sent(self) -> bool:
        return self._header is not None

    @property
    def writable_ended(self) -> bool:
        return self.finished

    # Node's legacy `writable`: set once, cleared by neither end() nor destroy().
    writable = True
    writable_object_mode = False

    @property
    def writable_length(self) -> int:
        return self._buffered

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def writable_corked(self) -> int:
        return self._corked

    # ---- header API -------------------------------------------------------------

    def set_header(self, name: str, value: Any) -> OutgoingMessage:
        if self._header is not None:
            raise headers_sent("set")
        validate_header_name(name)
        validate_header_value(name, value)
        if self._out is None:
            self._out = {}
        self._out[name.lower()] = [name, value]
        return self

    def append_header(self, name: str, value: Any) -> OutgoingMessage:
        if self._header is not None:
            raise headers_sent("append")
        validate_header_name(name)
        validate_header_value(name, value)
        entry = self._out.get(name.lower()) if self._out is not None else None
        if entry is None:
            return self.set_header(name, value)
        entry[1] = _as_list(entry[1]) + _as_list(value)
        return self

    def set_headers(self, headers: Any) -> OutgoingMessage:
        """Node's setHeaders: a fetch Headers (lower-case names) or a Map/dict (names as given)."""
        if self._header is not None:
            raise headers_sent("set")
        if isinstance(headers, Headers):
            cookies = headers.get_set_cookie()
            for name, value in headers.items():
                if name != "set-cookie":
                    self.set_header(name, value)
            if cookies:
                self.set_header("set-cookie", cookies)
        elif isinstance(headers, Mapping):
            for name, value in headers.items():
                self.set_header(name, value)
        else:
            raise invalid_arg_type("headers", ["Headers", "Map"], headers)
        return self

    def get_header(self, name: str) -> Any:
        if not isinstance(name, str):
            raise invalid_arg_type("name", "string", name)
        entry = self._out.get(name.lower()) if self._out is not None else None
        return UNDEFINED if entry is None else entry[1]

    def get_headers(self) -> dict[str, Any]:
        return {key: entry[1] for key, entry in (self._out or {}).items()}

    def get_header_names(self) -> list[str]:
        return list(self._out or {})

    def get_raw_header_names(self) -> list[str]:
        return [entry[0] for entry in (self._out or {}).values()]

    def has_header(self, name: str) -> bool:
        if not isinstance(name, str):
            raise invalid_arg_type("name", "string", name)
        return self._out is not None and name.lower() in self._out

    def remove_header(self, name: str) -> None:
        if not isinstance(name, str):
            raise invalid_arg_type("name", "string", name)
        if self._header is not None:
            raise headers_sent("remove")
        key = name.lower()
        # Removing a framing header or Date also stops the automatic one, as in Node.
        if key == "content-length":
            self._removed_content_length = True
        elif key == "transfer-encoding":
            self._removed_transfer_encoding = True
        elif key == "connection":
            self._removed_connection = True
        elif key == "date":
            self.send_date = False
        if self._out is not None:
            self._out.pop(key, None)

    def add_trailers(self, headers: Any) -> None:
        """Declared limitation: neither a fetch Request nor a fetch Response has trailers."""
        raise method_not_implemented("addTrailers()")

    def _head_headers(self) -> Headers:
        """The stored head as the fetch Headers that carry it."""
        headers = Headers()
        for name, value in self._header or []:
            headers.append(name, value)
        return headers

    # ---- body API ---------------------------------------------------------------

    def write(self, chunk: Any, encoding: Any = None, callback: Callback | None = None) -> bool:
        if callable(encoding):
            callback, encoding = encoding, None
        data = to_bytes(chunk, encoding)
        if self.finished:
            self._error_soon(write_after_end(), callback)
            return False
        if self.destroyed:
            if callback is not None:
                self._loop.call_soon(callback, stream_destroyed("write"))
            return False
        return self._write_body(data, callback)

    def end(
        self, chunk: Any = None, encoding: Any = None, callback: Callback | None = None
    ) -> OutgoingMessage:
        if callable(chunk):
            callback, chunk = chunk, None
        elif callable(encoding):
            callback, encoding = encoding, None
        # JavaScript truthiness: '' is no chunk, an empty Buffer is one.
        has_chunk = chunk is not None and chunk != ""
        if self.finished:
            if has_chunk:
                self._error_soon(write_after_end(), callback)
            elif callback is not None:
                if self.writable_finished:
                    self._loop.call_soon(callback, stream_already_finished("end"))
                else:
                    self._end_callbacks.append(callback)  # run before 'finish', as Node 24
            return self
        self._corked = 0  # end() fully uncorks, as Node's does
        self._end(to_bytes(chunk, encoding) if has_chunk else None, callback)
        return self

    def cork(self) -> None:
        """Counts a level in ``writable_corked``; writes still go to fetch at once (fetch
        batches on its own, so holding them back would only delay them)."""
        self._corked += 1

    def uncork(self) -> None:
        if self._corked:
            self._corked -= 1

    def pipe(self, *_args: Any) -> None:
        """An OutgoingMessage is not readable: Node emits 'error' instead of throwing."""
        self.emit("error", cannot_pipe())

    def _write_body(self, data: bytes, callback: Callback | None) -> bool:
        """write() on a message still writable: send `data` on, return write()'s answer."""
        raise NotImplementedError

    def _end(self, data: bytes | None, callback: Callback | None) -> None:
        """end() on a message not yet ended, with its last chunk (None: none)."""
        raise NotImplementedError

    # ---- shared internals -------------------------------------------------------

    def _buffer(self, size: int) -> bool:
        """`size` more bytes wait for fetch; write()'s answer: False past the high-water mark."""
        self._buffered += size
        if self._buffered >= self.writable_high_water_mark:
            self._need_drain = True
            return False
        return True

    def _drain_due(self) -> bool:
        """True once, when fetch has taken enough that a 'drain' is owed."""
        if self._need_drain and self._buffered < self.writable_high_water_mark:
            self._need_drain = False
            return True
        return False

    def _error_soon(self, error: NodeError, callback: Callback | None) -> None:
        """Node reports a write error on the next tick: the callback first, then 'error'."""

        def report() -> None:
            if callback is not None:
                callback(error)
            if not self.destroyed:
                self.emit("error", error)

        self._loop.call_soon(report)

    def _emit_finish(self) -> None:
        """Node 24 runs the end() callbacks before the 'finish' listeners."""
        self._invoke(self.emit, "prefinish")
        callbacks, self._end_callbacks = self._end_callbacks, []
        for callback in callbacks:
            self._invoke(callback)
        self._invoke(self.emit, "finish")

    def _invoke(self, fn: Callback, *args: Any) -> None:
        """Call a callback or emit; a subclass may keep a listener's exception from
        unwinding the code that called it."""
        fn(*args)
