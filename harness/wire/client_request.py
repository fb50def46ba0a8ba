"""Turn a server-scenario request (SCENARIO.md "Server scenario") into the bytes to send."""

from __future__ import annotations

from dataclasses import dataclass

from .chunked import encode_chunk, encode_last_chunk
from .codec import Json, body_plan, to_bytes, wire_to_text
from .compose import has_field, message_head, request_line

FRAMINGS = ("content-length", "chunked", "none")


@dataclass
class RequestPlan:
    method: str  # as it will appear on the wire; decides whether the response has a body
    head: bytes
    parts: list[tuple[float, bytes]]  # (delay in seconds, bytes), each written and flushed
    close_after_head: bool
    half_close: bool = False  # shut down the write side (FIN) once everything went out


def plan_request(req: Json) -> RequestPlan:
    """The head and body parts for one request; `raw` replaces everything when set."""
    if req.get("raw") is not None:
        raw = to_bytes(req["raw"])
        # An entry's own `method` says which request a response answers when `raw` does
        # not (pipelining: an empty `raw` reads the response to a HEAD sent earlier).
        method = str(req.get("method") or (wire_to_text(raw.split(b" ", 1)[0]) if b" " in raw else ""))
        # `body` parts after a `raw` go out as they are, each after its delay: a head or
        # body stalled halfway (timeouts), or bytes split over several writes.
        return RequestPlan(
            method, raw, body_plan(req.get("body")), bool(req.get("close_after_head")),
            bool(req.get("half_close")),
        )
    method = str(req.get("method", "GET"))
    fields = list(req.get("headers") or [])
    plan = body_plan(req.get("body"))
    # Without an explicit framing a body gets a Content-Length, as most clients would do.
    framing = req.get("framing") or ("content-length" if any(d for _, d in plan) else "none")
    if framing not in FRAMINGS:
        raise ValueError(f"request framing must be one of {FRAMINGS}: {req!r}")
    if framing == "content-length" and not has_field(fields, "content-length"):
        fields.append(["Content-Length", str(sum(len(d) for _, d in plan))])
    if framing == "chunked":
        if not has_field(fields, "transfer-encoding"):
            fields.append(["Transfer-Encoding", "chunked"])
        # The last chunk rides with the last data chunk; trailers are an optional extra.
        plan = [(delay, encode_chunk(data)) for delay, data in plan]
        last = encode_last_chunk(req.get("trailers"))
        plan = plan[:-1] + [(plan[-1][0], plan[-1][1] + last)] if plan else [(0.0, last)]
    head = message_head(
        request_line(method, req.get("target", "/"), req.get("version", "1.1")), fields
    )
    return RequestPlan(
        method, head, plan, bool(req.get("close_after_head")), bool(req.get("half_close"))
    )
