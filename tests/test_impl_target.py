"""The impl target: real scenarios through the Python reference, the wire and the bridge.

Client scenarios talk to the harness's scripted origin; server scenarios are sent by its
raw client to the impl target's uvicorn front end and reach Node-style servers through
the reference's bridge. The last test runs one scenario on node too and checks that
both executors answer the same observation shape.
"""

from __future__ import annotations

import base64
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from origin_threads import record_serving_threads

from harness.scenario import bind_origin
from harness.targets.base import Json
from harness.targets.impl import ImplTarget
from harness.targets.impl.fault_hooks import Fault
from harness.targets.impl.tags import DecodeContext, decode, encode, error_record
from harness.wire import Wire

RESPONSE_DEFAULTS: Json = {"encoding": None, "pause_ms": 0, "iterate": False, "destroy_after_bytes": None}


@pytest.fixture(scope="module")
def wire() -> Iterator[Wire]:
    with Wire() as w:
        yield w


@pytest.fixture(scope="module")
def impl() -> Iterator[ImplTarget]:
    target = ImplTarget(grace_s=0.5)
    target.start()
    yield target
    target.stop()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(tag: Json) -> bytes:
    return base64.b64decode(tag["$bytes"])


def client_scenario(args: list[Any], ops: list[Json], responses: list[Json], *,
                    timeout_ms: int = 3000, **client: Any) -> Json:
    spec: Json = {"call": "request", "args": args, "ops": ops, "response": dict(RESPONSE_DEFAULTS),
                  "on_timeout": "destroy", **client}
    return {"kind": "client", "id": "test.impl/0", "timeout_ms": timeout_ms, "client": spec,
            "origin": {"responses": responses}}


def respond(body: list[Json] | None = None, **fields: Any) -> Json:
    return {"action": "respond", "read_body": True, "status": 200, "reason": "OK",
            "headers": [["X-R", "1"]], "framing": "content-length",
            "body": body if body is not None else [{"data": "hello", "delay_ms": 0}], **fields}


def run_client(wire: Wire, target: Any, scenario: Json) -> Json:
    """What the runner does for a client scenario: origin up, run, attach its recording."""
    origin = wire.origin(scenario["origin"]["responses"])
    try:
        obs = target.run(bind_origin(scenario, origin.port), None)
    finally:
        recording = origin.recording()
        origin.close()
    obs["wire"] = recording
    return obs


def run_server(wire: Wire, target: Any, scenario: Json) -> Json:
    timeout_s = scenario["timeout_ms"] / 1000
    return target.run(scenario, lambda addresses: wire.exchange(scenario["requests"], addresses, timeout_s))


def names(obs: Json) -> list[str]:
    return [f"{e['src']}:{e['name']}" for e in obs["events"]]


def origin_args(path: str = "/a", method: str = "GET", **extra: Any) -> list[Json]:
    return [{"host": "127.0.0.1", "port": {"$origin_port": True}, "path": path, "method": method, **extra}]


# ---- client scenarios -------------------------------------------------------------------


def test_get_events_in_order_response_and_body(wire: Wire, impl: ImplTarget) -> None:
    sc = client_scenario(origin_args("/a?b=1"), [{"op": "end", "args": []}], [respond()])
    obs = run_client(wire, impl, sc)
    assert obs["status"] == "ok", obs["detail"]
    # Node 24: the end() callback runs before the 'finish' listeners.
    assert names(obs) == ["req:socket", "req:end_cb", "req:finish", "req:response", "res:data",
                          "res:end", "req:close", "res:close"]
    times = [e["t"] for e in obs["events"]]
    assert times == sorted(times)
    assert obs["response"]["statusCode"] == 200
    assert obs["response"]["headers"]["x-r"] == "1"
    assert obs["response"]["complete"] is True
    assert unb64(obs["body"]) == b"hello"
    assert obs["chunks"][0]["type"] == "Buffer"
    assert obs["props"]["req.method"] == "GET" and obs["props"]["res.req_is_req"] is True
    assert obs["wire"]["requests"][0]["target"] == "/a?b=1"


