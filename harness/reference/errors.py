"""Node-style errors: a `code`, a JS constructor `name`, and Node's message text.

Each class also subclasses the Python builtin nearest to its JS kind, so Python code can
catch a TypeError or ValueError naturally. `UNDEFINED` stands for JavaScript's
`undefined` wherever the API must tell it apart from `null` (Python's None).
"""

from __future__ import annotations

import math
import re
from typing import Any


class _Undefined:
    """JavaScript's `undefined` (a singleton; falsy)."""

    _instance: _Undefined | None = None

    def __new__(cls) -> _Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "UNDEFINED"


UNDEFINED: Any = _Undefined()


class NodeError(Exception):
    """Base of every error the reference raises or emits on purpose."""

    name = "Error"

    def __init__(self, message: str, code: str | None = None, **props: Any) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        for key, value in props.items():
            setattr(self, key, value)

    def __str__(self) -> str:
        return self.message

    def to_json(self) -> dict[str, Any]:
        """The scenario contract's error shape."""
        return {"name": self.name, "code": self.code, "message": self.message}


class NodeTypeError(NodeError, TypeError):
    name = "TypeError"


class NodeRangeError(NodeError, ValueError):
    name = "RangeError"


class NodeURIError(NodeError, ValueError):
    name = "URIError"


class AbortError(NodeError):
    """What an aborted AbortSignal makes a request emit."""

    name = "AbortError"

    def __init__(self, message: str = "The operation was aborted", cause: Any = None) -> None:
        super().__init__(message, "ABORT_ERR", cause=cause)


# ---- rendering JS values inside messages -------------------------------------------


def js_typeof(value: Any) -> str:
    if value is UNDEFINED:
        return "undefined"
    if value is None:
        return "object"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if callable(value):
        return "function"
    return "object"


def js_string(value: Any) -> str:
    """String(value) as JavaScript would write it."""
    if value is UNDEFINED:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        return repr(value)
    if isinstance(value, (list, tuple)):
        return ",".join("" if v is None or v is UNDEFINED else js_string(v) for v in value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, dict):
        return "[object Object]"
    return str(value)


def _inspect(value: Any) -> str:
    if isinstance(value, str):
        text = value if len(value) <= 28 else value[:25] + "..."
        return "'" + text.replace("'", "\\'") + "'"
    return js_string(value)


def describe_received(value: Any) -> str:
    """The ' Received ...' tail Node appends to argument errors."""
    if value is UNDEFINED or value is None:
        return f" Received {js_string(value)}"
    kind = js_typeof(value)
    if kind == "function":
        return f" Received function {getattr(value, '__name__', '')}"
    if kind == "object":
        names: dict[type, str] = {list: "Array", tuple: "Array", dict: "Object", bytes: "Buffer"}
        cls = names.get(type(value))
        return f" Received an instance of {cls or type(value).__name__}"
    return f" Received type {kind} ({_inspect(value)})"


def _list(words: list[str], lead: str, many: str) -> str:
    if len(words) > 2:
        return f"{many}{', '.join(words[:-1])}, or {words[-1]}"
    if len(words) == 2:
        return f"{many if many.startswith('one') else lead}{words[0]} or {words[1]}"
    return f"{lead}{words[0]}"


_KTYPES = ("string", "function", "number", "object", "boolean", "bigint", "symbol")


def invalid_arg_type(name: str, expected: str | list[str], actual: Any) -> NodeTypeError:
    """Node's message: types first, then classes, then other accepted values."""
    wanted = [expected] if isinstance(expected, str) else list(expected)
    types = [w.lower() for w in wanted if w.lower() in _KTYPES]
    classes = [
        w for w in wanted if w.lower() not in _KTYPES and re.fullmatch(r"([A-Z][a-z0-9]*)+", w)
    ]
    others = [w for w in wanted if w.lower() not in _KTYPES and w not in classes]
    parts = []
    if types:
        parts.append(_list(types, "of type ", "one of type "))
    if classes:
        parts.append(_list(classes, "an instance of ", "an instance of "))
    if others:
        parts.append(_list(others, "", "one of "))
    kind = "property" if "." in name else "argument"
    msg = f'The "{name}" {kind} must be {" or ".join(parts)}.{describe_received(actual)}'
    return NodeTypeError(msg, "ERR_INVALID_ARG_TYPE")


def invalid_arg_value(name: str, value: Any, reason: str = "is invalid") -> NodeTypeError:
    kind = "property" if "." in name else "argument"
    msg = f"The {kind} '{name}' {reason}. Received {_inspect(value)}"
    return NodeTypeError(msg, "ERR_INVALID_ARG_VALUE")


