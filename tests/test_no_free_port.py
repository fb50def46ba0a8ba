"""A server's listen(0) failing with EADDRINUSE is the machine's doing (no free port: the
ephemeral range full of TIME_WAITs), never a finding against the target: the cell is ERROR."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from harness.runner import Session, no_free_port
from harness.spec import load_spec_file
from harness.targets import registry
from harness.targets.base import Exchange, Json
from harness.targets.impl import ImplTarget

SPEC = """\
feature: server
behaviors:
  - id: demo.listen
    title: A server listens and answers
    level: required
    catalogue: [demo]
    scenario:
      kind: server
      servers: [{listen: LISTEN, handler: [{op: res.end, args: [ok]}]}]
      requests: [{server: 0, method: GET, target: /, headers: [[Host, h]]}]
    expect:
      - at: servers.0.listen_error
        equals: null
"""
IN_USE = {"name": "Error", "code": "EADDRINUSE", "message": "listen EADDRINUSE", "syscall": "listen"}


class NoPortTarget(ImplTarget):
    """impl, whose every server reports that listening failed with EADDRINUSE."""

    def run(self, scenario: Json, exchange: Exchange | None) -> Json:
        obs = super().run(scenario, exchange)
        for server in obs.get("servers") or []:
            server["listen_error"] = dict(IN_USE)
        return obs


@pytest.mark.parametrize(("listen", "status"), [(0, "ERROR"), (28411, "FAIL")])
def test_eaddrinuse_on_listen_0_is_an_error_on_a_fixed_port_a_finding(
        listen: int, status: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "demo.yaml"
    path.write_text(SPEC.replace("LISTEN", str(listen)))
    behavior = load_spec_file(path)[0]
    monkeypatch.setitem(registry.TARGETS, "noport", registry.TargetInfo("noport", f"{__name__}:NoPortTarget", "runtime"))
    session = Session(["noport"], session_seed=1, base_settings=settings(max_examples=2, deadline=None),
                      report_dir=tmp_path, reruns=0)
    try:
        cell: Any = session.run_cell(behavior, "noport")
    finally:
        session.close()
    assert cell.status == status
    if status == "ERROR":
        assert "no free port" in cell.message


def test_only_listen_0_and_only_eaddrinuse() -> None:
    scenario = {"servers": [{"listen": 0}, {"listen": 0}]}
    ok = {"status": "ok", "servers": [{"listen_error": None}, {"listen_error": {**IN_USE, "code": "EACCES"}}]}
    assert no_free_port(scenario, ok) is None
    full = {"status": "ok", "servers": [{"listen_error": None}, {"listen_error": IN_USE}]}
    assert (no_free_port(scenario, full) or {}).get("status") == "error"