def test_post_with_a_body(wire: Wire, impl: ImplTarget) -> None:
    ops = [{"op": "setHeader", "args": ["X-B", "2"]},
           {"op": "write", "args": [{"$bytes": b64(b"ab")}]},
           {"op": "end", "args": ["cd"]}]
    obs = run_client(wire, impl, client_scenario(origin_args("/p", "POST"), ops, [respond()]))
    assert obs["status"] == "ok", obs["detail"]
    assert [c["returned"] for c in obs["calls"]] == ["$this", True, "$this"]
    assert "req:write_cb" in names(obs) and "req:end_cb" in names(obs)
    request = obs["wire"]["requests"][0]
    assert request["method"] == "POST"
    assert unb64(request["body"]) == b"abcd"
    assert ["x-b", "2"] in [[k.lower(), v] for k, v in request["headers"]]


def test_header_validation_error_is_recorded(wire: Wire, impl: ImplTarget) -> None:
    ops = [{"op": "setHeader", "args": ["Bad Name", "1"]}, {"op": "getHeader", "args": ["nope"]},
           {"op": "end", "args": []}]
    obs = run_client(wire, impl, client_scenario(origin_args(), ops, [respond()]))
    assert obs["status"] == "ok"
    first, second, third = obs["calls"]
    assert first["returned"] is None
    assert first["threw"]["code"] == "ERR_INVALID_HTTP_TOKEN"
    assert first["threw"]["name"] == "TypeError"
    assert second["returned"] == {"$undefined": True}  # getHeader of an absent name
    assert third["threw"] is None  # the ops after a throw still run


def test_request_that_throws_synchronously(wire: Wire, impl: ImplTarget) -> None:
    obs = run_client(wire, impl, client_scenario(origin_args(method="BAD METHOD"), [], [respond()]))
    assert obs["threw"]["code"] == "ERR_INVALID_HTTP_TOKEN"
    assert obs["calls"] == [] and obs["events"] == []
    assert obs["props"]["req.method"] is None


def test_streaming_response_chunks_arrive_as_sent(wire: Wire, impl: ImplTarget) -> None:
    body = [{"data": "one", "delay_ms": 0}, {"data": "two", "delay_ms": 150}, {"data": "three", "delay_ms": 150}]
    sc = client_scenario(origin_args(), [{"op": "end", "args": []}], [respond(body, framing="chunked")])
    obs = run_client(wire, impl, sc)
    assert obs["status"] == "ok", obs["detail"]
    assert [c["len"] for c in obs["chunks"]] == [3, 3, 5]
    assert obs["chunks"][-1]["t"] - obs["chunks"][0]["t"] > 250
    assert unb64(obs["body"]) == b"onetwothree"


def test_set_encoding_and_iterate(wire: Wire, impl: ImplTarget) -> None:
    sc = client_scenario(origin_args(), [{"op": "end", "args": []}], [respond()],
                         response={**RESPONSE_DEFAULTS, "encoding": "utf8", "iterate": True})
    obs = run_client(wire, impl, sc)
    assert obs["status"] == "ok", obs["detail"]
    assert [c["type"] for c in obs["chunks"]] == ["string"]
    assert unb64(obs["body"]) == b"hello"


def test_destroy_with_a_message_and_undefined_tag(wire: Wire, impl: ImplTarget) -> None:
    ops = [{"op": "getHeader", "args": [{"$undefined": True}]}, {"op": "destroy", "args": ["boom"]}]
    obs = run_client(wire, impl, client_scenario(origin_args(), ops, [respond()]))
    assert obs["calls"][0]["threw"]["code"] == "ERR_INVALID_ARG_TYPE"
    errors = [e["error"] for e in obs["events"] if e["name"] == "error"]
    assert errors == [{"name": "Error", "code": None, "message": "boom"}]
    assert names(obs)[-1] == "req:close"


def test_hanging_scenario_times_out_and_the_next_one_works(wire: Wire, impl: ImplTarget) -> None:
    body = [{"data": "a", "delay_ms": 0}, {"data": "b", "delay_ms": 3000}]
    sc = client_scenario(origin_args(), [{"op": "end", "args": []}], [respond(body, framing="chunked")],
                         timeout_ms=400)
    began = time.monotonic()
    obs = run_client(wire, impl, sc)
    assert obs["status"] == "timeout"
    assert time.monotonic() - began < 2.0
    assert "res 'end' or 'close'" in obs["detail"]
    assert "res:data" in names(obs)  # partial observations are kept
    again = run_client(wire, impl, client_scenario(origin_args(), [{"op": "end", "args": []}], [respond()]))
    assert again["status"] == "ok" and unb64(again["body"]) == b"hello"


