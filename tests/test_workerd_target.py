"""The workerd target: client and server scenarios through a real workerd.

These check the target's plumbing (routing, timeouts, restarts, log surfacing), not
workerd's conformance: that is what the behaviors in specs/ are for.
"""

from __future__ import annotations

import base64
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.targets.base import TargetCrashed, TargetUnavailable
from harness.targets.runtime import install, workerd_config
from harness.targets.workerd import WorkerdTarget

Json = dict[str, Any]

needs_workerd = pytest.mark.skipif(
    install.binary("workerd") is None,
    reason=f"workerd is not installed; install it with: {install.INSTALL_HINT} workerd",
)
needs_executor = pytest.mark.skipif(
    not workerd_config.EXECUTOR.is_file(),
    reason=f"the shared executor {workerd_config.EXECUTOR} is missing",
)
pytestmark = [needs_workerd, needs_executor]


def b64(data: bytes) -> Json:
    return {"$bytes": base64.b64encode(data).decode()}


def unb64(tag: Json | None) -> bytes:
    return base64.b64decode(tag["$bytes"]) if tag else b""


@pytest.fixture(scope="module")
def wire() -> Iterator[Any]:
    from harness.wire import Wire

    w = Wire()
    yield w
    w.close()


@pytest.fixture(scope="module")
def target() -> Iterator[WorkerdTarget]:
    t = WorkerdTarget(grace_ms=1000)
    t.start()
    yield t
    t.stop()


def client_scenario(port: int, path: str = "/a", timeout_ms: int = 3000) -> Json:
    return {
        "kind": "client",
        "id": "test.workerd.client",
        "timeout_ms": timeout_ms,
        "client": {
            "call": "request",
            "args": [{"host": "127.0.0.1", "port": port, "path": path, "method": "GET"}],
            "ops": [{"op": "end", "args": []}],
            "response": {"encoding": None, "pause_ms": 0, "iterate": False,
                         "destroy_after_bytes": None},
            "on_timeout": "destroy",
        },
        "origin": {"responses": []},
    }


def hello_origin() -> list[Json]:
    return [{"action": "respond", "status": 200, "reason": "OK",
             "headers": [["X-Up", "1"]], "framing": "content-length",
             "body": [{"data": "hello", "delay_ms": 0}]}]


def end_with(text: str) -> list[Json]:
    return [{"op": "res.setHeader", "args": ["X-A", "1"]}, {"op": "res.end", "args": [text]}]


def get(server: int, target: str = "/", **extra: Any) -> Json:
    req = {"server": server, "method": "GET", "target": target, "version": "1.1",
           "headers": [["Host", "h"]], "framing": "none", "body": [],
           "close_after_head": False, "raw": None}
    req.update(extra)
    return req


def socket_exchange(scenario: Json, sent: list[bytes]) -> Any:
    """A plain-socket exchange callback: one connection per request, read until close."""

    def exchange(addresses: list[tuple[str, int]]) -> Json:
        out = []
        for raw in sent:
            with socket.create_connection(addresses[0], timeout=5) as s:
                s.sendall(raw)
                data = b""
                while chunk := s.recv(65536):
                    data += chunk
            out.append({"raw": data.decode("latin-1")})
        return {"responses": out}

    return exchange


def wire_exchange(wire: Any, scenario: Json) -> Any:
    def exchange(addresses: list[tuple[str, int]]) -> Json:
        return wire.exchange(scenario["requests"], addresses, scenario["timeout_ms"] / 1000)

    return exchange


# -- config -------------------------------------------------------------------------------


def test_config_pins_date_flags_and_loopback_only(tmp_path: Path) -> None:
    config = workerd_config.write_config(tmp_path, compatibility_date="2025-09-15",
                                         compatibility_flags=["nodejs_compat"]).read_text()
    assert 'compatibilityDate = "2025-09-15"' in config
    assert 'compatibilityFlags = ["nodejs_compat"]' in config
    assert '(name = "internet", network = (allow = ["127.0.0.1/32"]))' in config
    assert config.count("http = ()") == 1 + workerd_config.BRIDGE_SLOTS
    assert (tmp_path / "workerd" / "worker.mjs").is_file()
    assert (tmp_path / "executor.mjs").is_file()
    default = workerd_config.write_config(tmp_path / "d", compatibility_date="2025-09-15",
                                          compatibility_flags=[], network_allow=None).read_text()
    assert '"internet"' not in default


# -- availability -------------------------------------------------------------------------


def test_missing_binary_names_the_install_command(tmp_path: Path) -> None:
    t = WorkerdTarget(binary=str(tmp_path / "no-workerd"), unknown_option=1)
    assert not t.installed()
    with pytest.raises(TargetUnavailable, match="install"):
        t.start()


def test_start_failure_shows_workerd_log() -> None:
    t = WorkerdTarget(network_allow=["not-a-cidr"])
    with pytest.raises(TargetUnavailable) as info:
        t.start()
    t.stop()
    assert "workerd log" in str(info.value)
    assert "not-a-cidr" in str(info.value)  # workerd's own complaint about the config


