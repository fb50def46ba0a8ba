"""`python -m harness coverage`: members derived from the specs, NOT-COVERED reasons, Node test
files, --min exit codes, and lint errors in the coverage files."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import main
from harness.coverage import api_coverage, touches
from harness.spec import SpecError, load_all
from harness.spec.surface import load_node_tests, load_not_covered, load_surface

SPEC = """\
feature: client
behaviors:
  - id: demo.client
    title: A client request with a header and a keep-alive agent
    level: required
    catalogue: []
    node: {test: [test-http-demo.js, test-http-other.js]}
    given:
      key: {one_of: [host, hostname]}
      call: {one_of: [request, get]}
    scenario:
      kind: client
      client:
        call: {$given: call}
        args:
          - $object: [[{$given: key}, {$origin_host: true}], [port, {$origin_port: true}]]
          - $if: [true, {timeout: 100}, {signal: {$signal: {abort_after_ms: 5}}}]
          - agent: {$agent: {id: a, options: {keepAlive: true}}}
        ops:
          - {op: setHeader, args: [X-A, "1"]}
          - {op: end}
          - {op: agent.call, agent: a, method: getName, args: [{}]}
      origin: {responses: [{status: 200}]}
    expect:
      - at: response.httpVersionMajor
        equals: 1
      - value: {$get: [{$obs: props}, req.reusedSocket]}
        equals: false
      - at: event_names
        contains_all: ["req:socket", "res:aborted", "req:write_cb"]
        because: "mentions req:upgrade only in prose"
  - id: demo.server
    title: A handler sets a header, and the server's connection event fires
    level: required
    catalogue: []
    scenario:
      kind: server
      servers:
        - options: {joinDuplicateHeaders: true}
          handler: [{op: res.setHeader, args: [X-B, "2"]}, {op: res.set, prop: statusCode, value: 201},
                    {op: res.end}]
          on_check_continue: [{op: res.writeContinue}]
      requests: [{server: 0, method: GET, target: /}]
    expect:
      - at: handler.headers.host
        equals: [h]
      - at: servers.0.event_names
        contains: connection
      - at: handler.event_names
        contains: "res:finish"
"""

SURFACE = """\
node: "24.x"
members:
  - {id: ClientRequest, kind: class, doc: "http.html#class-httpclientrequest"}
  - {id: ClientRequest.setHeader, kind: method, doc: "http.html#requestsetheadername-value"}
  - {id: ClientRequest.cork, kind: method, doc: "http.html#requestcork"}
  - {id: ServerResponse.setHeader, kind: method, doc: "http.html#responsesetheadername-value"}
  - {id: OutgoingMessage.setHeader, kind: method, doc: "http.html#outgoingmessagesetheadername-value"}
  - {id: request.option:socketPath, kind: option, doc: "http.html#httprequestoptions-callback"}
"""

NOT_COVERED = """\
# Not covered

| member | reason |
|---|---|
| `request.option:socketPath` | a Unix domain socket: the origin listens on TCP |
"""

NODE_TESTS = """\
- file: test-http-demo.js
  checks: What the demo test checks.
  behaviors: [demo.client]
- file: test-http-plain.js
  checks: A test no behavior cites.
  behaviors: [demo.server]
- file: test-http-gc.js
  checks: Needs the garbage collector.
  not_applicable: gc-v8-flag
- file: test-http-open.js
  checks: Not covered yet.
