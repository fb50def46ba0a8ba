"""Typed shapes of a scenario's result: what a target returns and the wire records the runner adds.

The contract is harness/SCENARIO.md; these TypedDicts say the same for the type checker. They
are `total=False`: a target that did not run a scenario to the end answers `status` and
`detail` only, and the runner fills in the rest (runner.not_run). Values still carry the
tagged JSON of SCENARIO.md (`{"$bytes": ...}`) until `scenario.from_json` decodes them.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict, cast

Json = dict[str, Any]  # a plain JSON object: scenarios, options, anything not typed below
RunStatus = Literal["ok", "timeout", "crash", "error", "skipped"]


class ErrorRecord(TypedDict, total=False):
    name: str | None
    code: str | None
    message: str | None


class Event(TypedDict, total=False):
    src: str  # req, res, server, agent, ... (absent on server and agent event lists)
    name: str
    t: float
    len: int  # 'data'
    error: ErrorRecord  # 'error' and friends
    info: Json  # 'information'


class Call(TypedDict, total=False):
    op: str
    returned: Any
    threw: ErrorRecord | None


class Chunk(TypedDict, total=False):
    t: float
    len: int
    type: str


class ClientResponse(TypedDict, total=False):
    statusCode: int
    statusMessage: str
    httpVersion: str
    httpVersionMajor: int
    httpVersionMinor: int
    headers: Json
    rawHeaders: list[str]
    headersDistinct: dict[str, list[str]]
    trailers: Json
    rawTrailers: list[str]
    complete: bool


class OriginRequest(TypedDict, total=False):
    """What the scripted origin received (wire.requests[i], client scenarios)."""

    conn: int
    peer: Json | None  # {"address": ..., "port": ...}: the connection's remote end
    method: str
    target: str
    version: str
    headers: list[list[str]]  # [name, value] exactly as sent
    framing: str  # content-length, chunked, none
    body: Any
    trailers: list[list[str]]
    head_raw: Any


class RawResponse(TypedDict, total=False):
    """What the raw client received (wire.responses[i], server scenarios)."""

    request: int
    conn: int
    interim: list[Json]
    version: str | None
    status: int | None  # None: no valid response arrived (see `error`)
    reason: str | None
    headers: list[list[str]]
    framing: str | None  # content-length, chunked, close, none
    body: Any
    body_chunks: list[Chunk]
    trailers: list[list[str]]
    closed: bool
    error: str | None
    head_raw: Any
    t_head: float
    tunnel: Any  # bytes after a 101 / CONNECT 2xx head, until close; None otherwise


class WireRecord(TypedDict, total=False):
    requests: list[OriginRequest]
    connections: int
    responses: list[RawResponse]


class ServerRecord(TypedDict, total=False):
    port: int | None
    address: Json | None
    listen_error: ErrorRecord | None
    events: list[Event]


class HandlerRequest(TypedDict, total=False):
    """What one server handler saw (requests[i], server scenarios)."""

    server: int
    event: str  # request, checkContinue, checkExpectation, upgrade, connect
    head: Any  # upgrade/connect: the bytes after the request head
    method: str
    url: str
    httpVersion: str
    headers: Json
    rawHeaders: list[str]
    headersDistinct: dict[str, list[str]]
    trailers: Json
    complete: bool
    body: Any
    chunks: list[Chunk]
    calls: list[Call]
    events: list[Event]


class Observations(TypedDict, total=False):
    """One scenario's result, client or server (SCENARIO.md, "observations")."""

    status: RunStatus
    detail: str
    # client scenarios
    threw: ErrorRecord | None
    calls: list[Call]
    events: list[Event]
    response: ClientResponse | None
    body: Any
    chunks: list[Chunk]
    props: Json
    more: list[Observations]
    agents: dict[str, Json]
    ctx: Json
    # server scenarios
    servers: list[ServerRecord]
    requests: list[HandlerRequest]
    # both: filled in by the runner from the origin or the raw client
    wire: WireRecord
    # app scenarios (harness/apps/run.py): the app, why it did not start, Node's answer
    app: str
    app_error: str | None
    oracle: AppOracle | None


class AppOracle(TypedDict, total=False):
    """Node's answer to an app scenario's requests, or why there is none."""

    target: str
    wire: WireRecord
    error: str


def from_target(doc: Json) -> Observations:
    """A target's answer (JSON its process printed, or a dict its executor built) as
    Observations: the one place that shape is taken on trust. The runner checks `status`."""
    return cast(Observations, doc)
