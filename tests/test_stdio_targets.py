"""The node/bun/deno targets: the stdio driver, the shared executor, timeouts and crashes.

Runs against the pinned runtimes in runtimes/node_modules; a runtime that is not
installed is skipped with the command that installs it.
"""

from __future__ import annotations

import base64
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from origin_threads import record_serving_threads

from harness.runner import Session
from harness.targets import registry
from harness.targets.base import Json, TargetCrashed
from harness.targets.runtime import install
from harness.targets.runtime.stdio import StdioTarget
from harness.wire import Wire

RUNTIMES = ["node", "bun", "deno"]


def make_target(name: str, **options: Any) -> StdioTarget:
    target = registry.create(name, **options)
    assert isinstance(target, StdioTarget)
    if not target.installed():
        pytest.skip(f"{name} is not installed (pinned {install.pinned_version(name)}): run `{target.install_hint()}`")
    return target


@pytest.fixture(scope="module")
def wire() -> Iterator[Wire]:
    with Wire() as w:
        yield w


@pytest.fixture(scope="module", params=RUNTIMES)
def any_target(request: pytest.FixtureRequest) -> Iterator[StdioTarget]:
    target = make_target(request.param)
    target.start()
    yield target
    target.stop()


@pytest.fixture(scope="module")
def node() -> Iterator[StdioTarget]:
    target = make_target("node")
    target.start()
    yield target
    target.stop()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def body_of(obs: Json) -> bytes:
    return base64.b64decode(obs["body"]["$bytes"])


def client_scenario(port: int, **client: Any) -> Json:
    spec: Json = {
        "call": "request",
        "args": [{"host": "127.0.0.1", "port": port, "path": "/a?b=1", "method": "POST",
                  "headers": {"X-A": "1"}}],
        "ops": [
            {"op": "setHeader", "args": ["X-B", "2"]},
            {"op": "write", "args": [{"$bytes": b64(b"ab")}]},
            {"op": "end", "args": []},
        ],
        "response": {"encoding": None, "pause_ms": 0, "iterate": False, "destroy_after_bytes": None},
        "on_timeout": "destroy",
    }
    spec.update(client)
    return {"kind": "client", "id": "test.client/0", "timeout_ms": 5000, "client": spec}


ORIGIN_OK = [{
    "status": 200, "reason": "OK",
    "headers": [["Content-Type", "text/plain"], ["X-Dup", "1"], ["X-Dup", "2"]],
    "framing": "content-length",
    "body": [{"data": "hello", "delay_ms": 0}],
}]


def names(obs: Json) -> list[str]:
    return [f"{e['src']}:{e['name']}" for e in obs["events"]]


def assert_success_order(obs: Json) -> None:
    seq = names(obs)
    for a, b in [("req:socket", "req:finish"), ("req:finish", "req:response"),
                 ("req:response", "res:data"), ("res:data", "res:end")]:
        assert seq.index(a) < seq.index(b), seq
    assert seq.index("res:end") < seq.index("req:close"), seq
    assert "res:close" in seq


# --- client scenarios on every installed runtime


def test_client_scenario(any_target: StdioTarget, wire: Wire) -> None:
    with wire.origin(ORIGIN_OK) as origin:
        obs = any_target.run(client_scenario(origin.port), None)
        recording = origin.recording()
    assert obs["status"] == "ok", obs["detail"]
    assert obs["threw"] is None
    assert_success_order(obs)
    assert [c["op"] for c in obs["calls"]] == ["setHeader", "write", "end"]
    assert obs["calls"][0]["returned"] == "$this"
    assert "req:write_cb" in names(obs) and "req:end_cb" in names(obs)
    res = obs["response"]
    assert res["statusCode"] == 200 and res["statusMessage"] == "OK"
    assert res["headers"]["content-type"] == "text/plain"
    assert res["headers"]["x-dup"] == "1, 2"
    assert res["rawHeaders"][:6] == ["Content-Type", "text/plain", "X-Dup", "1", "X-Dup", "2"]
    assert res["complete"] is True
    assert body_of(obs) == b"hello"
    assert sum(c["len"] for c in obs["chunks"]) == 5
    assert obs["chunks"][0]["type"] == "Buffer"
    assert obs["props"]["req.method"] == "POST"
    assert obs["props"]["req.path"] == "/a?b=1"
    assert obs["props"]["res.req_is_req"] is True
    (req,) = recording["requests"]
    assert req["method"] == "POST" and req["target"] == "/a?b=1"
    sent = [h[0] for h in req["headers"]]
    assert "X-A" in sent and "X-B" in sent
    assert base64.b64decode(req["body"]["$bytes"]) == b"ab"