class _Block(Fault):
    """Blocks the loop thread, as a reference bug could."""

    name = "block"

    def on_op(self, op: Json) -> Json | None:
        time.sleep(2.0)
        return op


def test_a_wedged_loop_is_replaced(wire: Wire) -> None:
    target = ImplTarget(grace_s=0.3)
    target.start()
    try:
        target.fault = _Block()
        sc = client_scenario(origin_args(), [{"op": "end", "args": []}], [respond()], timeout_ms=200)
        obs = run_client(wire, target, sc)
        assert obs["status"] == "timeout"
        assert "stopped answering" in obs["detail"]
        target.fault = None
        again = run_client(wire, target, client_scenario(origin_args(), [{"op": "end", "args": []}], [respond()]))
        assert again["status"] == "ok"
        assert target.processes_started == 2
    finally:
        target.stop()


def test_the_runner_serves_a_client_scenarios_origin_on_the_impl_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """Session.run_scenario opens the origin on the loop the reference runs on (no hand-off to
    the wire thread); a loop that wedges still gives the scenario its TIMEOUT and the origin's
    recording (OriginHandle.finish gives up on the stalled loop), and the next scenario runs."""
    import threading

    from harness.runner import Session
    from harness.wire import background

    served_on = record_serving_threads(monkeypatch)
    monkeypatch.setattr(background, "HOSTED_CALL_S", 0.2)
    session = Session(["impl"], session_seed=0)
    try:
        target = session.target("impl")
        assert isinstance(target, ImplTarget)
        target.grace_s = 0.3
        sc = client_scenario(origin_args("/h"), [{"op": "end", "args": []}], [respond()])
        obs = session.run_scenario(target, sc)
        assert obs["status"] == "ok", obs["detail"]
        assert [r["target"] for r in obs["wire"]["requests"]] == ["/h"]
        assert served_on and served_on[0] != threading.get_ident()
        assert served_on[0] == target._front._thread.ident  # type: ignore[union-attr]

        target.fault = _Block()
        started = time.monotonic()
        wedged = session.run_scenario(target, client_scenario(origin_args(), [{"op": "end", "args": []}],
                                                              [respond()], timeout_ms=200))
        assert wedged["status"] == "timeout" and "stopped answering" in wedged["detail"]
        assert time.monotonic() - started < 5.0
        target.fault = None
        assert session.run_scenario(target, sc)["status"] == "ok"
    finally:
        session.close()


def test_fault_hooks_change_what_is_observed(wire: Wire) -> None:
    class Upper(Fault):
        name = "upper"

        def on_chunk(self, data: bytes) -> bytes:
            return data.upper()

        def on_observations(self, obs: Json) -> Json:
            obs["detail"] = "faulted"
            return obs

    target = ImplTarget()
    target.start()
    try:
        target.fault = Upper()
        obs = run_client(wire, target, client_scenario(origin_args(), [{"op": "end", "args": []}], [respond()]))
        assert unb64(obs["body"]) == b"HELLO" and obs["detail"] == "faulted"
    finally:
        target.stop()


# ---- server scenarios -------------------------------------------------------------------


def server_scenario(servers: list[Json], requests: list[Json], timeout_ms: int = 3000) -> Json:
    return {"kind": "server", "id": "test.impl.server/0", "timeout_ms": timeout_ms,
            "servers": servers, "requests": requests}


def raw_request(server: int = 0, target: str = "/x", method: str = "GET", body: list[Json] | None = None,
                **extra: Any) -> Json:
    return {"server": server, "method": method, "target": target, "version": "1.1",
            "headers": [["Host", "h"], ["X-Y", "1"]], "framing": "content-length" if body else "none",
            "body": body or [], "close_after_head": False, "raw": None, **extra}


