"""An app behavior's request template -> the raw client's request (SCENARIO.md, "App scenario").

A template names `path` (a string is sent as written; a list is path segments, each
percent-encoded here, so a generated segment may hold any character), `query` (pairs or a
mapping, percent-encoded here), `method`, `version`, `host` (default app.test; null sends
no Host), `headers` (pairs, sent as listed after Host), the body as `body` (bytes, text or
chunks with delays) or `json` (a value sent as compact UTF-8 JSON), `framing` and
`trailers` (harness/wire/client_request.py). A header value
may be `{"$reply_header": [i, name]}`: the value of that header in the answer to request
i of the same scenario (the header is left out when that answer has none), e.g. an ETag
sent back in If-None-Match.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping
from typing import Any

from harness.observations import Json, RawResponse

DEFAULT_HOST = "app.test"
REPLY_HEADER = "$reply_header"
SEGMENT_SAFE = "!$&'()*+,;=:@-._~"  # RFC 3986 pchar, less "%": kept as they are in a segment


def _path(path: Any) -> str:
    if isinstance(path, list):
        return "/" + "/".join(urllib.parse.quote(str(seg), safe=SEGMENT_SAFE) for seg in path)
    return str(path)


def _query(query: Any) -> str:
    pairs = list(query.items()) if isinstance(query, Mapping) else [tuple(p) for p in query or []]
    if not pairs:
        return ""
    return "?" + urllib.parse.urlencode([(str(k), str(v)) for k, v in pairs], quote_via=urllib.parse.quote)


def _header_value(value: Any, answers: list[RawResponse]) -> str | None:
    """The value as sent; None drops the header."""
    if isinstance(value, Mapping) and REPLY_HEADER in value:
        index, name = value[REPLY_HEADER]
        if not 0 <= int(index) < len(answers):
            raise ValueError(f"{REPLY_HEADER} names answer {index}, only {len(answers)} so far")
        found = [v for k, v in answers[int(index)].get("headers") or [] if k.lower() == str(name).lower()]
        return found[0] if found else None
    return str(value)


def raw_request(template: Json, answers: list[RawResponse]) -> Json:
    """The raw client's request (harness/wire/client_request.py) for one template, given
    the answers to the scenario's earlier requests."""
    headers: list[list[str]] = []
    host = template.get("host", DEFAULT_HOST)
    if host is not None:
        headers.append(["Host", str(host)])
    for name, value in template.get("headers") or []:
        sent = _header_value(value, answers)
        if sent is not None:
            headers.append([str(name), sent])
    raw: Json = {
        "server": 0,
        "method": template.get("method", "GET"),
        "target": _path(template.get("path", "/")) + _query(template.get("query")),
        "version": template.get("version", "1.1"),
        "headers": headers,
    }
    if template.get("json") is not None:
        raw["body"] = json.dumps(template["json"], ensure_ascii=False, separators=(",", ":")).encode()
    for key in ("body", "framing", "trailers"):
        if template.get(key) is not None:
            raw[key] = template[key]
    return raw
