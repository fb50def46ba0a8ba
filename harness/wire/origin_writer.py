"""Carry out one scripted origin response (SCENARIO.md "Origin responses") on a connection."""

from __future__ import annotations

import asyncio
from typing import Any

from .chunked import encode_chunk, encode_chunk_head, encode_last_chunk
from .codec import Json, body_plan, text_to_wire, to_bytes, wire_to_text
from .compose import default_reason, has_field, message_head, status_line
from .heads import Fields, field_tokens
from .origin_record import RequestRecord

ACTIONS = ("respond", "close", "raw")
FRAMINGS = ("content-length", "chunked", "close", "as-is")


class Output:
    """Writes that flush (drain) every time and turn a vanished peer into `ok = False`."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.ok = True

    async def send(self, data: bytes) -> bool:
        if not data or not self.ok:
            return self.ok
        if self.writer.transport.is_closing():
            self.ok = False
            return False
        try:
            self.writer.write(data)
            await self.writer.drain()
        except (ConnectionError, OSError):
            self.ok = False
        return self.ok


def check_response(spec: Json) -> None:
    """Reject a malformed scripted response up front, in the caller's thread."""
    if spec.get("action", "respond") not in ACTIONS:
        raise ValueError(f"origin response action must be one of {ACTIONS}: {spec!r}")
    if spec.get("framing", "content-length") not in FRAMINGS:
        raise ValueError(f"origin response framing must be one of {FRAMINGS}: {spec!r}")
    body_plan(spec.get("body"))
    to_bytes(spec.get("raw"))


def _as_text_fields(fields: list[Any]) -> Fields:
    return [[wire_to_text(text_to_wire(n)), wire_to_text(text_to_wire(v))] for n, v in fields]


def _no_body_status(status: Any) -> bool:
    try:
        code = int(status)
    except (TypeError, ValueError):
        return False
    return 100 <= code < 200 or code in (204, 304)


def interim_heads(spec: Json) -> list[bytes]:
    """The 1xx heads a `respond` action writes before the final response."""
    heads = []
    for info in spec.get("interim") or []:
        status = info.get("status", 100)
        reason = info["reason"] if "reason" in info else default_reason(status)
        line = status_line(info.get("version", spec.get("version", "1.1")), status, reason)
        heads.append(message_head(line, info.get("headers") or []))
    return heads


async def write_response(spec: Json, rec: RequestRecord, out: Output) -> bool:
    """Answer `rec` as `spec` says; True if the connection may carry another request."""
    action = spec.get("action", "respond")
    if action == "close":
        return False
    if action == "respond":
        # Interim responses go out before the body is awaited so 100-continue can work.
        for head in interim_heads(spec):
            await out.send(head)
    if spec.get("read_body", True):
        await rec.body_done.wait()
    if action == "raw":
        await out.send(to_bytes(spec.get("raw")))
        return False
    return await _write_final(spec, rec, out)


def final_parts(spec: Json, method: str) -> tuple[list[tuple[float, bytes]], bool]:
    """What the final response writes to a request of `method`: (delay in seconds, bytes)
    parts, the head first, and whether the connection then closes whatever the heads say
    (`close_after_body_bytes` reached)."""
    version = str(spec.get("version", "1.1"))
    status = spec.get("status", 200)
    reason = spec["reason"] if "reason" in spec else default_reason(status)
    fields = list(spec.get("headers") or [])
    framing = spec.get("framing", "content-length")
    plan = body_plan(spec.get("body"))
    no_body_status = _no_body_status(status)
    if (
        framing == "content-length"
        and not no_body_status
        and not has_field(fields, "content-length")
    ):
        fields.append(["Content-Length", str(sum(len(d) for _, d in plan))])
    if framing == "chunked" and not no_body_status and not has_field(fields, "transfer-encoding"):
        fields.append(["Transfer-Encoding", "chunked"])
    parts: list[tuple[float, bytes]] = [(0.0, message_head(status_line(version, status, reason), fields))]
    # With HTTP framing, a HEAD/204/304 answer carries no body, as any server would do;
    # "close" and "as-is" write the script literally.
    if framing in ("content-length", "chunked") and (no_body_status or method == "HEAD"):
        return parts, False
    chunked = framing == "chunked"
    limit = spec.get("close_after_body_bytes")
    sent = 0
    for delay, data in plan:
        if limit is not None and sent + len(data) >= limit:
            part = data[: max(limit - sent, 0)]
            if chunked and part:
                part = (
                    encode_chunk_head(len(data))
                    + part
                    + (b"\r\n" if len(part) == len(data) else b"")
                )
            return [*parts, (delay, part)], True
        parts.append((delay, encode_chunk(data) if chunked else data))
        sent += len(data)
    if limit is not None and sent >= limit:
        return parts, True
    if chunked:
        parts.append((0.0, encode_last_chunk(spec.get("trailers"))))
    return parts, False


async def _write_final(spec: Json, rec: RequestRecord, out: Output) -> bool:
    parts, closes = final_parts(spec, rec.head.method)
    for delay, data in parts:
        if delay:
            await asyncio.sleep(delay)
        if not await out.send(data):
            return False
    if closes:
        return False
    return _keep_alive(spec, rec)


def response_keeps(spec: Json) -> bool:
    """The response's side of the keep-alive rule (RFC 9112 9.3): it does not end the connection."""
    version = str(spec.get("version", "1.1"))
    ours = field_tokens(_as_text_fields(list(spec.get("headers") or [])), "connection")
    if spec.get("framing", "content-length") == "close" or "close" in ours:
        return False
    return not (version == "1.0" and "keep-alive" not in ours)


def _keep_alive(spec: Json, rec: RequestRecord) -> bool:
    """Keep the connection unless the response or the request says it ends."""
    if not response_keeps(spec):
        return False
    theirs = field_tokens(rec.head.fields, "connection")
    return "close" not in theirs and not (rec.head.version == "1.0" and "keep-alive" not in theirs)
