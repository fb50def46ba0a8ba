"""Synchronous validation in request(): Node's error codes, names and messages."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from ref_origin import run

from harness.reference import http
from harness.reference.errors import UNDEFINED, NodeError


def _throws(make: Callable[[], Any]) -> NodeError:
    """Run `make` inside a loop and return the NodeError it raised synchronously."""

    async def main() -> NodeError:
        try:
            make()
        except NodeError as exc:
            return exc
        raise AssertionError("did not throw")

    return run(main())


BASE = {"host": "127.0.0.1", "port": 9}


@pytest.mark.parametrize(
    ("options", "name", "code", "message"),
    [
        (
            {"method": "GE T"},
            "TypeError",
            "ERR_INVALID_HTTP_TOKEN",
            'Method must be a valid HTTP token ["GE T"]',
        ),
        ({"method": "GET:"}, "TypeError", "ERR_INVALID_HTTP_TOKEN", None),
        ({"method": "\0"}, "TypeError", "ERR_INVALID_HTTP_TOKEN", None),
        (
            {"method": 5},
            "TypeError",
            "ERR_INVALID_ARG_TYPE",
            'The "options.method" property must be of type string. Received type number (5)',
        ),
        ({"method": True}, "TypeError", "ERR_INVALID_ARG_TYPE", None),
        ({"method": ["GET"]}, "TypeError", "ERR_INVALID_ARG_TYPE", None),
        (
            {"headers": {"x y": "1"}},
            "TypeError",
            "ERR_INVALID_HTTP_TOKEN",
            'Header name must be a valid HTTP token ["x y"]',
        ),
        ({"headers": {"": "1"}}, "TypeError", "ERR_INVALID_HTTP_TOKEN", None),
        (
            {"headers": {"x-a": "a\r\nb"}},
            "TypeError",
            "ERR_INVALID_CHAR",
            'Invalid character in header content ["x-a"]',
        ),
        ({"headers": {"x-a": "\0"}}, "TypeError", "ERR_INVALID_CHAR", None),
        ({"headers": {"x-a": "€"}}, "TypeError", "ERR_INVALID_CHAR", None),
        (
            {"headers": {"x-a": UNDEFINED}},
            "TypeError",
            "ERR_HTTP_INVALID_HEADER_VALUE",
            'Invalid value "undefined" for header "x-a"',
        ),
        (
            {"path": "/a b"},
            "TypeError",
            "ERR_UNESCAPED_CHARACTERS",
            "Request path contains unescaped characters",
        ),
        ({"path": "/a\tb"}, "TypeError", "ERR_UNESCAPED_CHARACTERS", None),
        ({"path": "/€"}, "TypeError", "ERR_UNESCAPED_CHARACTERS", None),
        (
            {"protocol": "https:"},
            "TypeError",
            "ERR_INVALID_PROTOCOL",
            'Protocol "https:" not supported. Expected "http:"',
        ),
        ({"protocol": "ftp:"}, "TypeError", "ERR_INVALID_PROTOCOL", None),
        (
            {"agent": http.HttpsAgent()},
            "TypeError",
            "ERR_INVALID_PROTOCOL",
            'Protocol "http:" not supported. Expected "https:"',
        ),
        (
            {"agent": "x"},
            "TypeError",
            "ERR_INVALID_ARG_TYPE",
            'The "options.agent" property must be one of Agent-like Object, undefined, or false.'
            " Received type string ('x')",
        ),
        ({"hostname": 5}, "TypeError", "ERR_INVALID_ARG_TYPE", None),
        ({"timeout": "x"}, "TypeError", "ERR_INVALID_ARG_TYPE", None),
        ({"insecureHTTPParser": "x"}, "TypeError", "ERR_INVALID_ARG_TYPE", None),
        ({"maxHeaderSize": -1}, "RangeError", "ERR_OUT_OF_RANGE", None),
        ({"signal": "nope"}, "TypeError", "ERR_INVALID_ARG_TYPE", None),
        (
            {"port": "abc"},
            "RangeError",
            "ERR_SOCKET_BAD_PORT",
            "Port should be >= 0 and < 65536. Received type string ('abc').",
        ),
        ({"port": 70000}, "RangeError", "ERR_SOCKET_BAD_PORT", None),
    ],
)
def test_request_throws(options: dict, name: str, code: str, message: str | None) -> None:
    err = _throws(lambda: http.request({**BASE, **options}))
    assert (err.name, err.code) == (name, code)
    if message is not None:
        assert err.message == message
    # The Python side sees the matching builtin.
    assert isinstance(err, ValueError if name == "RangeError" else TypeError)


def test_url_string_errors() -> None:
    https = _throws(lambda: http.request("https://127.0.0.1/"))
    assert (https.code, https.message) == (
        "ERR_INVALID_PROTOCOL",
        'Protocol "https:" not supported. Expected "http:"',
    )
    bad = _throws(lambda: http.request("http://"))
    assert (bad.name, bad.code) == ("TypeError", "ERR_INVALID_URL")
    malformed = _throws(lambda: http.request("http://a%zz:b@127.0.0.1/"))
    assert (malformed.name, malformed.code, malformed.message) == (
        "URIError",
        None,
        "URI malformed",
    )


def test_header_api_errors_and_headers_sent() -> None:
    async def main() -> None:
        req = http.request({**BASE})
        req.on("error", lambda e: None)
        with pytest.raises(NodeError) as info:
            req.set_header("bad name", "1")
        assert info.value.code == "ERR_INVALID_HTTP_TOKEN"
        with pytest.raises(NodeError) as info:
            req.set_header("x-a", UNDEFINED)
        assert info.value.code == "ERR_HTTP_INVALID_HEADER_VALUE"
        with pytest.raises(NodeError) as info:
            req.set_header("x-a", "a\nb")
        assert info.value.code == "ERR_INVALID_CHAR"
        req.flush_headers()
        assert req.headers_sent
        with pytest.raises(NodeError) as info:
            req.set_header("x-late", "1")
        assert (info.value.name, info.value.code, info.value.message) == (
            "Error",
            "ERR_HTTP_HEADERS_SENT",
            "Cannot set headers after they are sent to the client",
        )
        with pytest.raises(NodeError) as info:
            req.remove_header("host")
        assert info.value.message == "Cannot remove headers after they are sent to the client"
        req.destroy()
        await req.wait_closed()

    run(main())


def test_client_and_server_share_outgoing_message() -> None:
    """Node keeps the header API on OutgoingMessage; neither subclass redefines it."""
    from harness.reference.outgoing_message import OutgoingMessage
    from harness.reference.server_response import ServerResponse

    shared = ("set_header", "append_header", "set_headers", "get_header", "get_headers",
              "get_header_names", "get_raw_header_names", "has_header", "remove_header",
              "add_trailers", "write", "end", "headers_sent", "writable_ended", "closed")  # fmt: skip
    for cls in (http.ClientRequest, ServerResponse):
        assert issubclass(cls, OutgoingMessage)
        for name in shared:
            assert name not in vars(cls), f"{cls.__name__}.{name} is redefined"


def test_client_set_headers_and_append_header() -> None:
    async def main() -> tuple[dict[str, Any], list[str], bool]:
        req = http.request({**BASE, "headers": {"X-A": "1"}})
        req.on("error", lambda e: None)
        req.append_header("x-a", ("2", "3"))
        req.set_headers({"X-Map": "m"})
        with pytest.raises(NodeError) as info:
            req.set_headers(["X-B", "1"])
        assert info.value.code == "ERR_INVALID_ARG_TYPE"
        result = req.get_headers(), req.get_raw_header_names(), req.closed
        req.destroy()
        await req.wait_closed()
        return result

    headers, raw_names, closed = run(main())
    assert headers["x-a"] == ["1", "2", "3"] and headers["x-map"] == "m"
    assert raw_names[-1] == "X-Map" and closed is False


def test_odd_flat_header_list_throws() -> None:
    err = _throws(lambda: http.request({**BASE, "headers": ["X-A", "1", "X-B"]}))
    assert (err.name, err.code) == ("TypeError", "ERR_INVALID_ARG_VALUE")


def test_write_chunk_types() -> None:
    async def main() -> None:
        req = http.request({**BASE, "method": "POST"})
        req.on("error", lambda e: None)
        with pytest.raises(NodeError) as info:
            req.write(5)
        assert info.value.code == "ERR_INVALID_ARG_TYPE"
        assert info.value.message == (
            'The "chunk" argument must be of type string or an instance of Buffer or Uint8Array.'
            " Received type number (5)"
        )
        with pytest.raises(NodeError) as info:
            req.write({})
        assert info.value.code == "ERR_INVALID_ARG_TYPE"
        with pytest.raises(NodeError) as info:
            req.write(None)
        assert info.value.code == "ERR_STREAM_NULL_VALUES"
        req.destroy()
        await req.wait_closed()

    run(main())


def test_header_accessors() -> None:
    async def main() -> None:
        req = http.request({**BASE, "headers": {"X-Foo": "bar"}})
        req.on("error", lambda e: None)
        assert req.set_header("X-Num", 42) is req
        assert req.get_header("x-num") == 42  # the type is kept
        assert req.get_header("X-FOO") == "bar" and req.has_header("x-foo")
        assert req.get_header("missing") is UNDEFINED
        assert req.get_header_names() == ["x-foo", "host", "x-num"]
        assert req.get_raw_header_names() == ["X-Foo", "Host", "X-Num"]
        req.remove_header("X-NUM")
        assert req.get_headers() == {"x-foo": "bar", "host": "127.0.0.1:9"}
        assert (req.method, req.path, req.host, req.protocol) == ("GET", "/", "127.0.0.1", "http:")
        req.destroy()
        await req.wait_closed()

    run(main())


def test_host_header_format() -> None:
    async def main() -> list[Any]:
        out = []
        for opts in (
            {"host": "example.com", "port": 80},
            {"host": "example.com", "port": 8080},
            {"host": "::1", "port": 8080},
            {"hostname": "Example.COM", "port": 81},
            {"host": "example.com", "port": 81, "setHost": False},
            {"host": "example.com", "headers": {"host": "other:1"}},
        ):
            req = http.request(opts)
            req.on("error", lambda e: None)
            out.append(req.get_header("host"))
            req.destroy()
            await req.wait_closed()
        return out

    assert run(main()) == [
        "example.com",
        "example.com:8080",
        "[::1]:8080",
        "Example.COM:81",
        UNDEFINED,
        "other:1",
    ]


def test_request_needs_running_loop() -> None:
    with pytest.raises(RuntimeError):
        http.request("http://127.0.0.1:9/")


def test_methods_and_status_codes() -> None:
    assert len(http.METHODS) == 35 and http.METHODS == sorted(http.METHODS)
    assert http.METHODS[0] == "ACL" and "QUERY" in http.METHODS
    assert (
        http.STATUS_CODES[418] == "I'm a Teapot" and http.STATUS_CODES[413] == "Payload Too Large"
    )
    assert http.max_header_size == 16384


def test_validate_header_helpers() -> None:
    with pytest.raises(NodeError) as info:
        http.validate_header_name("x y")
    assert info.value.code == "ERR_INVALID_HTTP_TOKEN"
    with pytest.raises(NodeError) as info:
        http.validate_header_value("x-a", UNDEFINED)
    assert info.value.code == "ERR_HTTP_INVALID_HEADER_VALUE"
    http.validate_header_value("x-a", "caf\xe9")  # Latin-1 is fine


def test_timeout_option_out_of_range() -> None:
    err = _throws(lambda: http.request({**BASE, "timeout": -1}))
    assert (err.name, err.code) == ("RangeError", "ERR_OUT_OF_RANGE")


def test_get_ends_the_request() -> None:
    async def main() -> None:
        req = http.get({**BASE, "path": "/p?q"})
        req.on("error", lambda e: None)
        assert req.writable_ended and req.path == "/p?q"
        await asyncio.wait_for(req.wait_closed(), 5)

    run(main())
