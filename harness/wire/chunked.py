"""Chunked transfer coding: an incremental decoder that keeps trailers verbatim, and encoders.

Written by hand rather than through h11 because the recording needs the trailer names'
exact case and order, and because a truncated or malformed body must still be recorded.
"""

from __future__ import annotations

import re

from .compose import encode_fields
from .heads import Fields, head_lines, parse_fields

_SIZE_LINE = re.compile(rb"([0-9A-Fa-f]+)[ \t]*(?:;.*)?")
MAX_LINE = 64 * 1024


class ChunkedDecoder:
    """Feed bytes as they arrive; get the payload back. `done` once the trailer section ended.

    After `done`, `leftover` holds the bytes that followed the body (the next message).
    On malformed input `error` is set and nothing more is decoded.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._state = "size"  # size | data | data_end | trailers | done
        self._left = 0
        self._trailer_lines = bytearray()
        self.trailers: Fields = []
        self.done = False
        self.error: str | None = None

    @property
    def leftover(self) -> bytes:
        return bytes(self._buf) if self.done else b""

    def feed(self, data: bytes | bytearray) -> bytes:
        if self.done or self.error:
            if self.done:
                self._buf += data
            return b""
        self._buf += data
        out = bytearray()
        while self._step(out):
            pass
        return bytes(out)

    def _line(self) -> bytes | None:
        """One line without its ending, consumed from the buffer; None if incomplete."""
        nl = self._buf.find(b"\n")
        if nl < 0:
            if len(self._buf) > MAX_LINE:
                self.error = "chunk line too long"
            return None
        line = bytes(self._buf[:nl]).removesuffix(b"\r")
        del self._buf[: nl + 1]
        return line

    def _step(self, out: bytearray) -> bool:
        """Advance one state; False when more input is needed (or on error/done)."""
        if self._state == "size":
            line = self._line()
            if line is None:
                return False
            m = _SIZE_LINE.fullmatch(line)
            if not m:
                self.error = f"invalid chunk size line {line[:40]!r}"
                return False
            self._left = int(m[1], 16)
            self._state = "data" if self._left else "trailers"
            return True
        if self._state == "data":
            if not self._buf:
                return False
            take = self._buf[: self._left]
            out += take
            del self._buf[: len(take)]
            self._left -= len(take)
            if not self._left:
                self._state = "data_end"
            return True
        if self._state == "data_end":
            if self._buf[:2] == b"\r\n" or self._buf[:1] == b"\n":
                del self._buf[: 2 if self._buf[:1] == b"\r" else 1]
                self._state = "size"
                return True
            if self._buf in (b"", b"\r"):
                return False
            self.error = "missing CRLF after chunk data"
            return False
        if self._state == "trailers":
            line = self._line()
            if line is None:
                return False
            if line:
                self._trailer_lines += line + b"\r\n"
                return True
            self.trailers = parse_fields(head_lines(bytes(self._trailer_lines)))
            self._state = "done"
            self.done = True
        return False


def encode_chunk(data: bytes) -> bytes:
    """One chunk; empty data gives b"" because a zero-size chunk would end the body."""
    if not data:
        return b""
    return b"%x\r\n" % len(data) + data + b"\r\n"


def encode_chunk_head(size: int) -> bytes:
    return b"%x\r\n" % size


def encode_last_chunk(trailers: list[list[object]] | None) -> bytes:
    """The last chunk and the trailer section, trailer names and values written verbatim."""
    return b"0\r\n" + encode_fields(trailers or []) + b"\r\n"
