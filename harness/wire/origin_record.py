"""One request as the origin saw it, and its JSON form (SCENARIO.md "What the origin records")."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from .codec import Json, tag_bytes
from .heads import Fields, RequestHead, content_length, field_tokens


def request_framing(head: RequestHead) -> tuple[str, int]:
    """("chunked" | "content-length" | "none", length) as RFC 9112 6.3 decides for a request.

    A Transfer-Encoding that does not end in chunked, or an unusable Content-Length, cannot
    be delimited; such a request is recorded as "none" and its bytes kept as they come.
    """
    codings = field_tokens(head.fields, "transfer-encoding")
    if codings:
        return ("chunked", 0) if codings[-1] == "chunked" else ("none", 0)
    try:
        length = content_length(head.fields)
    except ValueError:
        return "none", 0
    return ("none", 0) if length is None else ("content-length", length)


@dataclass(eq=False)
class RequestRecord:
    index: int  # arrival order across the origin's connections; picks the scripted response
    conn: int
    t: float
    head: RequestHead
    framing: str
    length: int = 0  # the Content-Length, when framing is content-length
    peer: tuple[str, int] | None = None  # the connection's remote (client) address and port
    body: bytearray = field(default_factory=bytearray)
    body_chunks: list[Json] = field(default_factory=list)
    trailers: Fields = field(default_factory=list)
    complete: bool = False
    body_done: asyncio.Event = field(default_factory=asyncio.Event)
    # Bytes after a framing-less request whose meaning is not settled yet (its body, or the
    # start of the next request); shown as body in a snapshot since that is far likelier.
    unsettled: bytes = b""
    unsettled_t: float = 0.0

    def add_body(self, data: bytes, t: float) -> None:
        if data:
            self.body += data
            self.body_chunks.append({"t": t, "len": len(data)})

    def finish(self, complete: bool) -> None:
        self.complete = complete
        self.body_done.set()

    def to_json(self) -> Json:
        chunks = list(self.body_chunks)
        if self.unsettled:
            chunks.append({"t": self.unsettled_t, "len": len(self.unsettled)})
        return {
            "conn": self.conn,
            "peer": None if self.peer is None else {"address": self.peer[0], "port": self.peer[1]},
            "t": self.t,
            "method": self.head.method,
            "target": self.head.target,
            "version": self.head.version,
            "headers": [list(f) for f in self.head.fields],
            "framing": self.framing,
            "body": tag_bytes(bytes(self.body) + self.unsettled),
            "body_chunks": chunks,
            "trailers": [list(f) for f in self.trailers],
            "head_raw": tag_bytes(self.head.raw),
            "complete": self.complete,
        }
