"""The short forms of specs (harness/spec/defaults.py): what they expand to, and the errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.spec import SpecError, load_spec_file

SHORT = """\
feature: headers
behaviors:
  - id: demo.short
    title: A behavior written with the defaults
    level: required
    catalogue: [client.headers.order]
    given:
      name: {strategy: header_name}
      creds: {strategy: credentials}
    scenario:
      kind: client
    expect:
      - at: request.header_names
        contains: =name
      - value: {$literal: =name}
        equals: {$concat: [=creds.user, x]}
        because: =name stays text here
"""


def load(tmp_path: Path, text: str) -> dict:
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    [behavior] = load_spec_file(path)
    return {"scenario": behavior.scenario, "expect": behavior.expect}


def test_a_bare_client_scenario_is_a_request_to_the_origin(tmp_path: Path) -> None:
    assert load(tmp_path, SHORT)["scenario"] == {
        "kind": "client",
        "client": {"call": "request", "args": [{"host": {"$origin_host": True}, "port": {"$origin_port": True},
                                                "path": "/"}],
                   "ops": [{"op": "end"}]},
        "origin": {"responses": [{"status": 200, "framing": "content-length"}]},
    }


def test_given_shorthand_expands_except_in_literals_and_text(tmp_path: Path) -> None:
    expect = load(tmp_path, SHORT)["expect"]
    assert expect[0]["contains"] == {"$given": "name"}
    assert expect[1] == {"value": {"$literal": "=name"}, "equals": {"$concat": [{"$given": "creds.user"}, "x"]},
                         "because": "=name stays text here"}


def test_what_is_written_wins_over_the_defaults(tmp_path: Path) -> None:
    text = SHORT.replace("      kind: client\n", """\
      kind: client
      client:
        call: get
        args: [{port: 1, path: /x}]
        then:
          - args: [{$if: [true, {path: /a}, {host: h, path: /b}]}]
            ops: []
      origin: {responses: [{status: 204}]}
""")
    scenario = load(tmp_path, text)["scenario"]
    assert scenario["origin"] == {"responses": [{"status": 204}]}
    assert scenario["client"]["args"] == [{"port": 1, "path": "/x"}]
    assert "ops" not in scenario["client"]  # get() ends the request itself
    [then] = scenario["client"]["then"]
    assert then["call"] == "request" and then["ops"] == []
    address = {"host": {"$origin_host": True}, "port": {"$origin_port": True}}
    assert then["args"] == [{"$if": [True, {**address, "path": "/a"}, {"host": "h", "path": "/b"}]}]


def test_server_scenarios_get_no_client_defaults(tmp_path: Path) -> None:
    text = SHORT.replace("      kind: client\n", """\
      kind: server
      servers: [{listen: 0, handler: [{op: res.end, args: [=name]}]}]
      requests: [{server: 0, method: GET, target: /, headers: [[Host, h]]}]
""").replace("at: request.header_names", "at: handler.headers")
    scenario = load(tmp_path, text)["scenario"]
    assert set(scenario) == {"kind", "servers", "requests"}
    assert scenario["servers"][0]["handler"][0]["args"] == [{"$given": "name"}]


@pytest.mark.parametrize("written", ["=nope", "=Name", "=creds2.user"])
def test_an_equals_string_that_names_no_input_is_an_error_at_its_line(tmp_path: Path, written: str) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(SHORT.replace("contains: =name", f"contains: {written}"), encoding="utf-8")
    with pytest.raises(SpecError) as info:
        load_spec_file(path)
    err = info.value
    assert err.line == 14 and err.behavior == "demo.short"
    assert repr(written) in err.message and "$literal" in err.message