def test_the_runner_serves_a_client_scenarios_origin_on_the_targets_own_loop(
        node: StdioTarget, monkeypatch: pytest.MonkeyPatch) -> None:
    """The origin is served on the runner's thread by the loop the target runs while it waits
    for its reply (harness/targets/runtime/serving.py), not by the wire's thread: no hand-off."""
    served_on = record_serving_threads(monkeypatch)
    session = Session(["node"], session_seed=0)
    try:
        scenario = client_scenario(0)
        scenario["client"]["args"][0]["port"] = {"$origin_port": None}
        scenario["origin"] = {"responses": ORIGIN_OK}
        obs = session.run_scenario(node, scenario)
    finally:
        session.close()
    assert obs["status"] == "ok", obs["detail"]
    assert served_on == [threading.get_ident()]
    assert [r["target"] for r in obs["wire"]["requests"]] == ["/a?b=1"]


def test_version_matches_pin(any_target: StdioTarget) -> None:
    assert any_target.version() == install.pinned_version(any_target.name)


def test_response_reading_modes(any_target: StdioTarget, wire: Wire) -> None:
    with wire.origin(ORIGIN_OK) as origin:
        obs = any_target.run(client_scenario(origin.port, call="get", args=[f"http://127.0.0.1:{origin.port}/g"],
                                             ops=[], response={"encoding": "utf8", "iterate": True}), None)
    assert obs["status"] == "ok", obs["detail"]
    assert body_of(obs) == b"hello"
    assert {c["type"] for c in obs["chunks"]} == {"string"}
    assert obs["props"]["req.writableEnded"] is True


def test_requires_bridge_is_skipped_by_the_runner(any_target: StdioTarget) -> None:
    session = Session([any_target.name], session_seed=0)
    obs = session.run_scenario(any_target, {"kind": "server", "id": "s/0", "timeout_ms": 1000,
                                            "requires": ["bridge"], "servers": [], "requests": []})
    assert obs == {"status": "skipped", "detail": f"{any_target.name} has no bridge",
                   "servers": [], "requests": [], "wire": {"responses": []}}


# --- server scenarios


def plain_request(addresses: list[tuple[str, int]], raw: bytes) -> Json:
    host, port = addresses[0]
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall(raw)
        data = b""
        while more := s.recv(65536):
            data += more
    return {"responses": [{"$bytes": b64(data)}]}


SERVER_SCENARIO: Json = {
    "kind": "server", "id": "test.server/0", "timeout_ms": 5000,
    "servers": [{"options": {}, "listen": 0, "handler": [
        {"op": "res.setHeader", "args": ["X-A", "1"]},
        {"op": "res.setHeaders", "args": [{"$map": [["X-Map", "m"]]}]},
        {"op": "res.set", "prop": "statusCode", "value": 404},
        {"op": "res.get", "prop": "statusCode"},
        {"op": "req.read_body"},
        {"op": "wait", "ms": 10},
        {"op": "res.end", "args": ["bye"]},
    ]}],
    "requests": [],
}


def test_server_scenario(any_target: StdioTarget) -> None:
    seen: list[list[tuple[str, int]]] = []

    def exchange(addresses: list[tuple[str, int]]) -> Json:
        seen.append(addresses)
        return plain_request(addresses, b"POST /x HTTP/1.1\r\nHost: h\r\nX-Y: 1\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc")

    obs = any_target.run(SERVER_SCENARIO, exchange)
    assert obs["status"] == "ok", obs["detail"]
    assert seen and seen[0][0][0] == "127.0.0.1"
    assert obs["servers"][0]["port"] == seen[0][0][1]
    assert obs["servers"][0]["listen_error"] is None
    assert [e["name"] for e in obs["servers"][0]["events"]][0] == "listening"
    (req,) = obs["requests"]
    assert (req["method"], req["url"], req["httpVersion"]) == ("POST", "/x", "1.1")
    assert req["headers"]["x-y"] == "1"
    assert req["rawHeaders"][:4] == ["Host", "h", "X-Y", "1"]
    assert base64.b64decode(req["body"]["$bytes"]) == b"abc"
    assert req["complete"] is True
    assert [c["op"] for c in req["calls"]] == [op["op"] for op in SERVER_SCENARIO["servers"][0]["handler"]]
    assert req["calls"][0]["returned"] == "$this"
    assert req["calls"][3]["returned"] == 404
    seq = [f"{e['src']}:{e['name']}" for e in req["events"]]
    assert seq.index("req:end") < seq.index("res:finish") < seq.index("res:close")
    raw = base64.b64decode(obs["wire"]["responses"][0]["$bytes"])
    assert raw.startswith(b"HTTP/1.1 404 Not Found\r\n")
    assert b"X-A: 1\r\n" in raw and b"X-Map: m\r\n" in raw and raw.endswith(b"bye")


