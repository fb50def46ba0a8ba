"""One response as the raw client saw it (SCENARIO.md "What the raw client records")."""

from __future__ import annotations

from dataclasses import dataclass, field

from .codec import Json, tag_bytes
from .heads import Fields


@dataclass(eq=False)
class ResponseRecord:
    request: int
    conn: int | None = None
    interim: list[Json] = field(default_factory=list)
    version: str | None = None
    status: int | None = None
    reason: str | None = None
    headers: Fields = field(default_factory=list)
    framing: str | None = None
    body: bytearray = field(default_factory=bytearray)
    body_chunks: list[Json] = field(default_factory=list)
    trailers: Fields = field(default_factory=list)
    closed: bool = False
    error: str | None = None
    head_raw: bytes = b""
    t_head: float | None = None
    # Bytes after a 101 head or a CONNECT 2xx head, read until the server closed;
    # None for any other response.
    tunnel: bytearray | None = None

    def add_body(self, data: bytes, t: float) -> None:
        if data:
            self.body += data
            self.body_chunks.append({"t": t, "len": len(data)})

    def to_json(self) -> Json:
        return {
            "request": self.request,
            "conn": self.conn,
            "interim": self.interim,
            "version": self.version,
            "status": self.status,
            "reason": self.reason,
            "headers": [list(f) for f in self.headers],
            "framing": self.framing,
            "body": tag_bytes(self.body),
            "body_chunks": self.body_chunks,
            "trailers": [list(f) for f in self.trailers],
            "closed": self.closed,
            "error": self.error,
            "head_raw": tag_bytes(self.head_raw),
            "t_head": self.t_head,
            "tunnel": None if self.tunnel is None else tag_bytes(self.tunnel),
        }
