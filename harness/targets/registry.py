"""The registry of targets: name -> module:class, imported lazily.

Adding a target is one module under harness/targets/ and one line here.
"""

from __future__ import annotations

import importlib
from typing import Any

from harness.targets.base import Target

TARGETS: dict[str, str] = {
    "impl": "harness.targets.impl:ImplTarget",
    "node": "harness.targets.node:NodeTarget",
    "workerd": "harness.targets.workerd:WorkerdTarget",
    "bun": "harness.targets.bun:BunTarget",
    "deno": "harness.targets.deno:DenoTarget",
}


class UnknownTarget(KeyError):
    def __str__(self) -> str:
        return f"unknown target {self.args[0]!r}; known: {', '.join(TARGETS)}"


def create(name: str, **options: Any) -> Target:
    """Instantiate a target by name; options (e.g. fault=...) go to its constructor."""
    try:
        module_name, class_name = TARGETS[name].split(":")
    except KeyError:
        raise UnknownTarget(name) from None
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(**options)
