"""Apps on real runtimes: the bundling plugin, serving through httpServerHandler, an app
that does not start (FAIL with the runtime's log, the run going on), and install errors.

The apps here are tiny ones written into a scratch apps/ directory (no packages), so
these tests need the pinned node (and workerd, esbuild for the bundle) but not the
Express, Koa or Fastify installs.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.apps import bundle, install, layout
from harness.runner import Session
from harness.spec import load_spec_file
from harness.targets import registry
from harness.targets.runtime import install as runtimes

REAL_APPS = layout.APPS_DIR

TINY = """import http from 'node:http';
http.createServer((req, res) => {
  res.setHeader('X-Tiny', 'yes');
  res.end(`tiny ${req.method} ${req.url}`);
}).listen(Number(process.env.PORT), process.env.HOST ?? '127.0.0.1');
"""
BROKEN = "throw new Error('broken at load: the app cannot start');\n"
# CommonJS that requires built-ins, as packages do: bare, node:, and one with a digit.
LEGACY = """const tty = require('tty');
const { EventEmitter } = require('node:events');
const v8 = require('node:v8');
module.exports = { isatty: typeof tty.isatty, emitter: typeof EventEmitter, v8: typeof v8.getHeapStatistics };
"""
WITH_LEGACY = TINY.replace("import http from 'node:http';",
                           "import http from 'node:http';\nimport legacy from './legacy.cjs';") \
                  .replace("res.end(`tiny", "res.end(`${JSON.stringify(legacy)} tiny")

SPEC = """
feature: apps
behaviors:
  - id: apps.answers
    title: The app answers a GET
    level: required
    catalogue: []
    scenario:
      kind: app
      apps: [{apps}]
      requests: [{{path: /hello, query: [[a, b]]}}]
    expect:
      - at: reply.status
        equals: 200
      - at: reply.body_text
        matches: "tiny GET /hello[?]a=b$"
"""


def _write_app(root: Path, name: str, source: str, extra: dict[str, str] | None = None) -> None:
    directory = root / name
    (directory / "node_modules").mkdir(parents=True)
    (directory / "package.json").write_text(json.dumps({"name": name, "private": True, "type": "module"}))
    lock = {"name": name, "lockfileVersion": 3, "requires": True, "packages": {"": {"name": name}}}
    (directory / "package-lock.json").write_text(json.dumps(lock))
    (directory / "node_modules" / ".package-lock.json").write_text(json.dumps({"packages": {}}))
    (directory / layout.ENTRY).write_text(source)
    for file, text in (extra or {}).items():
        (directory / file).write_text(text)


@pytest.fixture
def apps_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A scratch apps/ with the real bundler (and its installed esbuild) and tiny apps."""
    root = tmp_path / "apps"
    root.mkdir()
    for file in ("package.json", "package-lock.json", layout.BUNDLER):
        shutil.copyfile(REAL_APPS / file, root / file)
    if (REAL_APPS / "node_modules").is_dir():
        (root / "node_modules").symlink_to(REAL_APPS / "node_modules")
    _write_app(root, "tiny", TINY)
    _write_app(root, "broken", BROKEN)
    _write_app(root, "legacy", WITH_LEGACY, {"legacy.cjs": LEGACY})
    monkeypatch.setattr(layout, "APPS_DIR", root)
    yield root


def _need(*runtimes_needed: str, bundler: bool = False) -> None:
    missing = [r for r in runtimes_needed if runtimes.binary(r) is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (python -m harness targets install)")
    if bundler and not (REAL_APPS / "node_modules" / "esbuild").is_dir():
        pytest.skip(f"esbuild not installed: {layout.INSTALL_HINT}")


def _behaviors(tmp_path: Path, apps: str) -> list:  # type: ignore[type-arg]
    spec = tmp_path / "apps.yaml"
    spec.write_text(SPEC.format(apps=apps), encoding="utf-8")
    return load_spec_file(spec)


def test_bundle_turns_require_of_builtins_into_imports(apps_dir: Path, tmp_path: Path) -> None:
    _need("node", bundler=True)
    out = bundle.bundle(apps_dir / "legacy", tmp_path / "out" / "worker.mjs", 8080)
    text = out.read_text(encoding="utf-8")
    for name in ("tty", "events", "v8", "http"):
        assert f'from "node:{name}"' in text, name
    # no require("x") left to throw "Dynamic require of x is not supported" at load
    assert re.search(r'__require\(\s*"', text) is None
    assert 'from "cloudflare:node"' in text and "httpServerHandler({ port: 8080 })" in text


def test_an_app_that_does_not_start_fails_every_behavior_with_its_log(apps_dir: Path, tmp_path: Path) -> None:
    _need("node")
    broken, tiny = _behaviors(tmp_path, "broken, tiny")
    session = Session(["node", "impl"], session_seed=1)
    try:
        cell = session.run_cell(broken, "node")
        assert cell.status == "FAIL"
        assert "the broken app did not start on node" in cell.message
        assert "broken at load: the app cannot start" in cell.message  # the runtime's own words
        again = session.run_cell(broken, "node")  # remembered: no second start
        assert again.status == "FAIL"
        assert session.run_cell(tiny, "node").status == "PASS"  # the run goes on
        skipped = session.run_cell(tiny, "impl")
        assert skipped.status == "SKIP" and "Python reference" in skipped.message
        ran = session.apps_info() or {}
        assert ran["broken"]["targets"]["node"]["started"] is False
        assert ran["broken"]["targets"]["node"]["processes_started"] == 1
        assert ran["tiny"]["targets"]["node"]["started"] is True
    finally:
        session.close()


def test_workerd_serves_an_app_through_http_server_handler(apps_dir: Path, tmp_path: Path) -> None:
    _need("node", "workerd", bundler=True)
    tiny, broken = _behaviors(tmp_path, "tiny, broken")
    session = Session(["node", "workerd"], session_seed=1)
    try:
        assert session.run_cell(tiny, "node").status == "PASS"
        cell = session.run_cell(tiny, "workerd")
        assert cell.status == "PASS", cell.message  # same status, body and header values as Node
        assert cell.notes  # what the transport does differently is noted
        failed = session.run_cell(broken, "workerd")
        assert failed.status == "FAIL" and "broken at load" in failed.message
        info = (session.apps_info() or {})["tiny"]["targets"]["workerd"]
        assert info["compatibility_date"] and "nodejs_compat" in info["compatibility_flags"]
    finally:
        session.close()


def test_every_target_that_runs_apps_has_a_launcher() -> None:
    from harness.apps.launch import launcher

    for name, entry in registry.TARGETS.items():
        assert (launcher(name) is not None) == entry.runs_js_apps, name


def test_install_failure_names_the_app_and_quotes_npm(apps_dir: Path) -> None:
    if shutil.which("npm") is None:
        pytest.skip("npm is not on PATH")
    package = apps_dir / "tiny" / "package.json"
    package.write_text(json.dumps({"name": "tiny", "private": True, "dependencies": {"left-pad": "1.3.0"}}))
    (apps_dir / "tiny" / "node_modules" / ".package-lock.json").unlink()  # not installed
    with pytest.raises(install.AppInstallError) as caught:
        install.install(["tiny"], say=lambda _m: None)
    message = str(caught.value)
    assert message.startswith("tiny: `") and "npm ci" in message
    assert "sync" in message or "left-pad" in message  # npm's own explanation
