"""Imported first by the pytest plugin: the harness's and its libraries' modules load past
pytest's assertion rewriting.

pytest rewrites, on import, every module of every distribution with a pytest11 entry point
(the harness, Hypothesis, xdist, anyio), whatever `-p no:` says, and with
PYTHONDONTWRITEBYTECODE=1 (as on the CI machines) caches none of it. That cost ~1.2 s of CPU
at the start of every pytest process that rewrites (the controller of every run, a serial
run, `pytest tests` and its workers), on the critical path: collecting the five-target suite
took 2.0-2.3 s of CPU instead of 0.8-1.0 s (the same as --assert=plain). None of these packages holds a test whose asserts
need rewriting; tests/ and conftest.py are outside PACKAGES and are rewritten as before.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType

PACKAGES = frozenset({"harness", "hypothesis", "xdist", "anyio"})


class UnrewrittenImports(importlib.abc.MetaPathFinder):
    """Finds PACKAGES' modules the ordinary way, ahead of pytest's rewriting hook; any
    other module goes on to the finders after it."""

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname.partition(".")[0] not in PACKAGES:
            return None
        return importlib.machinery.PathFinder.find_spec(fullname, path)


if not any(isinstance(finder, UnrewrittenImports) for finder in sys.meta_path):
    sys.meta_path.insert(0, UnrewrittenImports())
