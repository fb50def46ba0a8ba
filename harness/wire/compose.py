"""Write start lines and field lines exactly as a scenario lists them."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from .codec import text_to_wire


def encode_fields(fields: list[Any]) -> bytes:
    """Field lines exactly as listed: `Name: value\\r\\n` each; case, order, duplicates kept."""
    return b"".join(text_to_wire(n) + b": " + text_to_wire(v) + b"\r\n" for n, v in fields)


def has_field(fields: list[Any], name: str) -> bool:
    lname = name.lower()
    return any(isinstance(n, str) and n.lower() == lname for n, _ in fields)


def default_reason(status: Any) -> str:
    try:
        return HTTPStatus(int(status)).phrase
    except (ValueError, TypeError):
        return ""


def status_line(version: Any, status: Any, reason: Any) -> bytes:
    """`HTTP/1.1 200 OK`; reason None writes no reason and no space (`HTTP/1.1 200`)."""
    line = b"HTTP/" + text_to_wire(str(version)) + b" " + text_to_wire(str(status))
    if reason is not None:
        line += b" " + text_to_wire(reason)
    return line + b"\r\n"


def message_head(start_line: bytes, fields: list[Any]) -> bytes:
    return start_line + encode_fields(fields) + b"\r\n"


def request_line(method: Any, target: Any, version: Any) -> bytes:
    """`GET /x HTTP/1.1`; version None or "" writes no version (an HTTP/0.9-style line)."""
    line = text_to_wire(str(method)) + b" " + text_to_wire(str(target))
    if version:
        line += b" HTTP/" + text_to_wire(str(version))
    return line + b"\r\n"