# -- client -------------------------------------------------------------------------------


def test_client_scenario_reaches_loopback_origin(target: WorkerdTarget, wire: Any) -> None:
    with wire.origin(hello_origin()) as origin:
        obs = target.run(client_scenario(origin.port, "/a?b=1"), None)
        recording = origin.recording()
    assert obs["status"] == "ok", obs["detail"]
    assert obs["response"]["statusCode"] == 200
    assert unb64(obs["body"]) == b"hello"
    assert [r["target"] for r in recording["requests"]] == ["/a?b=1"]


def test_blocked_outbound_surfaces_workerd_log(wire: Any) -> None:
    t = WorkerdTarget(network_allow=None)  # workerd's default: public addresses only
    try:
        with wire.origin(hello_origin()) as origin:
            obs = t.run(client_scenario(origin.port), None)
    finally:
        t.stop()
    errors = [e["error"]["message"] for e in obs["events"] if e["name"] == "error"]
    assert any("internal error; reference =" in m for m in errors), obs
    assert "workerd log for reference" in obs["detail"]
    assert "is not allowed" in obs["detail"]  # the real reason, from workerd's log


def test_client_timeout(target: WorkerdTarget, wire: Any) -> None:
    slow = [{"action": "respond", "status": 200, "headers": [], "framing": "content-length",
             "body": [{"data": "late", "delay_ms": 3000}]}]
    with wire.origin(slow) as origin:
        started = time.monotonic()
        obs = target.run(client_scenario(origin.port, timeout_ms=400), None)
    assert obs["status"] == "timeout"
    assert time.monotonic() - started < 3


# -- server -------------------------------------------------------------------------------


@pytest.mark.parametrize("bridge", ["httpServerHandler", "handleAsNodeRequest"])
def test_server_scenario_through_bridge(target: WorkerdTarget, bridge: str) -> None:
    head = b"POST /x?y=1 HTTP/1.1\r\nHost: h\r\nX-Probe: 1\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc"
    scenario = {
        "kind": "server", "id": f"test.workerd.{bridge}", "timeout_ms": 3000,
        "servers": [{"options": {}, "listen": 0, "bridge": bridge,
                     "handler": [{"op": "req.read_body"}, *end_with("bye")]}],
        "requests": [get(0, "/x?y=1", method="POST", raw=b64(head))],
    }
    obs = target.run(scenario, socket_exchange(scenario, [head]))
    assert obs["status"] == "ok", obs["detail"]
    assert obs["servers"][0]["listen_error"] is None
    assert isinstance(obs["servers"][0]["port"], int)
    [seen] = obs["requests"]
    assert (seen["method"], seen["url"]) == ("POST", "/x?y=1")
    assert unb64(seen["body"]) == b"abc"
    # The bridge adds nothing the handler could see.
    names = {n.lower() for n in seen["rawHeaders"][::2]}
    assert names <= {"host", "x-probe", "content-length", "connection"}
    assert "x-probe" in names
    raw = obs["wire"]["responses"][0]["raw"]
    assert raw.startswith("HTTP/1.1 200")
    assert "x-a: 1" in raw.lower() and "bye" in raw


def test_two_servers_on_two_ports(target: WorkerdTarget, wire: Any) -> None:
    scenario = {
        "kind": "server", "id": "test.workerd.two", "timeout_ms": 3000,
        "servers": [{"listen": 8080, "handler": end_with("one")},
                    {"listen": 8081, "bridge": "handleAsNodeRequest", "handler": end_with("two")}],
        "requests": [get(0, "/0"), get(1, "/1"), get(0, "/2")],
    }
    obs = target.run(scenario, wire_exchange(wire, scenario))
    assert obs["status"] == "ok", obs["detail"]
    assert [s["port"] for s in obs["servers"]] == [8080, 8081]
    assert [(r["server"], r["url"]) for r in obs["requests"]] == [(0, "/0"), (1, "/1"), (0, "/2")]
    assert [unb64(r["body"]) for r in obs["wire"]["responses"]] == [b"one", b"two", b"one"]


def test_port_table_taken_unknown_and_freed(target: WorkerdTarget, wire: Any) -> None:
    scenario = {
        "kind": "server", "id": "test.workerd.ports", "timeout_ms": 3000,
        "servers": [{"listen": 8090, "handler": end_with("first")},
                    {"listen": 8090, "handler": end_with("second")}],
        # server 1 never listened: its requests go to port key 8090, i.e. server 0;
        # the last request names a port key no server holds.
        "requests": [get(0, "/a"), get(1, "/b"), get(0, "/c", port=9999)],
        "requires": ["bridge"],
    }
    obs = target.run(scenario, wire_exchange(wire, scenario))
    assert obs["servers"][0]["listen_error"] is None
    assert obs["servers"][1]["listen_error"] is not None
    assert [(r["server"], r["url"]) for r in obs["requests"]] == [(0, "/a"), (0, "/b")]
    responses = obs["wire"]["responses"]
    assert [unb64(r["body"]) for r in responses[:2]] == [b"first", b"first"]
    assert b"first" not in unb64(responses[2]["body"])
    again = {**scenario, "servers": scenario["servers"][:1], "requests": [get(0, "/d")]}
    obs = target.run(again, wire_exchange(wire, again))
    assert obs["servers"][0]["listen_error"] is None  # closing freed the port key
    assert [r["url"] for r in obs["requests"]] == ["/d"]