def test_server_through_the_bridge(wire: Wire, impl: ImplTarget) -> None:
    handler = [{"op": "res.setHeader", "args": ["X-A", "1"]},
               {"op": "res.set", "prop": "statusCode", "value": 404},
               {"op": "req.read_body"},
               {"op": "res.write", "args": ["he"]},
               {"op": "res.get", "prop": "headersSent"},
               {"op": "res.end", "args": ["llo"]}]
    sc = server_scenario([{"options": {}, "listen": 0, "handler": handler}],
                         [raw_request(method="POST", body=[{"data": "abc", "delay_ms": 0}])])
    obs = run_server(wire, impl, sc)
    assert obs["status"] == "ok", obs["detail"]
    assert obs["servers"][0]["listen_error"] is None
    assert obs["servers"][0]["events"][0]["name"] == "listening"
    (req,) = obs["requests"]
    assert req["method"] == "POST" and req["url"] == "/x"
    assert req["headers"]["x-y"] == "1"
    assert unb64(req["body"]) == b"abc" and req["complete"] is True
    assert [c["returned"] for c in req["calls"]][-2:] == [True, "$this"]
    events = [f"{e['src']}:{e['name']}" for e in req["events"]]
    assert events[:2] == ["req:data", "req:end"]
    assert {"res:write_cb", "res:finish", "res:end_cb", "res:close"} <= set(events)
    (resp,) = obs["wire"]["responses"]
    assert resp["error"] is None
    assert resp["status"] == 404
    assert ["x-a", "1"] in [[k.lower(), v] for k, v in resp["headers"]]
    assert unb64(resp["body"]) == b"hello"


def test_bridge_sockets_are_tcp_so_nagle_is_off(impl: ImplTarget) -> None:
    # asyncio sets TCP_NODELAY only on accepted sockets whose proto says TCP; with Nagle on,
    # a keep-alive reply written as head then body waited ~40 ms for a delayed ACK.
    front = impl._ensure()
    assert front._server is not None
    for srv in front._server.servers:
        assert all(sock.proto == socket.IPPROTO_TCP for sock in srv.sockets)


def test_two_servers_on_two_ports(wire: Wire, impl: ImplTarget) -> None:
    servers = [{"options": {}, "listen": 0, "handler": [{"op": "res.end", "args": [name]}]}
               for name in ("first", "second")]
    requests = [raw_request(1, "/b"), raw_request(0, "/a"), raw_request(1, "/c")]
    obs = run_server(wire, impl, server_scenario(servers, requests))
    assert obs["status"] == "ok", obs["detail"]
    ports = [s["port"] for s in obs["servers"]]
    assert len(set(ports)) == 2 and None not in ports
    assert [(r["server"], r["url"]) for r in obs["requests"]] == [(1, "/b"), (0, "/a"), (1, "/c")]
    assert [unb64(r["body"]) for r in obs["wire"]["responses"]] == [b"second", b"first", b"second"]


def test_listen_on_a_fixed_key_twice_and_reuse_it_next_scenario(wire: Wire, impl: ImplTarget) -> None:
    servers = [{"options": {}, "listen": 40404, "handler": [{"op": "res.end", "args": [name]}]}
               for name in ("first", "second")]
    requests = [raw_request(0), raw_request(1)]
    for _ in range(2):  # the key is free again once the scenario ended
        obs = run_server(wire, impl, server_scenario(servers, requests))
        assert obs["status"] == "ok", obs["detail"]
        assert obs["servers"][0]["port"] == 40404
        assert obs["servers"][1]["listen_error"]["code"] == "EADDRINUSE"
        # The second slot routes to the key it asked for, which the first server holds.
        assert [unb64(r["body"]) for r in obs["wire"]["responses"]] == [b"first", b"first"]


def test_handle_as_node_request_and_port_override(wire: Wire, impl: ImplTarget) -> None:
    servers = [{"options": {}, "listen": 0, "bridge": "handleAsNodeRequest",
                "handler": [{"op": "res.end", "args": ["ok"]}]}]
    requests = [raw_request(0), raw_request(0, port=1)]
    obs = run_server(wire, impl, server_scenario(servers, requests))
    first, second = obs["wire"]["responses"]
    assert first["status"] == 200 and unb64(first["body"]) == b"ok"
    assert second["status"] == 500  # nobody holds key 1: the bridge refuses
    assert "port 1" in obs["detail"]
    assert len(obs["requests"]) == 1


