"""A cache of loaded spec and case files, keyed by content hash, in .cache/specs/ (gitignored).

Parsing and validating every spec costs about a second even with libyaml; a run loads
them several times (pytest collection, the CLI). The key covers everything the result
depends on: the file's bytes, its path (behaviors record it) and the working directory
(paths are recorded relative to it), the loader's own code, schemas and vocabulary, and
the apps on disk (app behaviors expand per app). A file that fails to load is never
cached, so its error is reported afresh each time. Only files inside the repository are
cached (tests' temporary spec files are not); HARNESS_SPEC_CACHE=0 turns it off.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

_HARNESS = Path(__file__).resolve().parents[1]
REPO = _HARNESS.parent
CACHE_DIR = REPO / ".cache" / "specs"
# The code and data that decide what a spec file loads to.
_INPUTS = ("spec/*.py", "spec/*.json", "vocabulary.py", "strategies.py", "drivers/vocabulary.json")
_KEEP = 400  # cache files kept; older ones go when a new one is written


@cache
def _fingerprint() -> bytes:
    from harness.apps.layout import APPS_DIR, names

    h = hashlib.sha256()
    for pattern in _INPUTS:
        for path in sorted(_HARNESS.glob(pattern)):
            h.update(path.name.encode() + b"\0" + path.read_bytes())
    h.update(repr((str(APPS_DIR), names())).encode())
    return h.digest()


def _key(kind: str, path: Path) -> str:
    h = hashlib.sha256(_fingerprint())
    h.update(f"{kind}\0{path.resolve()}\0{Path.cwd().resolve()}\0".encode())
    h.update(path.read_bytes())
    return h.hexdigest()


def cached(kind: str, path: Path, load: Callable[[Path], T]) -> T:
    """load(path), or what it returned last time for the same inputs."""
    if os.environ.get("HARNESS_SPEC_CACHE") == "0" or not path.resolve().is_relative_to(REPO):
        return load(path)
    try:
        entry = CACHE_DIR / f"{_key(kind, path)}.pickle"
    except OSError:
        return load(path)  # unreadable: load() says so, with the file's name
    try:
        with entry.open("rb") as f:
            value: T = pickle.load(f)  # noqa: S301 - written by this module, in the repository
        return value
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError):
        pass
    value = load(path)
    _store(entry, value)
    return value


def _store(entry: Path, value: object) -> None:
    try:
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        tmp = entry.with_suffix(f".{os.getpid()}.tmp")  # concurrent runs each write whole files
        tmp.write_bytes(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
        os.replace(tmp, entry)
        old = sorted(CACHE_DIR.glob("*.pickle"), key=lambda p: p.stat().st_mtime)
        for stale in old[:-_KEEP]:
            stale.unlink(missing_ok=True)
    except OSError:
        pass  # a read-only checkout loads without the cache
