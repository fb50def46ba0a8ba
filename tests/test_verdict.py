"""The verdict function's table: every status, from observations alone."""

from __future__ import annotations

from typing import Any

import pytest

from harness.spec.model import Behavior, FetchBacked
from harness.verdict import verdict, views, worst


def behavior(fetch_backed: FetchBacked | None = None) -> Behavior:
    return Behavior(
        id="demo.trailers", title="t", feature="trailers", level="required", catalogue=[], node={},
        given={}, scenario={"kind": "client"},
        expect=[{"at": "response.trailers.x-t", "equals": "1"}, {"at": "body", "equals": {"$bytes": "aGk="}}],
        fetch_backed=fetch_backed, source="specs/t.yaml", line=3)


CLEAN = FetchBacked("no-trailers", "UNSUPPORTED", "fetch drops trailers",
                    [{"at": "response.trailers", "equals": {}}, {"at": "body", "equals": {"$bytes": "aGk="}}])


def obs(trailers: dict[str, str], body: str = "aGk=", status: str = "ok") -> dict[str, Any]:
    return {"status": status, "response": {"trailers": trailers}, "body": {"$bytes": body}, "events": []}


@pytest.mark.parametrize(("fb", "profile", "observed", "status"), [
    (None, "node", obs({"x-t": "1"}), "PASS"),
    (CLEAN, "fetch-backed", obs({"x-t": "1"}), "PASS"),
    (None, "node", obs({}), "FAIL"),
    (CLEAN, "node", obs({}), "FAIL"),  # a node-profile target is held to Node
    (CLEAN, "fetch-backed", obs({}), "UNSUPPORTED"),
    (CLEAN, "fetch-backed", obs({}, body="aA=="), "FAIL"),  # limitation met uncleanly: body corrupted
    (FetchBacked("agent-noop", "NOOP", "fetch owns connections", [{"at": "body", "present": True}]),
     "fetch-backed", obs({}), "NOOP"),
    (None, "node", obs({}, status="timeout"), "TIMEOUT"),
    (None, "node", obs({}, status="crash"), "CRASH"),
    (None, "node", obs({}, status="error"), "ERROR"),
    (None, "node", obs({}, status="skipped"), "SKIP"),
])
def test_status_table(fb: FetchBacked | None, profile: str, observed: dict[str, Any], status: str) -> None:
    assert verdict(behavior(fb), profile, {}, observed).status == status


def test_fail_message_shows_expected_and_observed() -> None:
    v = verdict(behavior(), "node", {}, obs({"x-t": "2"}))
    assert v.message == "response.trailers.x-t equals '1': observed '2'"


def test_unclean_limitation_message_names_it() -> None:
    v = verdict(behavior(CLEAN), "fetch-backed", {}, obs({}, body="aA=="))
    assert "declared limitation no-trailers not met cleanly" in v.message


def test_spec_evaluation_error_is_error_not_fail() -> None:
    b = behavior()
    bad = Behavior(**{**b.__dict__, "expect": [{"at": "body", "equals": {"$given": "missing"}}]})
    assert verdict(bad, "node", {}, obs({})).status == "ERROR"


def test_views() -> None:
    v = views({
        "events": [{"src": "req", "name": "socket"}, {"src": "req", "name": "error", "error": {"code": "E"}}],
        "wire": {"requests": [{"headers": [["Host", "h"], ["X-A", "1"], ["x-a", "2"]], "body": {"$bytes": "aGk="}}]},
        "body": {"$bytes": "w6k="},
    })
    assert v["event_names"] == ["req:socket", "req:error"] and v["errors"] == [{"code": "E"}]
    assert v["request"]["header"]["x-a"] == ["1", "2"] and v["request"]["header_names"][0] == "Host"
    assert v["request"]["body"] == b"hi" and v["body_text"] == "é"


def test_worst() -> None:
    assert worst(["PASS", "UNSUPPORTED", "PASS"]) == "UNSUPPORTED"
    assert worst(["PASS", "FAIL", "TIMEOUT"]) == "TIMEOUT"
    assert worst([]) == "SKIP"


def test_from_json_decodes_bytes_at_any_depth_and_copies() -> None:
    from harness.scenario import from_json, to_json

    value = {"body": b"\x00ab", "chunks": [b"x", {"n": [b"", 1, None, True, 2.5, "s"]}], "tag": {"$url": "u"},
             "deep": [[{"k": b"\xff"}]]}
    encoded = to_json(value)
    before = repr(encoded)
    decoded = from_json(encoded)
    assert decoded == value
    decoded["chunks"][1]["n"].append("more")  # a copy: the JSON it came from is untouched
    decoded["deep"][0][0]["k"] = b""
    assert repr(encoded) == before
