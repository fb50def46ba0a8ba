"""Where the apps live: apps/<name>/ with package.json, package-lock.json and app.mjs.

The bundler (esbuild) is pinned in apps/package.json. Set HARNESS_APPS_DIR to use
another directory laid out the same way (tests do).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

APPS_DIR = Path(os.environ.get("HARNESS_APPS_DIR") or Path(__file__).resolve().parents[2] / "apps")
ENTRY = "app.mjs"  # each app's module: it listens on process.env.PORT (and HOST)
BUNDLER = "bundle.mjs"  # apps/bundle.mjs: the esbuild bundle for workerd
INSTALL_HINT = "python -m harness apps install"


class UnknownApp(KeyError):
    def __str__(self) -> str:
        return f"unknown app {self.args[0]!r}; known: {', '.join(names()) or '(none)'} (in {APPS_DIR})"


def names(apps_dir: Path | None = None) -> list[str]:
    """Every app: a directory of apps/ holding package.json and app.mjs."""
    root = apps_dir or APPS_DIR
    if not root.is_dir():
        return []
    return sorted(d.name for d in root.iterdir()
                  if (d / "package.json").is_file() and (d / ENTRY).is_file())


def app_dir(name: str) -> Path:
    if name not in names():
        raise UnknownApp(name)
    return APPS_DIR / name


def _lock_packages(directory: Path, lockfile: str = "package-lock.json") -> dict[str, dict[str, object]] | None:
    try:
        doc = json.loads((directory / lockfile).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    packages = doc.get("packages")
    return {k: v for k, v in packages.items() if k} if isinstance(packages, dict) else None


def installed(directory: Path) -> bool:
    """node_modules matches the lockfile: npm's hidden lockfile (what is installed) lists
    the lockfile's packages as pinned, all but optional ones for other platforms."""
    wanted = _lock_packages(directory)
    have = _lock_packages(directory, "node_modules/.package-lock.json")
    if wanted is None or have is None:
        return False
    missing = [k for k, v in wanted.items() if k not in have and not v.get("optional")]
    return not missing and all(wanted.get(k) == v for k, v in have.items())


def dependencies(name: str) -> dict[str, str]:
    """The app's direct dependencies at the exact versions its lockfile pins."""
    directory = app_dir(name)
    deps = json.loads((directory / "package.json").read_text(encoding="utf-8")).get("dependencies", {})
    packages = _lock_packages(directory) or {}
    return {dep: str(packages.get(f"node_modules/{dep}", {}).get("version", spec)) for dep, spec in deps.items()}
