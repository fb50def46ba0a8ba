"""`python -m harness apps install`: `npm ci` for the bundler (apps/) and for each app.

Each directory installs exactly what its committed package-lock.json pins. A directory
whose node_modules already matches its lockfile is left alone unless `force`. A failure
names the app and quotes npm's own output.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from harness.apps import layout

TOOLING = "(bundler)"  # how apps/ itself (esbuild) is named in messages


class AppInstallError(RuntimeError):
    """Installing an app failed; the message names the app and gives npm's output."""


def _log(message: str) -> None:
    print(f"[apps install] {message}", file=sys.stderr, flush=True)


def _npm_ci(label: str, directory: Path, say: Callable[[str], None]) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise AppInstallError(f"{label}: npm is not on PATH (install Node.js with npm to fetch the apps' packages)")
    if not (directory / "package-lock.json").is_file():
        raise AppInstallError(f"{label}: {directory / 'package-lock.json'} is missing: run "
                              f"`npm install --prefix {directory}` once and commit the lockfile")
    cmd = [npm, "ci", "--prefix", str(directory), "--no-audit", "--no-fund"]
    started = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    output = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0:
        lines = [line for line in output.splitlines() if line.strip() not in ("", "npm error")]
        # npm says why first (code, explanation), then its usage text, and where its log is last.
        said = lines if len(lines) <= 12 else [*lines[:8], "...", lines[-1]]
        raise AppInstallError(f"{label}: `{' '.join(cmd)}` failed with exit code {proc.returncode}:\n"
                              + "\n".join(said))
    say(f"{label}: installed in {time.monotonic() - started:.1f} s ({directory})")


def install(names: list[str] | None = None, *, force: bool = False,
            say: Callable[[str], None] = _log) -> None:
    """npm ci in apps/ (the bundler) and in each named app (default: every app)."""
    chosen = names or layout.names()
    for name in chosen:
        layout.app_dir(name)  # UnknownApp for a typo, before anything runs
    for label, directory in [(TOOLING, layout.APPS_DIR), *((n, layout.APPS_DIR / n) for n in chosen)]:
        if not force and layout.installed(directory):
            say(f"{label}: already installed ({directory / 'node_modules'})")
            continue
        _npm_ci(label, directory, say)
