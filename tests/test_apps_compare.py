"""The apps' comparison levels, request templates and spec expansion (no runtime needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.apps import compare
from harness.apps.request import raw_request
from harness.spec import SpecError, load_all, load_spec_file
from harness.verdict import verdict

ROOT = Path(__file__).resolve().parents[1]


def answer(**changes: Any) -> dict[str, Any]:
    """Node's answer to a GET, as the raw client records it; changes make another runtime's."""
    base: dict[str, Any] = {
        "request": 0, "version": "1.1", "status": 200, "reason": "OK", "error": None, "closed": False,
        "headers": [["X-Powered-By", "Express"], ["Content-Type", "text/plain"], ["Content-Length", "5"],
                    ["Date", "Mon, 01 Jan 2026 00:00:00 GMT"], ["Connection", "keep-alive"],
                    ["Keep-Alive", "timeout=5"]],
        "framing": "content-length", "body": b"hello", "body_chunks": [{"t": 10.0, "len": 5}],
        "t_head": 10.0, "interim": [], "trailers": [],
    }
    return {**base, **changes}


FETCH_STYLE = answer(
    reason="unknown", framing="chunked",
    headers=[["content-type", "text/plain"], ["x-powered-by", "Express"], ["Transfer-Encoding", "chunked"]])


def test_transport_differences_are_notes_linked_to_their_behaviors() -> None:
    differences, notes = compare.compare([FETCH_STYLE], [answer()])
    assert differences == []
    linked = {n["behavior"] for n in notes}
    assert linked == {compare.SUBJECTS[k] for k in
                      ("reason", "header-case", "header-order", "framing:content-length", "connection", "date")}
    assert any("'unknown'" in n["text"] and "'OK'" in n["text"] for n in notes)


def test_status_body_and_header_values_decide_the_status() -> None:
    got = answer(status=404, body=b"unknown", headers=[["Content-Type", "text/html"], ["X-Extra", "1"]])
    differences, _ = compare.compare([got], [answer()])
    text = " | ".join(d.message for d in differences)
    assert "status 404 (Node: 200)" in text
    assert "body differs from byte 0" in text
    assert "header content-type" in text and "header x-extra" in text and "header x-powered-by" in text
    assert "date" not in text and "connection" not in text  # the transport's own
    assert {d.cause for d in differences} >= {"app: status 404 where Node answers 200", "app: another body",
                                             "app: header x-extra extra", "app: header x-powered-by missing"}


def test_interim_trailers_and_timing_are_notes() -> None:
    node = answer(interim=[{"status": 100}], trailers=[["X-Sum", "1"]], framing="chunked",
                  body_chunks=[{"t": 10.0, "len": 2}, {"t": 160.0, "len": 3}])
    got = answer(framing="chunked", body_chunks=[{"t": 160.0, "len": 5}], t_head=160.0)
    differences, notes = compare.compare([got], [node])
    assert differences == []
    assert {n["behavior"] for n in notes} == {compare.SUBJECTS[k] for k in
                                              ("interim", "trailers", "head-timing", "body-timing")}


def test_no_response_is_a_difference() -> None:
    differences, _ = compare.compare([answer(status=None, error="connection closed mid-body")], [answer()])
    assert differences and "no valid response" in differences[0].message
    assert differences[0].cause == "app: no valid answer"


def test_every_note_links_a_behavior_of_the_specs() -> None:
    known = {b.id for b in load_all(ROOT / "specs", ROOT / "cases")}
    assert set(compare.SUBJECTS.values()) <= known


def test_request_template_encodes_path_query_and_json() -> None:
    raw = raw_request({"method": "POST", "path": ["users", "a b/é"], "query": [["q", "x&y"]],
                       "json": {"k": "é"}, "headers": [["X-A", "1"]]}, [])
    assert raw["target"] == "/users/a%20b%2F%C3%A9?q=x%26y"
    assert raw["headers"] == [["Host", "app.test"], ["X-A", "1"]]
    assert raw["body"] == '{"k":"é"}'.encode()
    assert raw_request({"path": "/x", "version": "1.0", "host": None}, [])["headers"] == []


def test_request_template_sends_back_a_header_of_an_earlier_answer() -> None:
    first = answer(headers=[["ETag", 'W/"1"']])
    raw = raw_request({"path": "/e", "headers": [["If-None-Match", {"$reply_header": [0, "etag"]}],
                                                 ["X-Gone", {"$reply_header": [0, "x-none"]}]]}, [first])
    assert raw["headers"] == [["Host", "app.test"], ["If-None-Match", 'W/"1"']]


APP_SPEC = """
feature: apps
behaviors:
  - id: apps.hello
    title: An app answers hello
    level: required
    catalogue: []
    scenario:
      kind: app
      apps: [{apps}]
      requests: [{{path: /text/x}}]
    expect: [{{at: reply.status, equals: 200}}]
"""


def test_an_app_behavior_runs_once_per_app(tmp_path: Path) -> None:
    spec = tmp_path / "apps.yaml"
    spec.write_text(APP_SPEC.format(apps="express, koa"), encoding="utf-8")
    behaviors = load_spec_file(spec)
    assert [(b.id, b.feature, b.scenario["app"]) for b in behaviors] == [
        ("apps.express.hello", "apps.express", "express"), ("apps.koa.hello", "apps.koa", "koa")]
    assert all("apps" not in b.scenario for b in behaviors)
    spec.write_text(APP_SPEC.format(apps="nope"), encoding="utf-8")
    with pytest.raises(SpecError, match="unknown app 'nope'"):
        load_spec_file(spec)


def test_node_answer_is_the_expected_one(tmp_path: Path) -> None:
    spec = tmp_path / "apps.yaml"
    spec.write_text(APP_SPEC.format(apps="express"), encoding="utf-8")
    behavior = load_spec_file(spec)[0]
    wire = {"responses": [answer()]}
    on_node: Any = {"status": "ok", "app": "express", "app_error": None, "oracle": None, "wire": wire}
    assert verdict(behavior, "node", {}, on_node).status == "PASS"
    on_bun: Any = {**on_node, "wire": {"responses": [answer(body=b"other")]},
                   "oracle": {"target": "node", "wire": wire}}
    failed = verdict(behavior, "node", {}, on_bun)
    assert failed.status == "FAIL" and "answers differently from Node" in failed.message
    assert failed.causes == ["app: another body"]
    noted = verdict(behavior, "fetch-backed", {}, {**on_bun, "wire": {"responses": [FETCH_STYLE]}})
    assert noted.status == "PASS" and noted.notes
    not_started = verdict(behavior, "node", {}, {**on_node, "app_error": "the express app did not start"})
    assert not_started.status == "FAIL" and "did not start" in not_started.message
