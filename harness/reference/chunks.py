"""Turning what Node code writes into bytes and header lines (shared by client and server)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from .errors import invalid_arg_type, js_string, null_values, unknown_encoding


def to_bytes(chunk: Any, encoding: str | None) -> bytes:
    """A write()/end() chunk as bytes: str (in `encoding`, utf8 by default) or bytes-like."""
    if chunk is None:
        raise null_values()
    if isinstance(chunk, (bytes, bytearray, memoryview)):
        return bytes(chunk)
    if not isinstance(chunk, str):
        raise invalid_arg_type("chunk", ["string", "Buffer", "Uint8Array"], chunk)
    enc = (encoding or "utf8").lower().replace("-", "")
    if enc == "utf8":
        return chunk.encode("utf-8", "surrogatepass")
    if enc in ("latin1", "binary"):
        return bytes(ord(c) & 0xFF for c in chunk)
    if enc == "ascii":
        return bytes(ord(c) & 0xFF for c in chunk)
    if enc in ("utf16le", "ucs2"):
        return chunk.encode("utf-16-le", "surrogatepass")
    if enc == "hex":
        even = chunk[: len(chunk) - len(chunk) % 2]
        try:
            return bytes.fromhex(even)
        except ValueError:
            return b""
    if enc in ("base64", "base64url"):
        text = chunk.replace("-", "+").replace("_", "/")
        try:
            return base64.b64decode(text + "=" * (-len(text) % 4))
        except binascii.Error:
            return b""
    raise unknown_encoding(encoding)


def wire_values(key: str, value: Any, unique: set[str]) -> list[str]:
    """What one stored header becomes on the wire, one string per header line."""
    if isinstance(value, (list, tuple)):
        parts = [js_string(v) for v in value]
        if key == "cookie" or key in unique:
            return ["; ".join(parts)]
        return parts
    return [js_string(value)]
