"""EventEmitter semantics and the WHATWG URL pieces the client relies on."""

from __future__ import annotations

from typing import Any

import pytest

from harness.reference import urls
from harness.reference.errors import NodeError
from harness.reference.events import EventEmitter
from harness.reference.options import normalise_options, snake_case

# ---- EventEmitter ----------------------------------------------------------------------


def test_on_once_off_emit_and_count() -> None:
    ee = EventEmitter()
    seen: list[Any] = []

    def listener(*args: Any) -> None:
        seen.append(("on", *args))

    assert ee.on("x", listener) is ee
    ee.once("x", lambda *a: seen.append(("once", *a)))
    assert ee.listener_count("x") == 2
    assert ee.emit("x", 1) is True
    assert ee.emit("x", 2) is True
    assert seen == [("on", 1), ("once", 1), ("on", 2)]
    ee.off("x", listener)
    assert ee.listener_count("x") == 0 and ee.emit("x") is False


def test_listeners_added_during_emit_wait_for_next_emit() -> None:
    ee = EventEmitter()
    seen: list[str] = []
    ee.on("x", lambda: ee.on("x", lambda: seen.append("late")))
    ee.emit("x")
    assert seen == []
    ee.emit("x")
    assert seen == ["late"]


def test_error_without_listener_raises() -> None:
    ee = EventEmitter()
    err = NodeError("boom", "E_BOOM")
    with pytest.raises(NodeError) as info:
        ee.emit("error", err)
    assert info.value is err
    with pytest.raises(NodeError) as info:
        ee.emit("error", "not an exception")
    assert info.value.code == "ERR_UNHANDLED_ERROR"
    caught: list[Any] = []
    ee.on("error", caught.append)
    assert ee.emit("error", err) and caught == [err]


def test_option_names() -> None:
    assert snake_case("rejectUnauthorized") == "reject_unauthorized"
    assert snake_case("insecureHTTPParser") == "insecure_http_parser"
    assert snake_case("setHost") == "set_host" and snake_case("set_host") == "set_host"
    assert normalise_options({"keepAlive": True, "max_sockets": 2}) == {
        "keep_alive": True,
        "max_sockets": 2,
    }


# ---- URLs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "href"),
    [
        ("http://u:p@EXAMPLE.com/a/../b?x#y", "http://u:p@example.com/b?x#y"),
        ("HTTP://h:80/", "http://h/"),
        ("http://h:8080", "http://h:8080/"),
        ("http://[::1]:8080/x", "http://[::1]:8080/x"),
        ("http://0x7f.1/", "http://127.0.0.1/"),
        ("http://h/./a/%2e%2E/b/.", "http://h/b/"),
        ("http:\\\\h\\p", "http://h/p"),
        ("  http://h/\t\n ", "http://h/"),
        ('http://h/a b"<>`{}', "http://h/a%20b%22%3C%3E%60%7B%7D"),
        ("http://h/?q='a b", "http://h/?q=%27a%20b"),
        ("http://bücher.example/", "http://xn--bcher-kva.example/"),
    ],
)
def test_parse(text: str, href: str) -> None:
    assert urls.parse(text).href == href


@pytest.mark.parametrize(
    "text", ["", "nope", "http://", "http://h:99999/", "http://[::1/", "http://a b/"]
)
def test_parse_rejects(text: str) -> None:
    with pytest.raises(urls.InvalidURL):
        urls.parse(text)


def test_decode_uri_component() -> None:
    assert urls.decode_uri_component("us%40er") == "us@er"
    assert urls.decode_uri_component("%C3%BC%20x") == "ü x"
    for bad in ("%zz", "%", "%C3", "%FF"):
        with pytest.raises(ValueError, match="URI malformed"):
            urls.decode_uri_component(bad)
