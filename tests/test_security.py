"""Security (issue 13): the harness listens on 127.0.0.1 only, workerd may reach 127.0.0.1
only, YAML is safe-loaded, nothing reaches a shell, and the reports escape what they show."""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from harness.report.render import render_all
from harness.report.results import SCHEMA
from harness.runner import Session, pytest_command
from harness.spec import SpecError, load_all, load_spec_file
from harness.targets import registry
from harness.targets.runtime import install
from harness.targets.runtime.workerd_config import render as workerd_config

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted([*(ROOT / "harness").rglob("*.py"), *(ROOT / "tests").rglob("*.py"), ROOT / "conftest.py"])


def installed(*names: str) -> list[str]:
    return [n for n in names if registry.info(n).kind == "reference" or install.binary(n) is not None]


# --- nothing reaches a shell

def test_no_shell_in_the_source() -> None:
    found = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            shell = [k for k in node.keywords if k.arg == "shell"]
            if shell and not (isinstance(shell[0].value, ast.Constant) and shell[0].value.value is False):
                found.append(f"{path}:{node.lineno}: shell=")
            name = ast.unparse(node.func)
            if name in ("os.system", "os.popen", "subprocess.getoutput", "subprocess.getstatusoutput"):
                found.append(f"{path}:{node.lineno}: {name}")
    assert found == []


METACHARS = "$(touch {canary}); `touch {canary}` | touch {canary} && echo '\" > {canary}"
META_SPEC = """\
feature: headers
behaviors:
  - id: demo.meta-header
    title: a header value full of shell metacharacters goes out as it is
    level: required
    catalogue: [client.headers.case-preserved-on-wire]
    given:
      value: {{value: {value}}}
    scenario:
      kind: client
      client:
        call: request
        args: [{{host: {{$origin_host: true}}, port: {{$origin_port: true}}, path: /,
                headers: {{x-meta: {{$given: value}}}}}}]
        ops: [{{op: end}}]
      origin: {{responses: [{{status: 200, framing: content-length}}]}}
    expect:
      - at: request.headers
        contains: [x-meta, {{$given: value}}]
"""


def test_shell_metacharacters_in_inputs_stay_data(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    value = METACHARS.format(canary=canary)
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "meta.yaml").write_text(META_SPEC.format(value=json.dumps(value)))
    [behavior] = load_all(tmp_path / "specs")
    targets = installed("impl", "node")
    session = Session(targets, session_seed=1, base_settings=settings(max_examples=1), reruns=0)
    try:
        statuses = [session.run_cell(behavior, t).status for t in targets]
    finally:
        session.close()
    assert statuses == ["PASS"] * len(targets)  # sent verbatim, seen verbatim on the wire
    assert not canary.exists()
    command = pytest_command("impl", [behavior.id, value], None, 1)  # a printed repro command
    assert shlex.split(command)[3] == f"{behavior.id} or {value}"


# --- YAML is data