def test_server_timeout(target: WorkerdTarget, wire: Any) -> None:
    scenario = {
        "kind": "server", "id": "test.workerd.hang", "timeout_ms": 500,
        "servers": [{"listen": 0, "handler": [{"op": "res.write", "args": ["x"]}]}],
        "requests": [get(0)],
    }
    started = time.monotonic()
    obs = target.run(scenario, wire_exchange(wire, scenario))
    assert obs["status"] == "timeout"
    assert time.monotonic() - started < 4
    after = {**scenario, "servers": [{"listen": 0, "handler": end_with("ok")}]}
    assert target.run(after, wire_exchange(wire, after))["status"] == "ok"



def test_failed_exchange_resets_then_runs_again(target: WorkerdTarget, wire: Any) -> None:
    # The open /server request is abandoned mid-scenario: its connection is closed, the
    # worker frees the ports, and the next scenario (same port key) runs on a fresh one.
    scenario = {
        "kind": "server", "id": "test.workerd.broken-exchange", "timeout_ms": 2000,
        "servers": [{"listen": 8095, "handler": end_with("ok")}],
        "requests": [get(0)],
    }

    def broken(addresses: list[tuple[str, int]]) -> Json:
        raise RuntimeError("raw client broke")

    obs = target.run(scenario, broken)
    assert obs["status"] == "error"
    assert "raw client broke" in obs["detail"]
    for _ in range(3):
        obs = target.run(scenario, wire_exchange(wire, scenario))
        assert obs["status"] == "ok", obs["detail"]
        assert obs["servers"][0]["listen_error"] is None
    assert target.restarts == 0


# -- wedged and crashed -------------------------------------------------------------------

WEDGING_EXECUTOR = """
export async function runClient(http, scenario) {
  if (scenario.id === 'wedge') for (;;) {}
  return { status: 'ok', detail: '', threw: null, calls: [], events: [], response: null,
           body: null, chunks: [], props: {} };
}
export async function startServers(http, scenario, listen) { return {}; }
export async function finishServers(session) { return { status: 'ok', servers: [], requests: [] }; }
export function recordUncaught(kind, err) { return 0; }
"""


def test_wedged_workerd_is_restarted(tmp_path: Path) -> None:
    executor = tmp_path / "executor.mjs"
    executor.write_text(WEDGING_EXECUTOR)
    t = WorkerdTarget(executor=executor, grace_ms=300)
    try:
        t.start()
        obs = t.run({"kind": "client", "id": "wedge", "timeout_ms": 300, "client": {}}, None)
        assert obs["status"] == "timeout"
        assert "restarted" in obs["detail"]
        assert t.run({"kind": "client", "id": "fine", "timeout_ms": 300, "client": {}},
                     None)["status"] == "ok"
        assert t.restarts == 1
    finally:
        t.stop()


def test_crash_raises_then_restarts(wire: Any) -> None:
    t = WorkerdTarget()
    slow = [{"action": "respond", "status": 200, "headers": [], "framing": "content-length",
             "body": [{"data": "late", "delay_ms": 2000}]}]
    try:
        t.start()
        pid = t._proc.proc.pid if t._proc else 0
        killer = threading.Timer(0.3, os.kill, args=(pid, signal.SIGKILL))
        with wire.origin(slow) as origin:
            killer.start()
            with pytest.raises(TargetCrashed, match="workerd exited"):
                t.run(client_scenario(origin.port), None)
        with wire.origin(hello_origin()) as origin:
            assert t.run(client_scenario(origin.port), None)["status"] == "ok"
        assert t.restarts == 1
    finally:
        t.stop()


def test_stop_kills_the_process() -> None:
    t = WorkerdTarget()
    t.start()
    proc = t._proc.proc if t._proc else None
    t.stop()
    assert proc is not None and proc.poll() is not None


def test_more_servers_than_bridge_slots_is_skipped(target: WorkerdTarget) -> None:
    n = workerd_config.BRIDGE_SLOTS + 1
    scenario = {"kind": "server", "id": "test.workerd.many", "timeout_ms": 1000,
                "servers": [{"listen": 0, "handler": end_with("x")}] * n, "requests": []}
    obs = target.run(scenario, lambda addresses: {"responses": []})
    assert obs["status"] == "skipped"
    assert "bridge slots" in obs["detail"]
