"""Scenario values <-> bytes.

Scenarios are JSON, so bytes travel as `{"$bytes": "<base64>"}` (see harness/SCENARIO.md)
and body strings mean UTF-8. Header text on the wire is Latin-1: one char per byte, so a
value decoded here and encoded back is byte-for-byte what was sent.
"""

from __future__ import annotations

import base64
from typing import Any

from harness.observations import Json


def to_bytes(value: Any) -> bytes:
    """A scenario body value as bytes: str -> UTF-8, `$bytes`/`$u8` tags -> decoded, None -> b""."""
    if value is None:
        return b""
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, dict):
        for tag in ("$bytes", "$u8"):
            if tag in value:
                return base64.b64decode(value[tag], validate=True)
    raise TypeError(f"not a body value (str or $bytes tag): {value!r}")


def tag_bytes(data: bytes | bytearray) -> Json:
    """Bytes as the JSON tag `{"$bytes": "<base64>"}`."""
    return {"$bytes": base64.b64encode(bytes(data)).decode("ascii")}


def text_to_wire(value: Any) -> bytes:
    """A header name/value or reason phrase as wire bytes.

    Text is Latin-1 (what Node writes for 0x80-0xFF); text beyond Latin-1 falls back to
    UTF-8 so a scenario can still send it; a `$bytes` tag is written untouched.
    """
    if isinstance(value, str):
        try:
            return value.encode("latin-1")
        except UnicodeEncodeError:
            return value.encode("utf-8")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value).encode("ascii")
    return to_bytes(value)


def wire_to_text(data: bytes | bytearray) -> str:
    """Wire bytes as text, one char per byte (Latin-1), so nothing is lost or replaced."""
    return bytes(data).decode("latin-1")


def body_plan(chunks: Any) -> list[tuple[float, bytes]]:
    """Scenario body chunks as (delay in seconds, bytes).

    Accepts `[{"data": ..., "delay_ms": N}, ...]`, bare values in the list, or one value.
    """
    if chunks is None:
        return []
    if not isinstance(chunks, list):
        chunks = [chunks]
    plan: list[tuple[float, bytes]] = []
    for chunk in chunks:
        if isinstance(chunk, dict) and "data" in chunk:
            plan.append((float(chunk.get("delay_ms") or 0) / 1000.0, to_bytes(chunk["data"])))
        else:
            plan.append((0.0, to_bytes(chunk)))
    return plan