"""


def write_specs(tmp_path: Path, replace: dict[str, str] | None = None) -> Path:
    """A specs/ directory with the files above, some of them replaced."""
    specs = tmp_path / "specs"
    specs.mkdir(exist_ok=True)
    contents = {"demo.yaml": SPEC, "api-surface.yaml": SURFACE, "NOT-COVERED.md": NOT_COVERED,
                "node-tests.yaml": NODE_TESTS, **(replace or {})}
    for name, text in contents.items():
        (specs / name).write_text(text, encoding="utf-8")
    return specs


def run(specs: Path, *args: str) -> int:
    return main(["--specs", str(specs), "--cases", str(specs.parent / "no-cases"), *args])


def test_derivation_reads_calls_options_listeners_and_observations(tmp_path: Path) -> None:
    client, server = load_all(write_specs(tmp_path))
    got = touches(client)
    assert {"http.request", "http.get", "ClientRequest", "ClientRequest.setHeader", "ClientRequest.end"} <= got
    # option keys: $object pairs (a key drawn from one_of), both $if branches, and the agent's options
    assert {"request.option:host", "request.option:hostname", "request.option:port", "request.option:timeout",
            "request.option:signal", "request.option:agent", "Agent", "Agent.option:keepAlive",
            "Agent.getName"} <= got
    # observations: response.* on the client is the IncomingMessage; props.req.* the ClientRequest
    assert {"IncomingMessage.httpVersion", "ClientRequest.reusedSocket", "ClientRequest.event:socket",
            "IncomingMessage.event:aborted"} <= got
    assert "ClientRequest.event:write" not in got and "ClientRequest.event:upgrade" not in got
    got = touches(server)
    assert {"http.createServer", "Server.listen", "ServerResponse.setHeader", "ServerResponse.statusCode",
            "ServerResponse.end", "ServerResponse.writeContinue", "createServer.option:joinDuplicateHeaders",
            "Server.event:checkContinue", "Server.event:connection", "IncomingMessage.headers",
            "ServerResponse.event:finish"} <= got
    assert "ClientRequest.setHeader" not in got


def test_subclass_use_counts_for_outgoing_message(tmp_path: Path) -> None:
    specs = write_specs(tmp_path)
    members = load_surface(specs / "api-surface.yaml")
    cov = api_coverage(load_all(specs), members, {})
    assert cov.by_member["ClientRequest.setHeader"] == ["demo.client"]
    assert cov.by_member["ServerResponse.setHeader"] == ["demo.server"]
    assert cov.by_member["OutgoingMessage.setHeader"] == ["demo.client", "demo.server"]
    assert cov.status("ClientRequest.cork") == "uncovered"
    assert "Agent.getName" in cov.unlisted  # touched, but this surface does not list it


def test_not_covered_entry_counts_as_explained(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    specs = write_specs(tmp_path)
    ids = [m.id for m in load_surface(specs / "api-surface.yaml")]
    reasons = load_not_covered(specs / "NOT-COVERED.md", ids)
    assert reasons["request.option:socketPath"].line == 5
    cov = api_coverage(load_all(specs), load_surface(specs / "api-surface.yaml"), reasons)
    assert cov.status("request.option:socketPath") == "explained" and cov.covered == 5
    assert run(specs, "coverage", "--verbose") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "api surface: 5/6 members covered"
    assert "node tests: 2/4 files covered, 1 not applicable (2/3 of the applicable)" in out
    assert any("request.option:socketPath" in line and "Unix domain socket" in line for line in out)
    assert any(line.startswith("ClientRequest.cork") and "UNCOVERED" in line for line in out)
    assert any("test-http-other.js" in line for line in out)  # cited but not listed


@pytest.mark.parametrize(("args", "code"), [
    (["--min", "0.5"], 0),
    (["--min-api", "0.9"], 1),
    (["--min-node-tests", "0.7"], 1),
    (["--min-api", "0.8", "--min-node-tests", "0.6"], 0),
    (["--min", "1"], 1),
])
def test_min_exit_codes(tmp_path: Path, args: list[str], code: int) -> None:
    assert run(write_specs(tmp_path), "coverage", *args) == code


def test_bad_input_exits_2_without_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    specs = write_specs(tmp_path)
    with pytest.raises(SystemExit) as exc:
        run(specs, "coverage", "--min", "half")
    assert exc.value.code == 2 and "expected a fraction between 0 and 1" in capsys.readouterr().err
    (specs / "api-surface.yaml").write_text(SURFACE.replace("kind: method", "kind: verb", 1), encoding="utf-8")
    assert run(specs, "coverage") == 2
    err = capsys.readouterr().err
    assert "api-surface.yaml:4 [ClientRequest.setHeader]" in err and "Traceback" not in err
    (specs / "node-tests.yaml").unlink()
    (specs / "api-surface.yaml").write_text(SURFACE, encoding="utf-8")
    assert run(specs, "coverage", "--min-node-tests", "0.5") == 2
    assert "node-tests.yaml not found" in capsys.readouterr().err


@pytest.mark.parametrize(("entry", "line", "problem"), [
    ("- file: test-http-x.js\n  checks: why\n  behaviors: [demo.nope]\n", 3, "unknown behavior id(s) ['demo.nope']"),
    ("- file: test-http-x.js\n  checks: why\n  not_applicable: flaky\n", 3, "is not one of"),
    ("- file: test-http-x.js\n  checks: why\n  behaviors: [demo.client]\n  not_applicable: tls\n", 1,
     "should not be valid"),
    ("- file: http-x.js\n  checks: why\n", 1, "does not match"),
    ("- file: test-http-x.js\n  checks: why\n- file: test-http-x.js\n  checks: who\n", 3, "duplicate file"),
])
def test_lint_rejects_bad_node_tests_entry(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           entry: str, line: int, problem: str) -> None:
    specs = write_specs(tmp_path, {"node-tests.yaml": entry})
    with pytest.raises(SpecError) as info:
        load_node_tests(specs / "node-tests.yaml", ["demo.client", "demo.server"])
    assert info.value.line == line and problem in info.value.message
    assert run(specs, "lint", "--catalogue", str(tmp_path / "none.md")) == 1
    assert f"node-tests.yaml:{line} [" in capsys.readouterr().err


def test_lint_rejects_not_covered_row_for_unknown_member(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    specs = write_specs(tmp_path, {"NOT-COVERED.md": NOT_COVERED + "| `Agent.nope` | why |\n"})
    assert run(specs, "lint", "--catalogue", str(tmp_path / "none.md")) == 1
    assert "NOT-COVERED.md:6 [Agent.nope]: not a member of api-surface.yaml" in capsys.readouterr().err


def test_repository_coverage_files_are_valid(capsys: pytest.CaptureFixture[str]) -> None:
    """The real specs/ directory: lint passes and the last line is the api surface count."""
    root = Path(__file__).resolve().parent.parent
    assert main(["--specs", str(root / "specs"), "--cases", str(root / "cases"), "coverage"]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith("api surface: ") and last.endswith(" members covered")
