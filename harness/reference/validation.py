"""Node's checks on outgoing header names and values (http.validateHeaderName/Value)."""

from __future__ import annotations

import re
from typing import Any

from .errors import (
    UNDEFINED,
    bad_port,
    invalid_char,
    invalid_header_value,
    invalid_http_token,
    js_string,
)

_TOKEN = re.compile(r"^[\^_`a-zA-Z\-0-9!#$%&'*+.|~]+$")
# Node lets through tab, visible ASCII and the Latin-1 range; DEL and controls are not.
_INVALID_HEADER_CHAR = re.compile(r"[^\t\x20-\x7e\x80-\xff]")
# A request path may hold no space, control character or anything above U+00FF.
_INVALID_PATH = re.compile(r"[^\u0021-\u00ff]")


def is_http_token(value: Any) -> bool:
    return isinstance(value, str) and _TOKEN.match(value) is not None


def has_invalid_header_char(text: str) -> bool:
    return _INVALID_HEADER_CHAR.search(text) is not None


def has_invalid_path_char(text: str) -> bool:
    return _INVALID_PATH.search(text) is not None


def validate_header_name(name: Any, label: str = "Header name") -> None:
    """TypeError ERR_INVALID_HTTP_TOKEN unless `name` is a non-empty HTTP token."""
    if not is_http_token(name):
        raise invalid_http_token(label, name)


def validate_header_value(name: str, value: Any, what: str = "header content") -> None:
    """ERR_HTTP_INVALID_HEADER_VALUE for undefined, ERR_INVALID_CHAR for bad characters."""
    if value is UNDEFINED:
        raise invalid_header_value(value, name)
    values = value if isinstance(value, (list, tuple)) else [value]
    for item in values:
        if item is UNDEFINED:
            raise invalid_header_value(item, name)
        if has_invalid_header_char(js_string(item)):
            raise invalid_char(what, name)


def valid_port(value: Any, name: str = "Port") -> int:
    """Node's validatePort: a number or numeric string in 0..65535, else ERR_SOCKET_BAD_PORT."""
    text = value.strip() if isinstance(value, str) else None
    if isinstance(value, bool) or not (
        (isinstance(value, (int, float)) and float(value).is_integer())
        or (text and text.isascii() and text.isdigit())
    ):
        number = -1
    else:
        number = int(value) if text is None else int(text)
    if not 0 <= number <= 65535:
        raise bad_port(name, value)
    return number