def test_server_scenario_with_wire_exchange(node: StdioTarget, wire: Wire) -> None:
    scenario = dict(SERVER_SCENARIO, requests=[
        {"server": 0, "method": "POST", "target": "/w", "version": "1.1",
         "headers": [["Host", "h"]], "framing": "content-length",
         "body": [{"data": "abc", "delay_ms": 0}], "close_after_head": False, "raw": None},
    ])
    obs = node.run(scenario, lambda addresses: wire.exchange(scenario["requests"], addresses, 5.0))
    assert obs["status"] == "ok", obs["detail"]
    (resp,) = obs["wire"]["responses"]
    assert resp["status"] == 404
    assert base64.b64decode(resp["body"]["$bytes"]) == b"bye"


# --- executor details (node)


def test_sync_throw_is_data(node: StdioTarget) -> None:
    obs = node.run(client_scenario(1, args=[{"host": "127.0.0.1", "port": 1, "path": "/a b"}]), None)
    assert obs["status"] == "ok"
    assert obs["threw"] == {"name": "TypeError", "code": "ERR_UNESCAPED_CHARACTERS",
                            "message": "Request path contains unescaped characters"}
    assert obs["calls"] == [] and obs["events"] == []


def test_already_aborted_signal(node: StdioTarget, wire: Wire) -> None:
    with wire.origin(ORIGIN_OK) as origin:
        args = [{"host": "127.0.0.1", "port": origin.port, "path": "/", "signal": {"$signal": {"abort_after_ms": 0}}}]
        obs = node.run(client_scenario(origin.port, args=args, ops=[{"op": "end", "args": []}]), None)
    assert obs["status"] == "ok", obs["detail"]
    errors = [e for e in obs["events"] if e["name"] == "error"]
    assert errors and errors[0]["error"]["name"] == "AbortError" and errors[0]["error"]["code"] == "ABORT_ERR"
    assert "req:socket" not in names(obs)


def test_ops_errors_and_encoding(node: StdioTarget, wire: Wire) -> None:
    ops = [
        {"op": "setHeader", "args": ["X-Num", 42]},
        {"op": "getHeader", "args": ["x-num"]},
        {"op": "getHeader", "args": ["x-missing"]},
        {"op": "setHeader", "args": ["x y", "1"]},
        {"op": "end", "args": [{"$u8": b64(b"xyz")}]},
        {"op": "wait_event", "event": "response", "src": "req"},
        {"op": "setHeader", "args": ["X-Late", "1"]},
    ]
    with wire.origin(ORIGIN_OK) as origin:
        obs = node.run(client_scenario(origin.port, ops=ops), None)
        recording = origin.recording()
    assert obs["status"] == "ok", obs["detail"]
    calls = obs["calls"]
    assert calls[1]["returned"] == 42
    assert calls[2]["returned"] == {"$undefined": True}
    assert calls[3]["threw"]["code"] == "ERR_INVALID_HTTP_TOKEN"
    assert calls[5] == {"op": "wait_event", "returned": {"$undefined": True}, "threw": None}
    assert calls[6]["threw"]["code"] == "ERR_HTTP_HEADERS_SENT"
    assert base64.b64decode(recording["requests"][0]["body"]["$bytes"]) == b"xyz"


