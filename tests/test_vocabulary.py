"""The scenario vocabulary (harness/drivers/vocabulary.json): lint refuses what it does not
list, both executors answer ERROR for a scenario it refuses, and the executors implement
exactly what it lists."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from harness.runner import Session
from harness.spec import SpecError, load_spec_file
from harness.spec.model import Behavior
from harness.targets import registry
from harness.targets.impl import ops as impl_ops
from harness.targets.runtime import DRIVERS
from harness.vocabulary import describe, load, scenario_problems

ROOT = Path(__file__).resolve().parents[1]
EXECUTOR_MJS = DRIVERS / "executor.mjs"
IMPL = ROOT / "harness" / "targets" / "impl"

SPEC = """\
feature: client
behaviors:
  - id: demo.vocab
    title: A demo behavior
    level: required
    catalogue: [client.headers.order]
    scenario:
      kind: client
      client:
        call: request
        args: [{host: {$origin_host: true}, port: {$origin_port: true}}]
        ops:
          - {op: setHeader, args: [X-A, "1"]}
          - {op: end}
      origin: {responses: [{status: 200}]}
    expect:
      - at: event_names
        subsequence: ["req:finish", "res:end"]
      - at: events_by.req:close.t
        type: number
"""


def lint_error(tmp_path: Path, text: str) -> SpecError:
    path = tmp_path / "client.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError) as info:
        load_spec_file(path)
    return info.value


# -- lint -------------------------------------------------------------------------------

def test_the_demo_spec_is_clean(tmp_path: Path) -> None:
    path = tmp_path / "client.yaml"
    path.write_text(SPEC, encoding="utf-8")
    assert [b.id for b in load_spec_file(path)] == ["demo.vocab"]


def test_unknown_op_is_an_error_at_its_line(tmp_path: Path) -> None:
    err = lint_error(tmp_path, SPEC.replace("{op: end}", "{op: endd}"))
    assert err.path.endswith("client.yaml") and err.line == 14 and err.behavior == "demo.vocab"
    assert 'unknown op "endd"' in err.message and 'did you mean "end"' in err.message
    assert str(err).startswith(f"{err.path}:14 [demo.vocab]: scenario.client.ops.1.op: unknown op")


def test_wrong_argument_count(tmp_path: Path) -> None:
    err = lint_error(tmp_path, SPEC.replace('args: [X-A, "1"]', "args: [X-A]"))
    assert err.line == 13 and 'op "setHeader" takes 2 argument(s), got 1' in err.message


def test_op_fields_and_lists(tmp_path: Path) -> None:
    cases = [
        ("{op: end}", "{op: wait}", 'op "wait" needs `ms`'),
        ("{op: end}", "{op: wait, ms: soon}", "`ms` must be a number"),
        ("{op: end}", "{op: end, arg: [x]}", 'takes no field(s) ["arg"]'),
        ("{op: end}", "{op: res.end}", 'op "res.end" is not one of the client ops (it goes in handler ops)'),
        ("{op: end}", "{op: wait_event, event: respone}", 'unknown req event "respone"'),
        ("{op: end}", "{op: module.get, prop: METHOD}", 'unknown name "METHOD" (did you mean "METHODS"?)'),
        ("call: request", "call: fetch", 'unknown call "fetch"'),
    ]
    for old, new, wanted in cases:
        assert wanted in lint_error(tmp_path, SPEC.replace(old, new)).message, new


def test_ops_inside_expressions_are_checked(tmp_path: Path) -> None:
    text = SPEC.replace("    given:\n", "").replace(
        "          - {op: end}\n",
        "          - $if: [true, [{op: ennd}], [{op: end}]]\n")
    err = lint_error(tmp_path, text)
    assert 'unknown op "ennd"' in err.message and err.line == 14


def test_unknown_event_in_events_by(tmp_path: Path) -> None:
    err = lint_error(tmp_path, SPEC.replace("events_by.req:close.t", "events_by.req:closed.t"))
    assert err.line == 19 and "no event 'req:closed' is recorded there" in err.message


def test_unknown_event_in_event_names(tmp_path: Path) -> None:
    err = lint_error(tmp_path, SPEC.replace('"res:end"]', '"res:ended"]'))
    assert err.line == 17 and "event_names never holds 'res:ended'" in err.message
    err = lint_error(tmp_path, SPEC.replace('"res:end"]', '"end"]'))
    assert "(names there read src:name)" in err.message


def test_unknown_client_prop_and_server_event(tmp_path: Path) -> None:
    err = lint_error(tmp_path, SPEC.replace("events_by.req:close.t", "props.req.reused"))
    assert "no client prop 'req.reused'" in err.message
    server = SPEC.replace("""      kind: client
      client:
        call: request
        args: [{host: {$origin_host: true}, port: {$origin_port: true}}]
        ops:
          - {op: setHeader, args: [X-A, "1"]}
          - {op: end}
      origin: {responses: [{status: 200}]}""", """      kind: server
      servers: [{handler: [{op: res.end}]}]
      requests: [{server: 0}]""").replace("at: event_names", "at: servers.0.event_names").replace(
        '["req:finish", "res:end"]', '["listening", "closed"]')
    err = lint_error(tmp_path, server)
    assert "servers.0.event_names never holds 'closed'" in err.message


def test_timeout_range_is_the_vocabularys(tmp_path: Path) -> None:
    err = lint_error(tmp_path, SPEC.replace("      kind: client\n", "      kind: client\n      timeout_ms: 10\n"))
    assert "timeout_ms must be a number from 50 to 60000" in err.message


# -- the two checkers agree -------------------------------------------------------------

BAD_SCENARIOS: list[dict[str, Any]] = [
    {"kind": "client", "client": {"call": "request", "args": [], "ops": [{"op": "endd"}]}},
    {"kind": "client", "timeout_ms": 1, "client": {"call": "fetch", "args": [{"$frob": 1}],
                                                     "ops": [{"op": "setHeader", "args": ["a"]}, {"op": "wait"}]},
     "then": []},
    {"kind": "client", "client": {"call": "get", "args": [{"port": {"$origin_port": True}}],
                                  "then": [{"call": "request", "ops": [{"op": "wait_event", "event": "x", "src": "res"},
                                                                       {"op": "res.end"}]}]}},
    {"kind": "server", "servers": [{"handler": [{"op": "res.set", "prop": 1, "value": 2}, {"op": "socket.end"}],
                                    "on_client_error": [{"op": "socket.write"}, {"op": "server.close", "args": [1]}],
                                    "on_check_continue": "no"}], "requests": []},
    {"kind": "client", "client": {"call": "request", "ops": [{"op": "res.call", "method": "unpipe"},
                                                             {"op": "res.get", "prop": "anything"}]}},
    # $plain: its keys are data ($x passes), its values are checked ($nope does not)
    {"kind": "client", "client": {"call": "request", "args": [{"headers": {"$plain": {"$x": {"$nope": 1}}}},
                                                              {"$plain": {"$ok": 1}}]}},
    {"kind": "server", "servers": [{"handler": [{"op": "res.end", "args": ["ok"]}]}], "requests": []},
]


def test_javascript_and_python_checkers_agree() -> None:
    node = registry.create("node")
    if not getattr(node, "installed", lambda: False)():
        pytest.skip("node is not installed")
    script = (f"import {{ useVocabulary, scenarioProblems }} from {json.dumps(str(DRIVERS / 'vocabulary.mjs'))};\n"
              f"import v from {json.dumps(str(DRIVERS / 'vocabulary.json'))} with {{ type: 'json' }};\n"
              "useVocabulary(v);\n"
              f"console.log(JSON.stringify({json.dumps(BAD_SCENARIOS)}.map(scenarioProblems)));\n")
    out = subprocess.run([str(node.binary()), "--input-type=module", "-e", script], capture_output=True,
                         text=True, timeout=60, check=True)
    theirs = json.loads(out.stdout)
    ours = [[describe([p])[len("scenario: "):] for p in scenario_problems(s)] for s in BAD_SCENARIOS]
    assert theirs == ours
    assert ours[-1] == [] and all(ours[:-1])


# -- run time: ERROR with the checker's message, on both executors ----------------------

def behavior(scenario: dict[str, Any]) -> Behavior:
    """A behavior straight from a scenario, past lint (lint would refuse it)."""
    return Behavior(id="demo.unknown-op", title="unknown op", feature="client", level="required",
                    catalogue=[], node={}, given={}, scenario=scenario, expect=[{"at": "status", "equals": "ok"}],
                    fetch_backed=None, source="tests/test_vocabulary.py", line=None)


@pytest.fixture(scope="module", params=["impl", "node", "workerd"])
def session_target(request: pytest.FixtureRequest) -> Iterator[tuple[Session, str]]:
    name = request.param
    target = registry.create(name)
    if not getattr(target, "installed", lambda: True)():
        pytest.skip(f"{name} is not installed")
    session = Session([name], session_seed=1, base_settings=settings(max_examples=2))
    yield session, name
    session.close()


def test_unknown_op_is_error_not_timeout(session_target: tuple[Session, str]) -> None:
    session, name = session_target
    client = behavior({"kind": "client", "timeout_ms": 3000, "origin": {"responses": [{"status": 200}]},
                       "client": {"call": "request", "args": [{"host": {"$origin_host": True},
                                                               "port": {"$origin_port": True}}],
                                  "ops": [{"op": "endd"}]}})
    server = behavior({"kind": "server", "timeout_ms": 3000, "requests": [{"server": 0, "method": "GET", "target": "/"}],
                       "servers": [{"listen": 0, "handler": [{"op": "res.endd", "args": ["x"]}]}]})
    for b, op in ((client, "endd"), (server, "res.endd")):
        cell = session.run_cell(b, name)
        assert cell.status == "ERROR", (name, cell.status, cell.message)
        assert cell.message.startswith("scenario: ") and f'unknown op "{op}"' in cell.message
        assert cell.wall_s < 2.5, "answered before the scenario's deadline, not at it"


# -- the executors implement exactly the vocabulary --------------------------------------

def _js_block(text: str, start: str) -> str:
    i = text.index(start)
    return text[i:text.index("\n};\n", i)]


def special_ops() -> set[str]:
    return {name for name, op in load().ops.items() if op.receiver is None}


def test_special_ops_are_implemented_by_both_executors() -> None:
    js = _js_block(EXECUTOR_MJS.read_text(encoding="utf-8"), "const SPECIAL_OPS = {")
    js_names = set(re.findall(r"^ {2}'?([\w.]+)'?: \(op, env\)", js, re.MULTILINE))
    assert js_names == special_ops()
    assert set(impl_ops.SPECIAL_OPS) == special_ops()


def test_every_receiver_is_handed_to_its_ops() -> None:
    js = EXECUTOR_MJS.read_text(encoding="utf-8")
    js_receivers = {name for line in re.findall(r"receivers: (\{.*)", js)
                    for name in re.findall(r"(?:\{|,)\s*(?:get\s+)?(\w+)(?=\s*[,}:(])", line)}
    py = "".join((IMPL / f).read_text(encoding="utf-8") for f in ("executor.py", "server.py"))
    py_receivers = set(re.findall(r'"(\w+)": (?:(?:req|res|socket)\b|session\.servers\[index\])', py))
    wanted = set(load().raw["receivers"])
    assert js_receivers == wanted and py_receivers == wanted


def test_executor_tags_are_decoded_by_both_executors() -> None:
    wanted = set(load().tags("executor"))
    js = EXECUTOR_MJS.read_text(encoding="utf-8")
    decode_js = js[js.index("function decode("):js.index("export function encode(")]
    assert set(re.findall(r"case '(\$\w+)':", decode_js)) == wanted
    tags_py = (IMPL / "tags.py").read_text(encoding="utf-8")
    assert set(re.findall(r'key == "(\$\w+)"', tags_py)) == wanted


def test_named_events_and_props_are_written_by_both_executors() -> None:
    """Events with code of their own (special, harness) and props without a `read` path
    are named in each executor; the plain ones come from the vocabulary itself."""
    vocab = load().raw
    named = {name for sources in vocab["events"].values() for kinds in sources.values()
             for kind in ("special", "harness") for name in kinds.get(kind, [])}
    named -= {"uncaughtException", "unhandledRejection"}  # the wrappers' process events
    named |= {key for key, entry in vocab["client_props"].items() if "read" not in entry}
    js = (EXECUTOR_MJS.read_text(encoding="utf-8"))
    py = "".join(p.read_text(encoding="utf-8") for p in IMPL.glob("*.py"))
    for name in named:
        assert f"'{name}'" in js or f"`{name}`" in js, name
        assert f'"{name}"' in py, name


def test_no_executor_lists_names_or_timings_of_its_own() -> None:
    js = EXECUTOR_MJS.read_text(encoding="utf-8")
    py = "".join(p.read_text(encoding="utf-8") for p in IMPL.glob("*.py"))
    for text in (js, py):
        assert not re.search(r"_OPS = (?:new Set|frozenset)", text)
        assert not re.search(r"_EVENTS = [\[(]", text)
        assert not re.search(r"\b(?:DEFAULT_TIMEOUT_MS|END_GRACE_MS|CLOSE_WAIT_MS|SETTLE_MS)\b", text)
    code = "".join(p.read_text(encoding="utf-8") for p in (ROOT / "harness").rglob("*.py"))
    code += js
    for name in load().raw["timing"]:
        assert re.search(rf"timing\(['\"]{name}['\"]\)|timing\.{name}", code), f"timing {name} is read by no one"


def test_a_generated_name_led_by_a_dollar_is_data_not_a_tag() -> None:
    """$object's keys are data: a lone one led by `$` (a generated token) goes to the
    targets as {"$plain": ...}; without it every executor read "$[3uH^" as an unknown tag
    and the cell was ERROR (trailers.server-validation, a random seed of `pytest
    --target=impl`). Anywhere else (expect) it stays the mapping it was built as."""
    from harness.scenario import to_json
    from harness.spec.expr import evaluate
    from harness.targets.impl.tags import DecodeContext, decode

    built = evaluate({"$object": [[{"$given": "name"}, "v"]]}, {"name": "$[3uH^"})
    assert built == {"$[3uH^": "v"}
    assert to_json(built) == {"$plain": {"$[3uH^": "v"}}
    assert to_json(evaluate({"$object": [[{"$given": "name"}, "v"]]}, {"name": "X-T"})) == {"X-T": "v"}
    assert to_json({"$undefined": True}) == {"$undefined": True}  # a tag a spec writes stays one
    assert scenario_problems({"kind": "client", "client": {"call": "request", "args": [to_json(built)]}}) == []
    ctx = DecodeContext(http=None)  # type: ignore[arg-type]
    assert decode({"$plain": {"$[3uH^": {"$bytes": "YQ=="}}}, ctx) == {"$[3uH^": b"a"}
