"""The reference's declared limitations: what fetch cannot do, and how each shows.

Every entry is met in one clean way: a Node-style error with a declared code, or the
feature dropped with everything else intact. Nothing here hangs or corrupts a body.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limitation:
    feature: str
    api: str
    how: str


LIMITATIONS: tuple[Limitation, ...] = (
    Limitation("trailers", "ClientRequest.add_trailers, ServerResponse.add_trailers",
               "raises Error ERR_METHOD_NOT_IMPLEMENTED"),
    Limitation("trailers", "IncomingMessage.trailers / raw_trailers",
               "stay empty; the body arrives intact"),
    Limitation("informational", "ServerResponse.write_continue / write_processing / write_early_hints",
               "raise Error ERR_METHOD_NOT_IMPLEMENTED"),
    Limitation("informational", "interim 1xx responses from an origin",
               "no 'information' or 'continue' event; the final response arrives intact"),
    Limitation("tls", "ca, cert, key, pfx, passphrase, reject_unauthorized, servername, ...",
               "accepted and ignored; https: is still refused with ERR_INVALID_PROTOCOL"),
    Limitation("agent", "Agent(options), global_agent, agent=False",
               "options kept and exposed; no pooling, no socket limits, no 'free' events"),
    Limitation("headers", "outgoing header name case, Host, Connection, framing headers",
               "fetch lower-cases names and owns Host/Connection/Transfer-Encoding"),
    Limitation("headers", "IncomingMessage.raw_headers / headers",
               "what fetch exposes: lower-cased names, sorted, duplicates joined with ', '"),
    Limitation("methods", "a body on GET/HEAD; CONNECT, TRACE, TRACK",
               "fetch refuses them: the request emits 'error' (TypeError), then 'close'"),
    Limitation("responses", "IncomingMessage.http_version",
               "always '1.1': fetch does not expose the version"),
    Limitation("paths", "a Latin-1 or '#' character in options.path",
               "fetch's URL parser percent-encodes the first and cuts the second off as a fragment"),
    Limitation("streaming", "a response that starts before the request body has ended",
               "fetch reads the response only once the request body is complete (half duplex)"),
    Limitation("bodies", "a body written on DELETE/OPTIONS without Content-Length",
               "fetch frames every body: it goes out chunked, not unframed as in Node"),
    Limitation("errors", "responses fetch itself cannot parse",
               "'error' is fetch's TypeError 'fetch failed' (code None), not an llhttp HPE_* code"),
)  # fmt: skip