def test_pause_and_destroy_after_bytes(node: StdioTarget, wire: Wire) -> None:
    origin_script = [{"status": 200, "framing": "chunked",
                      "body": [{"data": "first", "delay_ms": 0}, {"data": "second", "delay_ms": 50}]}]
    with wire.origin(origin_script) as origin:
        obs = node.run(client_scenario(origin.port, response={"pause_ms": 30, "destroy_after_bytes": 5}), None)
    assert obs["status"] == "ok", obs["detail"]
    assert obs["props"]["res.isPaused_after_pause"] is True
    assert body_of(obs) == b"first"
    assert obs["response"]["complete"] is False


# --- timeouts and crashes


@pytest.fixture()
def silent_port() -> Iterator[int]:
    """A listener that accepts connections (through the backlog) and never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield s.getsockname()[1]


def test_scenario_timeout_then_next_works(node: StdioTarget, wire: Wire, silent_port: int) -> None:
    scenario = client_scenario(silent_port)
    scenario["timeout_ms"] = 300
    started = time.monotonic()
    obs = node.run(scenario, None)
    assert time.monotonic() - started < 2.0
    assert obs["status"] == "timeout"
    assert "300 ms" in obs["detail"]
    assert "req:socket" in names(obs) and obs["response"] is None  # partial observations
    with wire.origin(ORIGIN_OK) as origin:
        assert node.run(client_scenario(origin.port), None)["status"] == "ok"


def test_stuck_process_is_killed_and_restarted(wire: Wire) -> None:
    target = make_target("node", grace_s=0.5)
    target.start()
    try:
        proc = target._proc
        assert proc is not None and proc.pid is not None
        os.kill(proc.pid, signal.SIGSTOP)  # the runtime stops answering at all
        scenario = client_scenario(1)
        scenario["timeout_ms"] = 300
        started = time.monotonic()
        obs = target.run(scenario, None)
        assert obs["status"] == "timeout"
        assert "killed" in obs["detail"]
        assert time.monotonic() - started < 3.0
        assert not proc.alive()
        with wire.origin(ORIGIN_OK) as origin:
            assert target.run(client_scenario(origin.port), None)["status"] == "ok"
        assert target.starts == 2
    finally:
        target.stop()


def test_crash_mid_run_then_next_works(wire: Wire, silent_port: int) -> None:
    target = make_target("node")
    target.start()
    try:
        proc = target._proc
        assert proc is not None and proc.proc is not None
        killer = threading.Timer(0.3, proc.proc.kill)
        killer.start()
        with pytest.raises(TargetCrashed) as info:
            target.run(client_scenario(silent_port), None)
        killer.join()
        assert "exited (code -9" in str(info.value) and "while running test.client/0" in str(info.value)
        with wire.origin(ORIGIN_OK) as origin:
            obs = target.run(client_scenario(origin.port), None)
        assert obs["status"] == "ok"
        assert target._proc is not None and target._proc.pid != proc.pid
    finally:
        target.stop()


def test_runner_fills_in_the_observations_of_a_crash(node: StdioTarget, silent_port: int) -> None:
    session = Session(["node"], session_seed=0)
    proc = node._proc
    assert proc is not None
    killer = threading.Timer(0.3, proc.proc.kill)
    killer.start()
    try:
        obs = session.run_scenario(node, {**client_scenario(silent_port), "origin": {"responses": []}})
    finally:
        killer.join()
        session.close()
    assert obs["status"] == "crash" and "while running test.client/0" in obs["detail"]
    assert obs["body"] == {"$bytes": ""} and obs["events"] == [] and obs["response"] is None
    assert "requests" in obs["wire"]  # the runner's origin recording


def test_not_installed_message(tmp_path: Any) -> None:
    target = registry.create("node", binary=str(tmp_path / "missing-node"))
    assert not target.installed()
    with pytest.raises(Exception, match=r"node is not installed: run `python -m harness targets install node`"):
        target.start()


def test_stop_kills_the_process() -> None:
    target = make_target("node")
    target.start()
    proc = target._proc
    assert proc is not None and proc.alive()
    target.stop()
    assert not proc.alive()


def test_listen_error_is_data_and_skips_exchange(node: StdioTarget) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        scenario = dict(SERVER_SCENARIO, servers=[dict(SERVER_SCENARIO["servers"][0], listen=port)])
        called: list[object] = []
        obs = node.run(scenario, lambda addresses: called.append(addresses) or {"responses": []})
    assert obs["status"] == "ok", obs["detail"]
    assert called == []
    assert obs["servers"][0]["listen_error"]["code"] == "EADDRINUSE"
    assert "no requests sent" in obs["detail"]
    assert obs["wire"] == {"responses": []}


def test_exchange_failure_propagates_and_target_recovers(node: StdioTarget) -> None:
    def broken(addresses: list[tuple[str, int]]) -> Json:
        raise RuntimeError("raw client broke")

    with pytest.raises(RuntimeError, match="raw client broke"):
        node.run(SERVER_SCENARIO, broken)

    def exchange(addresses: list[tuple[str, int]]) -> Json:
        return plain_request(addresses, b"GET /x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")

    obs = node.run(SERVER_SCENARIO, exchange)
    assert obs["status"] == "ok", obs["detail"]
    assert len(obs["requests"]) == 1


def test_server_handler_that_never_ends_times_out(node: StdioTarget) -> None:
    scenario: Json = {
        "kind": "server", "id": "test.server/hang", "timeout_ms": 300, "requests": [],
        "servers": [{"options": {}, "listen": 0, "handler": [{"op": "res.write", "args": ["partial"]}]}],
    }

    def exchange(addresses: list[tuple[str, int]]) -> Json:
        host, port = addresses[0]
        with socket.create_connection((host, port), timeout=5) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
            data = s.recv(65536)
            time.sleep(0.6)  # keep the connection open past timeout_ms: res never closes
            return {"responses": [{"$bytes": b64(data)}]}

    started = time.monotonic()
    obs = node.run(scenario, exchange)
    assert time.monotonic() - started < 3.0
    assert obs["status"] == "timeout"
    # The pending handler is named only if its res had not closed yet when finish began:
    # the client's socket closes as exchange() returns, so that is a race.
    assert "did not finish within 300 ms" in obs["detail"]
    assert obs["requests"][0]["calls"][0]["returned"] is True


def test_server_listeners_client_error_and_destroy(node: StdioTarget, wire: Wire) -> None:
    """on_check_continue / on_client_error / res.destroy (SCENARIO.md "Server scenario")."""
    bad = {"$bytes": b64(b"get / HTTP/1.1\r\nHost: h\r\n\r\n")}
    reply = "HTTP/1.1 418 Nope\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    scenario = {
        "kind": "server", "id": "test.listeners/0", "timeout_ms": 3000,
        "servers": [{"listen": 0, "handler": [{"op": "res.destroy"}],
                     "on_check_continue": [{"op": "res.writeContinue"}, {"op": "req.read_body"},
                                           {"op": "res.end", "args": ["checked"]}],
                     "on_client_error": [{"op": "socket.end", "args": [reply]}]}],
        "requests": [
            {"server": 0, "method": "POST", "target": "/c", "headers": [["Host", "h"], ["Expect", "100-continue"]],
             "body": [{"data": "abc", "delay_ms": 30}]},
            {"server": 0, "raw": bad},
            {"server": 0, "method": "GET", "target": "/d", "headers": [["Host", "h"]]},
        ],
    }
    obs = node.run(scenario, lambda addresses: wire.exchange(scenario["requests"], addresses, 3.0))
    assert obs["status"] == "ok", obs["detail"]
    assert [r["event"] for r in obs["requests"]] == ["checkContinue", "request"]
    first, second, third = obs["wire"]["responses"]
    assert [i["status"] for i in first["interim"]] == [100] and first["status"] == 200
    assert second["status"] == 418
    assert third["status"] is None and third["error"]  # res.destroy(): no response at all
    (client_error,) = [e for e in obs["servers"][0]["events"] if e["name"] == "clientError"]
    assert client_error["error"]["code"] == "HPE_INVALID_METHOD"
    assert client_error["error"]["bytesParsed"] == 0
    assert client_error["calls"] == [{"op": "socket.end", "returned": "$this", "threw": None}]


def test_error_record_extras(node: StdioTarget) -> None:
    obs = node.run(client_scenario(1, args=[{"host": "127.0.0.1", "port": 1, "path": "/"}], ops=[{"op": "end"}]), None)
    (err,) = [e["error"] for e in obs["events"] if e["name"] == "error"]
    assert err == {"name": "Error", "code": "ECONNREFUSED", "message": "connect ECONNREFUSED 127.0.0.1:1",
                   "syscall": "connect", "address": "127.0.0.1", "port": 1}
