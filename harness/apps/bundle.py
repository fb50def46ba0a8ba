"""Bundle an app for workerd with esbuild (apps/bundle.mjs, run by the pinned node).

workerd loads one ES module with no node_modules behind it, so the app and its packages
become a single file whose entry imports the app (which listens) and exports
httpServerHandler for the same port. apps/bundle.mjs holds the esbuild plugin that turns
each CommonJS require() of a Node built-in into an import of node:NAME.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from harness.apps import layout
from harness.targets.runtime import install as runtimes


class BundleError(RuntimeError):
    """The bundle could not be built; the message says why (esbuild's output included)."""


def node_binary() -> Path:
    node = runtimes.binary("node")
    if node is None:
        raise BundleError(f"the pinned node runs the bundler and is not installed: run `{runtimes.INSTALL_HINT} node`")
    return node


def bundle(app_dir: Path, out_file: Path, port: int, timeout_s: float = 60.0) -> Path:
    """Write the workerd bundle of the app in app_dir to out_file; return out_file."""
    bundler = layout.APPS_DIR / layout.BUNDLER
    if not (layout.APPS_DIR / "node_modules" / "esbuild").is_dir():
        raise BundleError(f"esbuild is not installed in {layout.APPS_DIR}: run `{layout.INSTALL_HINT}`")
    out_file.parent.mkdir(parents=True, exist_ok=True)
    cmd = [str(node_binary()), str(bundler), str(app_dir), str(out_file), str(port)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    if proc.returncode != 0 or not out_file.is_file():
        output = (proc.stderr + proc.stdout).strip()[-3000:]
        raise BundleError(f"bundling {app_dir.name} failed (exit code {proc.returncode}): {output}")
    return out_file