def test_server_handler_that_never_ends_times_out(wire: Wire, impl: ImplTarget) -> None:
    sc = server_scenario([{"options": {}, "listen": 0, "handler": [{"op": "res.write", "args": ["x"]}]}],
                         [raw_request()], timeout_ms=500)
    obs = run_server(wire, impl, sc)
    assert obs["status"] == "timeout"
    assert "did not finish within 500 ms" in obs["detail"]
    ok = run_server(wire, impl, server_scenario(
        [{"options": {}, "listen": 0, "handler": [{"op": "res.end", "args": []}]}], [raw_request()]))
    assert ok["status"] == "ok" and ok["wire"]["responses"][0]["status"] == 200


def test_a_wedged_loop_during_a_server_scenario_frees_its_port_keys(wire: Wire) -> None:
    class BlockHandler(Fault):
        name = "block-handler"

        def on_op(self, op: Json) -> Json | None:
            time.sleep(4.0)
            return op

    target = ImplTarget(grace_s=0.3)
    target.start()
    servers = [{"options": {}, "listen": 40405, "handler": [{"op": "res.end", "args": ["ok"]}]}]
    try:
        target.fault = BlockHandler()
        obs = run_server(wire, target, server_scenario(servers, [raw_request()], timeout_ms=300))
        assert obs["status"] == "timeout" and "stopped answering" in obs["detail"]
        target.fault = None
        again = run_server(wire, target, server_scenario(servers, [raw_request()]))
        assert again["status"] == "ok", again["detail"]
        assert again["servers"][0]["port"] == 40405  # the wedged scenario's key was freed
        assert unb64(again["wire"]["responses"][0]["body"]) == b"ok"
    finally:
        target.stop()


# ---- tags -------------------------------------------------------------------------------


def test_tags_round_trip() -> None:
    from harness.reference import http

    ctx = DecodeContext(http)
    value = decode({"a": [{"$bytes": b64(b"x")}, {"$u8": b64(b"y")}, {"$undefined": True}],
                    "m": {"$map": [["k", 1]]}, "n": {"$number": "NaN"}, "ag": {"$agent": {"keepAlive": True}}}, ctx)
    assert value["a"][0] == b"x" and value["a"][1] == bytearray(b"y")
    assert value["m"] == {"k": 1} and value["ag"].keep_alive is True and ctx.agents == [value["ag"]]
    assert encode([b"x", bytearray(b"y"), http.UNDEFINED, float("inf")]) == [
        {"$bytes": "eA=="}, {"$u8": "eQ=="}, {"$undefined": True}, {"$number": "Infinity"}]
    assert error_record(ValueError("v")) == {"name": "ValueError", "code": None, "message": "v"}


# ---- the contract: impl and node answer the same shape ----------------------------------


def _shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items() if k not in ("t",)}
    if isinstance(value, list):
        return [_shape(v) for v in value[:1]]
    return type(value).__name__ if value is not None else None


def test_same_observation_shape_as_node(wire: Wire, impl: ImplTarget) -> None:
    from harness.targets.node import NodeTarget

    node = NodeTarget()
    if not node.installed():
        pytest.skip(f"node is not installed: {node.install_hint()}")
    ops = [{"op": "setHeader", "args": ["X-B", "2"]}, {"op": "getRawHeaderNames", "args": []},
           {"op": "setHeader", "args": ["Bad Name", "1"]}, {"op": "removeHeader", "args": ["X-C"]},
           {"op": "getHeaders", "args": []}, {"op": "hasHeader", "args": ["x-b"]},
           {"op": "setTimeout", "args": [2000]},
           {"op": "write", "args": [{"$bytes": b64(b"ab")}]}, {"op": "end", "args": []}]
    sc = client_scenario(origin_args("/s", "POST"), ops, [respond([{"data": "hi", "delay_ms": 0}], framing="chunked")],
                         response={**RESPONSE_DEFAULTS, "encoding": "utf8", "pause_ms": 10})
    theirs = on_node(run_client, wire, node, sc)
    ours = run_client(wire, impl, sc)
    assert theirs["status"] == ours["status"] == "ok"
    assert set(ours) == set(theirs) - {"wire"} | {"wire"}
    assert set(ours["response"]) == set(theirs["response"])
    assert ours["props"].keys() == theirs["props"].keys()
    # Same ops, same returns and errors (each run has its own origin port in Host).
    for calls in (ours["calls"], theirs["calls"]):
        calls[4]["returned"].pop("host")
    assert ours["calls"] == theirs["calls"]
    assert {e["name"] for e in ours["events"]} == {e["name"] for e in theirs["events"]}
    assert _shape(ours["chunks"]) == _shape(theirs["chunks"])
    assert _shape({k: ours[k] for k in ("threw", "body")}) == _shape({k: theirs[k] for k in ("threw", "body")})
    # A prop the reference lacks reads null (SCENARIO.md): a finding for the matrix, not a shape error.
    known = {k for k, v in ours["props"].items() if v is not None}
    assert _shape({k: ours["props"][k] for k in known}) == _shape({k: theirs["props"][k] for k in known})


