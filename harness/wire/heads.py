"""Find and parse HTTP/1.x message heads without normalising them.

h11 validates and normalises (strips, folds, rejects bad tokens, insists on Host). The
recording has to show what a target actually sent, so heads are parsed leniently here
and the exact bytes are always kept next to the parsed view.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .codec import wire_to_text

Fields = list[list[str]]  # [[name, value], ...] exact case, order and duplicates

# A head ends at the first empty line; bare LF line endings are accepted so that a
# target sending them is recorded rather than rejected.
_HEAD_END = re.compile(rb"\n\r?\n")
_TOKEN = rb"[!#$%&'*+.^_`|~0-9A-Za-z-]"
_REQUEST_LINE = re.compile(_TOKEN + rb"+ [^ \r\n]+ HTTP/\d\.\d\r?")
# Anything that could still grow into a request line (used on bytes of unknown meaning).
_REQUEST_LINE_PREFIX = re.compile(
    _TOKEN + rb"*(?: [^ \r\n]*(?: H(?:T(?:T(?:P(?:/(?:\d(?:\.\d?)?)?)?)?)?)?)?)?"
)
_STATUS_LINE = re.compile(r"HTTP/(\d+\.\d+) (\d{3})(?: (.*))?")

MAX_HEAD_BYTES = 1 << 20


def find_head_end(buf: bytes | bytearray) -> int | None:
    """Index just past the empty line that ends the head at the start of buf, or None."""
    m = _HEAD_END.search(buf)
    return m.end() if m else None


def skip_leading_empty_lines(buf: bytearray) -> None:
    """Drop CRLFs before a start line (RFC 9112 2.2 lets a recipient ignore them)."""
    n = 0
    while n < len(buf) and buf[n] in b"\r\n":
        n += 1
    if n:
        del buf[:n]


def head_lines(head: bytes) -> list[str]:
    """The head's lines as Latin-1 text, line endings removed, the final empty line dropped."""
    lines = [line.removesuffix("\r") for line in wire_to_text(head).split("\n")]
    while lines and lines[-1] == "":
        lines.pop()
    return lines


def parse_fields(lines: list[str]) -> Fields:
    """Field lines as [name, value]: name verbatim, value without surrounding blanks.

    obs-fold continuation lines are joined with one space (as llhttp does); lines with no
    colon are skipped here but stay visible in the raw head.
    """
    fields: Fields = []
    for line in lines:
        if line[:1] in (" ", "\t"):
            if fields:
                fields[-1][1] = (fields[-1][1] + " " + line.strip(" \t")).strip(" \t")
            continue
        name, sep, value = line.partition(":")
        if sep:
            fields.append([name, value.strip(" \t")])
    return fields


def field_values(fields: Fields, name: str) -> list[str]:
    """Every value of a field, case-insensitively, in order."""
    lname = name.lower()
    return [v for n, v in fields if n.lower() == lname]


def field_tokens(fields: Fields, name: str) -> list[str]:
    """Comma-separated list elements of a field, lower-cased (Connection, Transfer-Encoding)."""
    return [
        t.strip().lower() for v in field_values(fields, name) for t in v.split(",") if t.strip()
    ]


def content_length(fields: Fields) -> int | None:
    """The Content-Length, or None if absent. Raises ValueError if present but unusable.

    Repeated identical values ("5, 5") are accepted as RFC 9110 8.6 allows.
    """
    values = {v.strip() for raw in field_values(fields, "content-length") for v in raw.split(",")}
    if not values:
        return None
    if len(values) != 1 or not next(iter(values)).isdigit():
        raise ValueError(f"invalid Content-Length {sorted(values)!r}")
    return int(next(iter(values)))


@dataclass
class RequestHead:
    method: str
    target: str
    version: str  # "1.1"; "" when the request line has no HTTP-version
    fields: Fields
    raw: bytes


@dataclass
class StatusHead:
    version: str
    status: int
    reason: str  # "" when the status line has no reason (raw shows whether a space was sent)
    fields: Fields
    raw: bytes


def parse_request_head(raw: bytes) -> RequestHead:
    """Split the request line on its first and last space; never fails."""
    lines = head_lines(raw) or [""]
    method, _, rest = lines[0].partition(" ")
    target, _, proto = rest.rpartition(" ")
    if proto.startswith("HTTP/"):
        version = proto[5:]
    else:  # no version (HTTP/0.9 style or garbage): keep everything as the target
        target, version = rest, ""
    return RequestHead(method, target, version, parse_fields(lines[1:]), raw)


def parse_status_head(raw: bytes) -> StatusHead:
    """Parse a response head. Raises ValueError if the status line is not HTTP/x.y NNN."""
    lines = head_lines(raw) or [""]
    m = _STATUS_LINE.fullmatch(lines[0])
    if not m:
        raise ValueError(f"invalid status line {lines[0][:80]!r}")
    return StatusHead(m[1], int(m[2]), m[3] or "", parse_fields(lines[1:]), raw)


def classify_following_bytes(data: bytes | bytearray) -> str:
    """What bytes arriving after a request's head (or after its Content-Length body) are.

    "request": a new request line; "stray": body bytes the client sent without framing
    (Node 20 does this for GET/DELETE bodies) or beyond its Content-Length; "unknown":
    too short to tell yet.
    """
    newline = data.find(b"\n")
    if newline >= 0:
        return "request" if _REQUEST_LINE.fullmatch(data[:newline]) else "stray"
    if len(data) < 8192 and _REQUEST_LINE_PREFIX.fullmatch(data):
        return "unknown"
    return "stray"
