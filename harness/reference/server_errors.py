"""Node-style errors that only the server side raises (the shared ones are in errors.py)."""

from __future__ import annotations

from typing import Any

from .errors import NodeError, NodeRangeError, js_string


class ConnectionDropped(Exception):
    """Not a Node error: the server destroyed the connection before any response (a
    socket timeout with nobody listening, ``req.socket.destroy()``). A fetch handler
    raises it so that a front end able to close the connection does so without answering
    (``asgi.py``); any other front end answers 500, as for a throwing handler."""


# Linux errno for EADDRINUSE, as Node reports it in err.errno.
_EADDRINUSE_ERRNO = -98


def invalid_status_code(original: Any) -> NodeRangeError:
    return NodeRangeError(
        f"Invalid status code: {js_string(original)}", "ERR_HTTP_INVALID_STATUS_CODE"
    )


def address_in_use(address: str, port: int) -> NodeError:
    return NodeError(
        f"listen EADDRINUSE: address already in use {address}:{port}",
        "EADDRINUSE",
        errno=_EADDRINUSE_ERRNO,
        syscall="listen",
        address=address,
        port=port,
    )


def server_already_listen() -> NodeError:
    return NodeError(
        "Listen method has been called more than once without closing.",
        "ERR_SERVER_ALREADY_LISTEN",
    )


def server_not_running() -> NodeError:
    return NodeError("Server is not running.", "ERR_SERVER_NOT_RUNNING")


def content_length_mismatch(actual: int, expected: int) -> NodeError:
    return NodeError(
        f"Response body's content-length of {actual} byte(s) does not match the "
        f"content-length of {expected} byte(s) set in header",
        "ERR_HTTP_CONTENT_LENGTH_MISMATCH",
    )


def body_not_allowed() -> NodeError:
    return NodeError(
        "Adding content for this request method or response status is not allowed.",
        "ERR_HTTP_BODY_NOT_ALLOWED",
    )


def server_not_found(port: int) -> NodeError:
    """The bridge's error for a port nobody listens on (workerd uses this code too)."""
    return NodeError(
        f"No http server is listening on port {port}: call server.listen({port}) "
        "before routing requests to that port",
        "ERR_INVALID_ARG_VALUE",
        port=port,
    )


def socket_encoding_not_allowed() -> NodeError:
    return NodeError(
        "Changing the socket encoding is not allowed per RFC7230 Section 3.",
        "ERR_HTTP_SOCKET_ENCODING",
    )


def trailer_invalid() -> NodeError:
    return NodeError("Trailers are invalid with this transfer encoding", "ERR_HTTP_TRAILER_INVALID")