def test_yaml_is_safe_loaded(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    spec = tmp_path / "evil.yaml"
    spec.write_text(f"feature: x\nbehaviors: !!python/object/apply:os.system ['touch {canary}']\n")
    with pytest.raises(SpecError):
        load_spec_file(spec)
    assert not canary.exists()


# --- sockets

def _listening(pids: set[int]) -> set[str]:
    """host:port of every listening TCP socket the processes hold (from /proc)."""
    inodes = set()
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
        except OSError:
            continue  # a process that just exited
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # LISTEN
                address, port = fields[1].split(":")
                found.add(f"{_address(address)}:{int(port, 16)}")
    return found


def _address(hex_address: str) -> str:
    raw = bytes.fromhex(hex_address)
    words = [raw[i:i + 4][::-1] for i in range(0, len(raw), 4)]  # /proc prints 32-bit words host-endian
    flat = b"".join(words)
    if len(flat) == 4:
        return ".".join(str(b) for b in flat)
    if flat[:12] == b"\0" * 10 + b"\xff\xff":
        return ".".join(str(b) for b in flat[12:])  # ::ffff:a.b.c.d
    return ":".join(flat[i:i + 2].hex() for i in range(0, 16, 2))


def _family(pid: int) -> set[int]:
    """pid and every process below it."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    out, todo = set(), [pid]
    while todo:
        p = todo.pop()
        out.add(p)
        todo += parents.get(p, [])
    return out


def test_every_listening_socket_is_on_loopback() -> None:
    behaviors = {b.id: b for b in load_all(ROOT / "specs", ROOT / "cases")}
    picked = [behaviors[b] for b in ("client.headers.accessors", "server.status.custom-message")]
    targets = installed("impl", "node", "workerd")
    seen: set[str] = set()
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            seen.update(_listening(_family(os.getpid())))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    session = Session(targets, session_seed=1, base_settings=settings(max_examples=3), reruns=0)
    try:
        for target in targets:
            for behavior in picked:
                session.run_cell(behavior, target)
    finally:
        session.close()
        done.set()
        sampler.join(2)
    assert len(seen) >= 3, f"too few listening sockets seen: {seen}"  # origins, servers, workerd's
    assert {s for s in seen if not s.startswith("127.0.0.1:")} == set()


# --- workerd's outbound network

def test_workerd_may_reach_loopback_only() -> None:
    config = workerd_config(["main.js"], compatibility_date="2025-09-15", compatibility_flags=["nodejs_compat"])
    assert [line.strip() for line in config.splitlines() if "network" in line] == [
        '(name = "internet", network = (allow = ["127.0.0.1/32"]))']


def test_workerd_scenario_aimed_elsewhere_fails_cleanly() -> None:
    if not installed("workerd"):
        pytest.skip("workerd is not installed: run `python -m harness targets install workerd`")
    session = Session(["workerd"], session_seed=1, reruns=0)
    scenario = {"kind": "client", "id": "elsewhere/0", "timeout_ms": 3000,
                "client": {"call": "request", "args": [{"host": "192.0.2.1", "port": 80, "path": "/"}],
                           "ops": [{"op": "end"}], "on_timeout": "destroy"},
                "origin": {"responses": []}}
    try:
        began = time.monotonic()
        obs = session.run_scenario(session.target("workerd"), scenario)
        took = time.monotonic() - began
    finally:
        session.close()
    assert obs["status"] == "ok", obs.get("detail")  # refused as data: an error event, no crash
    assert any(e["name"] == "error" for e in obs["events"]), obs["events"]
    assert took < 3.0 and not obs["wire"]["requests"]


# --- the reports escape what they show

PAYLOAD = "<script>alert('x')</script> | `tick` \nX-Evil: 1\r\n|"


def _evil_doc() -> dict[str, Any]:
    record = {"behavior": "a.one", "title": PAYLOAD, "catalogue": [], "feature": "headers", "level": "required",
              "target": "impl", "profile": "fetch-backed", "status": "FAIL", "declared": False,
              "message": f"header value {PAYLOAD}", "example": {"label": "generated", "inputs": {"v": PAYLOAD}},
              "repro": [f"python -m harness replay {shlex.quote(PAYLOAD)}"], "repro_file": None,
              "examples_run": 1, "statuses": {"FAIL": 1}, "spec": "specs/x.yaml:1", "seed": 1, "wall_s": 0.1,
              "differences": [PAYLOAD], "causes": [f"request.headers = {PAYLOAD}"],
              "failures": [{"spec": "specs/x.yaml:3", "yaml": f"- at: x\n  equals: {PAYLOAD}\n```\n# after",
                            "message": PAYLOAD, "cause": f"request.headers = {PAYLOAD}"}],
              "reruns": [], "notes": []}
    return {"schema": SCHEMA, "harness_version": "0", "started": "", "finished": PAYLOAD, "wall_s": 0,
            "session_seed": 1, "hypothesis_profile": "dev", "fault": None, "oracle": None,
            "targets": {"impl": {"kind": "reference", "started": True, "version": PAYLOAD,
                                 "profile": "fetch-backed", "unavailable": PAYLOAD}},
            "apps": None, "causes": {}, "results": [record]}


def test_html_escapes_what_it_shows(tmp_path: Path) -> None:
    [path] = render_all(_evil_doc(), tmp_path, ["html"])
    html = path.read_text(encoding="utf-8")
    assert "<script>alert(" not in html and "alert(" in html  # shown, as text


def test_markdown_escapes_what_it_shows(tmp_path: Path) -> None:
    [path] = render_all(_evil_doc(), tmp_path, ["md"])
    md = path.read_text(encoding="utf-8")
    prose = _outside_code(md)  # inside a code span or fence, <script> is shown as it is
    assert "<script>" not in prose and "&lt;script&gt;alert" in prose
    assert "X-Evil" in md and "\nX-Evil" not in md  # the newline did not start a line
    tables = [block for block in md.split("\n\n") if block.startswith("|")]
    for table in tables:
        widths = {len(_split_row(row)) for row in table.splitlines()}
        assert len(widths) == 1, table
    assert "````" in md  # the YAML holding ``` is fenced by a longer fence


def _outside_code(md: str) -> str:
    """md without its fenced blocks and code spans."""
    kept, fence = [], None
    for line in md.splitlines():
        mark = re.match(r"\s*(`{3,})", line)
        if fence is None and mark:
            fence = mark.group(1)
        elif fence is not None and line.strip() == fence:
            fence = None
        elif fence is None:
            kept.append(line)
    return re.sub(r"(`+)(?!`).*?(?<!`)\1(?!`)", "", "\n".join(kept))


def _split_row(row: str) -> list[str]:
    """Cells of a GitHub table row: split on | not escaped with a backslash."""
    cells, cur, escaped = [], "", False
    for ch in row.strip().strip("|"):
        if ch == "|" and not escaped:
            cells.append(cur)
            cur = ""
        else:
            cur += ch
        escaped = ch == "\\" and not escaped
    return [*cells, cur]