def on_node(run: Any, wire: Wire, node: Any, sc: Json) -> Json:
    """Run one scenario on a Node target started (and stopped) just for it."""
    node.start()
    try:
        return run(wire, node, sc)  # type: ignore[no-any-return]
    finally:
        node.stop()


def _node_or_skip() -> Any:
    from harness.targets.node import NodeTarget

    node = NodeTarget()
    if not node.installed():
        pytest.skip(f"node is not installed: {node.install_hint()}")
    return node


def test_several_requests_same_shape_as_node(wire: Wire, impl: ImplTarget) -> None:
    """client.then / client.parallel, a named agent and the agent/module reads: both
    executors answer the same shape (SCENARIO.md "Several requests")."""
    node = _node_or_skip()
    named = {"$agent": {"id": "a", "options": {"keepAlive": True}}}
    again = {"$agent": {"id": "a"}}
    reads = [{"op": "agent.get", "agent": "a", "prop": "keepAlive"},
             {"op": "agent.call", "agent": "a", "method": "getName", "args": [{"host": "x", "port": 1}]},
             {"op": "agent.get", "agent": "global", "prop": "maxFreeSockets"},
             {"op": "module.get", "prop": "maxHeaderSize"}]
    further = [{"call": "request", "args": origin_args(f"/{i}", agent=again), "ops": [{"op": "end", "args": []}],
                "response": dict(RESPONSE_DEFAULTS)} for i in (2, 3)]
    results = {}
    for parallel in (False, True):
        sc = client_scenario(origin_args("/1", agent=named), [{"op": "end", "args": []}, *reads],
                             [respond([{"data": "ok", "delay_ms": 10}])], then=further, parallel=parallel)
        theirs = on_node(run_client, wire, node, sc)
        ours = run_client(wire, impl, sc)
        results[parallel] = (theirs, ours)
        for obs in (theirs, ours):
            assert obs["status"] == "ok", obs["detail"]
            assert len(obs["more"]) == 2
            targets = [r["target"] for r in obs["wire"]["requests"]]
            # Sequential requests reach the origin in order; parallel ones in any order.
            assert (targets if not parallel else sorted(targets)) == ["/1", "/2", "/3"]
            assert [c["returned"] for c in obs["calls"][1:]] == [True, "x:1:", 256, 16384]
            assert set(obs["agents"]) == {"a"} and isinstance(obs["agents"]["a"]["events"], list)
        assert set(ours) == set(theirs)
        for mine, other in zip(ours["more"], theirs["more"], strict=True):
            assert set(mine) == set(other) == {"threw", "calls", "events", "response", "body", "chunks", "props"}
            assert set(mine["response"]) == set(other["response"])
            assert mine["props"].keys() == other["props"].keys()
            assert mine["calls"] == other["calls"]
            assert unb64(mine["body"]) == unb64(other["body"]) == b"ok"
            assert {e["name"] for e in mine["events"]} == {e["name"] for e in other["events"]}
            assert _shape(mine["chunks"]) == _shape(other["chunks"])
    # Node reuses the keep-alive socket for the sequential requests: the contract's way to see it.
    theirs, _ = results[False]
    assert [r["conn"] for r in theirs["wire"]["requests"]] == [0, 0, 0]
    assert [m["props"]["req.reusedSocket"] for m in theirs["more"]] == [True, True]
    assert [e["name"] for e in theirs["agents"]["a"]["events"]] == ["free"] * 3


