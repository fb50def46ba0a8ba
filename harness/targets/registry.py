"""The registry of targets: what each one is, and its class (imported lazily).

Adding a target is one module under harness/targets/ and one entry here. Code outside
a target asks these entries (kind, injects_faults, ...) instead of comparing names.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Literal

from harness.targets.base import Target

Kind = Literal["reference", "runtime"]


@dataclass(frozen=True)
class TargetInfo:
    name: str
    locator: str  # "module:Class"
    # "reference": the Python fetch-backed node:http of harness/reference/, the yardstick
    # for what a fetch-backed runtime can do; "runtime": a JavaScript runtime's node:http.
    kind: Kind
    injects_faults: bool = False  # accepts fault=NAME (python -m harness faults)
    from_npm: bool = False  # a runtime pinned in runtimes/package.json under the target's name
    # serves the JavaScript apps of apps/ (harness/apps/serve.py says how); the Python
    # reference cannot run JavaScript, so its app behaviors are SKIP
    runs_js_apps: bool = False


TARGETS: dict[str, TargetInfo] = {t.name: t for t in (
    TargetInfo("impl", "harness.targets.impl:ImplTarget", "reference", injects_faults=True),
    TargetInfo("node", "harness.targets.node:NodeTarget", "runtime", from_npm=True,
               runs_js_apps=True),
    TargetInfo("workerd", "harness.targets.workerd:WorkerdTarget", "runtime", from_npm=True,
               runs_js_apps=True),
    TargetInfo("bun", "harness.targets.bun:BunTarget", "runtime", from_npm=True,
               runs_js_apps=True),
    TargetInfo("deno", "harness.targets.deno:DenoTarget", "runtime", from_npm=True,
               runs_js_apps=True),
)}


class UnknownTarget(KeyError):
    def __str__(self) -> str:
        return f"unknown target {self.args[0]!r}; known: {', '.join(TARGETS)}"


def info(name: str) -> TargetInfo:
    try:
        return TARGETS[name]
    except KeyError:
        raise UnknownTarget(name) from None


def injects_faults(name: str) -> bool:
    """Whether the target takes fault=NAME (an unknown name does not)."""
    return name in TARGETS and TARGETS[name].injects_faults


def reference_target() -> str:
    """The reference implementation's target name."""
    return next(t.name for t in TARGETS.values() if t.kind == "reference")


def default_target() -> str:
    """The target run when none is named: the reference, which needs nothing outside Python."""
    return reference_target()


def fault_target() -> str:
    """The target that injects faults."""
    return next(t.name for t in TARGETS.values() if t.injects_faults)


def create(name: str, **options: Any) -> Target:
    """Instantiate a target by name; options (e.g. fault=...) go to its constructor."""
    module_name, class_name = info(name).locator.split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(**options)