def out_of_range(name: str, range_text: str, value: Any) -> NodeRangeError:
    msg = f'The value of "{name}" is out of range. It must be {range_text}. Received {_inspect(value)}'
    return NodeRangeError(msg, "ERR_OUT_OF_RANGE")


def invalid_http_token(what: str, value: Any) -> NodeTypeError:
    return NodeTypeError(
        f'{what} must be a valid HTTP token ["{js_string(value)}"]', "ERR_INVALID_HTTP_TOKEN"
    )


def invalid_char(what: str, field: str | None = None) -> NodeTypeError:
    msg = f"Invalid character in {what}" + (f' ["{field}"]' if field is not None else "")
    return NodeTypeError(msg, "ERR_INVALID_CHAR")


def invalid_header_value(value: Any, name: str) -> NodeTypeError:
    return NodeTypeError(
        f'Invalid value "{js_string(value)}" for header "{name}"', "ERR_HTTP_INVALID_HEADER_VALUE"
    )


def headers_sent(action: str) -> NodeError:
    return NodeError(
        f"Cannot {action} headers after they are sent to the client", "ERR_HTTP_HEADERS_SENT"
    )


def unescaped_characters(what: str) -> NodeTypeError:
    return NodeTypeError(f"{what} contains unescaped characters", "ERR_UNESCAPED_CHARACTERS")


def invalid_protocol(protocol: str, expected: str) -> NodeTypeError:
    return NodeTypeError(
        f'Protocol "{protocol}" not supported. Expected "{expected}"', "ERR_INVALID_PROTOCOL"
    )


def invalid_url(text: str) -> NodeTypeError:
    return NodeTypeError("Invalid URL", "ERR_INVALID_URL", input=text)


def uri_malformed() -> NodeURIError:
    return NodeURIError("URI malformed", None)


def method_not_implemented(method: str) -> NodeError:
    return NodeError(f"The {method} method is not implemented", "ERR_METHOD_NOT_IMPLEMENTED")


def cannot_pipe() -> NodeError:
    return NodeError("Cannot pipe, not readable", "ERR_STREAM_CANNOT_PIPE")


def write_after_end() -> NodeError:
    return NodeError("write after end", "ERR_STREAM_WRITE_AFTER_END")


def stream_destroyed(method: str) -> NodeError:
    return NodeError(f"Cannot call {method} after a stream was destroyed", "ERR_STREAM_DESTROYED")


def stream_already_finished(method: str) -> NodeError:
    return NodeError(
        f"Cannot call {method} after a stream was finished", "ERR_STREAM_ALREADY_FINISHED"
    )


def bad_port(name: str, value: Any) -> NodeRangeError:
    return NodeRangeError(
        f"{name} should be >= 0 and < 65536.{describe_received(value)}.", "ERR_SOCKET_BAD_PORT"
    )


def null_values() -> NodeTypeError:
    return NodeTypeError("May not write null values to stream", "ERR_STREAM_NULL_VALUES")


def unknown_encoding(encoding: Any) -> NodeTypeError:
    return NodeTypeError(f"Unknown encoding: {js_string(encoding)}", "ERR_UNKNOWN_ENCODING")


def socket_hang_up() -> NodeError:
    return NodeError("socket hang up", "ECONNRESET")


def socket_closed_before_connection() -> NodeError:
    """What write()/end() callbacks still waiting get when the connection never came up."""
    return NodeError(
        "Socket closed before the connection was established", "ERR_SOCKET_CLOSED_BEFORE_CONNECTION"
    )


def response_aborted() -> NodeError:
    return NodeError("aborted", "ECONNRESET")


def parse_error(code: str, reason: str) -> NodeError:
    """Node's HTTP parser error (llhttp's code and reason), e.g. HPE_HEADER_OVERFLOW."""
    return NodeError(f"Parse Error: {reason}", code)


_ERRNO = {"ECONNREFUSED": -111, "ECONNRESET": -104, "ETIMEDOUT": -110, "ENOTFOUND": -3008}


def connect_error(code: str, address: str, port: int) -> NodeError:
    """A failed connect, shaped like Node's: `connect ECONNREFUSED 127.0.0.1:80`."""
    return NodeError(
        f"connect {code} {address}:{port}",
        code,
        errno=_ERRNO.get(code),
        syscall="connect",
        address=address,
        port=port,
    )


def dns_error(hostname: str) -> NodeError:
    return NodeError(
        f"getaddrinfo ENOTFOUND {hostname}",
        "ENOTFOUND",
        errno=_ERRNO["ENOTFOUND"],
        syscall="getaddrinfo",
        hostname=hostname,
    )


def unhandled_error(value: Any) -> NodeError:
    return NodeError(f"Unhandled error. ({_inspect(value)})", "ERR_UNHANDLED_ERROR", context=value)