def test_unknown_agent_and_missing_agent_method(wire: Wire, impl: ImplTarget) -> None:
    ops = [{"op": "end", "args": []}, {"op": "agent.get", "agent": "nope", "prop": "keepAlive"}]
    obs = run_client(wire, impl, client_scenario(origin_args(), ops, [respond()]))
    assert obs["status"] == "error" and "nope" in obs["detail"]
    assert obs["calls"][1]["threw"]["code"] == "ERR_HARNESS_UNKNOWN_AGENT"
    ops = [{"op": "end", "args": []}, {"op": "agent.call", "agent": "global", "method": "noSuchMethod", "args": []},
           {"op": "agent.get", "agent": "global", "prop": "noSuchProp"}]
    obs = run_client(wire, impl, client_scenario(origin_args(), ops, [respond()]))
    assert obs["status"] == "ok", obs["detail"]
    assert obs["calls"][1]["threw"]["name"] == "AttributeError"  # recorded as it happened, not faked
    assert obs["calls"][2]["returned"] == {"$undefined": True}


def test_server_extensions_same_shape_as_node(wire: Wire, impl: ImplTarget) -> None:
    """address(), the listener that got the request, server.close and its callback."""
    node = _node_or_skip()
    handler = [{"op": "res.end", "args": ["ok"]}, {"op": "wait", "ms": 20}, {"op": "server.close"},
               {"op": "server.get", "prop": "keepAliveTimeout"}, {"op": "module.get", "prop": "maxHeaderSize"}]
    sc = server_scenario([{"options": {}, "listen": 0, "handler": handler, "on_check_expectation": [],
                           "on_client_error": []}], [raw_request()])
    theirs = on_node(run_server, wire, node, sc)
    ours = run_server(wire, impl, sc)
    for obs in (theirs, ours):
        assert obs["status"] == "ok", obs["detail"]
        (srec,) = obs["servers"]
        assert set(srec) == {"port", "address", "listen_error", "events"}
        assert srec["address"]["port"] == srec["port"]
        assert {"close", "close_cb"} <= {e["name"] for e in srec["events"]}
        (req,) = obs["requests"]
        assert req["event"] == "request"
    assert set(ours["requests"][0]) == set(theirs["requests"][0])
    assert ours["requests"][0]["calls"] == theirs["requests"][0]["calls"]


def test_pool_reads_module_set_and_delayed_start(wire: Wire, impl: ImplTarget) -> None:
    """agent.pool, module.set (undone at the scenario's end) and start_after_ms on both
    executors (SCENARIO.md "Agent pools, module assignment and delayed requests")."""
    node = _node_or_skip()
    named = {"$agent": {"id": "g", "options": {}}}
    ops = [{"op": "end", "args": []},
           {"op": "module.set", "prop": "globalAgent", "value": {"$agent": {"id": "g"}}},
           {"op": "agent.get", "agent": "global", "prop": "keepAlive"},
           {"op": "agent.pool", "agent": "g", "prop": "requests"}]
    later = [{"call": "request", "args": origin_args("/2"), "ops": [{"op": "end", "args": []}],
              "response": dict(RESPONSE_DEFAULTS), "start_after_ms": 150}]
    sc = client_scenario(origin_args("/1", agent=named), ops, [respond([{"data": "ok"}])], then=later, parallel=True)
    reset = client_scenario(origin_args(), [{"op": "end", "args": []},
                                            {"op": "agent.get", "agent": "global", "prop": "keepAlive"}], [respond()])
    for target in (node, impl):
        obs = on_node(run_client, wire, node, sc) if target is node else run_client(wire, impl, sc)
        assert obs["status"] == "ok", obs["detail"]
        assert [c["returned"] for c in obs["calls"][1:]] == [{"$undefined": True}, False, {}]
        requests = obs["wire"]["requests"]
        assert [r["target"] for r in requests] == ["/1", "/2"]
        # The origin's clock starts before the scenario does, so a request created 150 ms after
        # the others arrives at 150 ms or later however slow the machine is (a loaded CI machine
        # once took 99 ms to deliver the first request, so a gap between the two cannot be asked).
        assert requests[1]["t"] >= 140
        after = on_node(run_client, wire, node, reset) if target is node else run_client(wire, impl, reset)
        assert after["calls"][1]["returned"] is True  # the global agent is back
