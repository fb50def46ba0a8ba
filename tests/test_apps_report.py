"""The apps in the matrix: a section per app, how each app ran, notes grouped by subject,
and no fetch-gap label where the reference could not run an app at all."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.report.matrix import build, cell_text
from harness.report.render import render_all
from harness.report.results import SCHEMA

NOTE = {"text": "reason phrase 'unknown' (Node: 'OK')", "behavior": "server.status.reason-from-status-codes"}


def rec(behavior: str, target: str, status: str, notes: list[dict[str, str]] | None = None) -> dict[str, Any]:
    app = behavior.split(".")[1]
    return {"behavior": behavior, "title": behavior, "catalogue": [], "feature": f"apps.{app}",
            "level": "required", "target": target, "profile": "node", "status": status, "declared": False,
            "message": "" if status in ("PASS", "SKIP") else "m", "example": None, "repro": [],
            "repro_file": None, "examples_run": 1, "statuses": {status: 1}, "spec": "specs/apps.yaml:3",
            "seed": 1, "wall_s": 0.1, "differences": [], "notes": notes or []}


APPS = {"koa": {"pinned": {"koa": "3.2.1"}, "targets": {
    "node": {"started": True, "start_ms": 120.0, "runs": "node app.mjs", "processes_started": 1},
    "workerd": {"started": False, "error": "the koa app did not start on workerd: its process exited with code 1",
                "log": "workerd log:\nservice app: Uncaught Error: No such module \"node:perf_hooks\".",
                "runs": "esbuild bundle + httpServerHandler", "compatibility_date": "2025-09-15",
                "compatibility_flags": ["nodejs_compat", "enable_nodejs_v8_module"], "processes_started": 1}}}}

DOC = {"schema": SCHEMA, "harness_version": "0", "started": "s", "finished": "f", "wall_s": 1,
       "session_seed": 7, "hypothesis_profile": "dev", "fault": None, "oracle": None,
       "targets": {"impl": {"kind": "reference", "profile": "fetch-backed"},
                   "node": {"kind": "runtime", "profile": "node"},
                   "workerd": {"kind": "runtime", "profile": "fetch-backed"}},
       "apps": APPS,
       "results": [rec("apps.koa.a", "impl", "SKIP"), rec("apps.koa.a", "node", "PASS"),
                   rec("apps.koa.a", "workerd", "PASS", [NOTE]), rec("apps.koa.b", "impl", "SKIP"),
                   rec("apps.koa.b", "node", "PASS"), rec("apps.koa.b", "workerd", "FAIL", [NOTE])]}


def test_app_cells_show_notes_and_no_fetch_gap() -> None:
    m = build(DOC)
    assert list(m.features) == ["apps.koa"]
    row = m.features["apps.koa"][1]
    assert cell_text(row.cells["workerd"]) == "FAIL (1 notes)"  # impl SKIP says nothing of fetch


def test_markdown_has_how_apps_ran_and_the_notes_table(tmp_path: Path) -> None:
    render_all(DOC, tmp_path, ["md", "html"])
    md = (tmp_path / "matrix.md").read_text()
    assert "## Real applications" in md and "## apps.koa" in md
    assert "started in 120 ms" in md
    assert "did not start: its process exited with code 1 (service app: Uncaught Error" in md
    assert "workerd runs the apps at compatibility date 2025-09-15 with flags nodejs_compat" in md
    notes = md[md.index("## Notes on the apps"):]
    assert "`server.status.reason-from-status-codes`" in notes and "|           2 |" in notes
    html = (tmp_path / "matrix.html").read_text()
    assert "<h2>Real applications</h2>" in html and "<td>server.status.reason-from-status-codes</td>" in html
