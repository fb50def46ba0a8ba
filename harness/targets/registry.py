"""The registry of targets: what each one is, and its class (imported lazily).

Adding a target is one module under harness/targets/ and one entry here. Code outside
a target asks these entries (kind, injects_faults, ...) instead of comparing names.

A target that takes a variant is also named ``name@VARIANT`` (``workerd@2025-09-15``):
each variant is a column of its own, created with ``variant=VARIANT``. :func:`check`
validates names before anything runs.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Iterable
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
    from_npm: bool = False  # a runtime pinned in runtimes/package.json under the entry's name
    variants: str | None = None  # how name@VARIANT is written, if the target takes variants
    variant: str | None = None  # of this name (info("workerd@2025-09-15"): "2025-09-15")
    # serves the JavaScript apps of apps/ (harness/apps/serve.py says how); the Python
    # reference cannot run JavaScript, so its app behaviors are SKIP
    runs_js_apps: bool = False

    @property
    def base(self) -> str:
        """The registry entry's name (the runtime pinned under it), without the variant."""
        return self.name.partition("@")[0]


TARGETS: dict[str, TargetInfo] = {t.name: t for t in (
    TargetInfo("impl", "harness.targets.impl:ImplTarget", "reference", injects_faults=True),
    TargetInfo("node", "harness.targets.node:NodeTarget", "runtime", from_npm=True, runs_js_apps=True),
    TargetInfo("workerd", "harness.targets.workerd:WorkerdTarget", "runtime", from_npm=True,
               variants="workerd@YYYY-MM-DD[+flag...] (a compatibility date and flags)", runs_js_apps=True),
    TargetInfo("bun", "harness.targets.bun:BunTarget", "runtime", from_npm=True, runs_js_apps=True),
    TargetInfo("deno", "harness.targets.deno:DenoTarget", "runtime", from_npm=True, runs_js_apps=True),
)}


class UnknownTarget(KeyError):
    def __str__(self) -> str:
        return f"unknown target {self.args[0]!r}; known: {', '.join(TARGETS)}"


class BadTarget(ValueError):
    """A target name that cannot run: unknown, or a variant its target refuses."""


def info(name: str) -> TargetInfo:
    base, at, variant = name.partition("@")
    try:
        entry = TARGETS[base]
    except KeyError:
        raise UnknownTarget(name) from None
    if not at:
        return entry
    if entry.variants is None:
        raise BadTarget(f"target {base!r} takes no variant (in {name!r})")
    return dataclasses.replace(entry, name=name, variant=variant)


def injects_faults(name: str) -> bool:
    """Whether the target takes fault=NAME (an unknown name does not)."""
    try:
        return info(name).injects_faults
    except (UnknownTarget, BadTarget):
        return False


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
    """Instantiate a target by name; options (e.g. fault=...) go to its constructor, and so
    does the variant of a name@VARIANT. A malformed variant raises ValueError."""
    entry = info(name)
    module_name, class_name = entry.locator.split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    if entry.variant is not None:
        options["variant"] = entry.variant
    target: Target = cls(**options)
    return target


def check(names: Iterable[str]) -> None:
    """Every name runs as asked, or BadTarget saying why, before anything runs: the name is
    known and the target accepts its variant (workerd asks its binary about the date and
    flags; a target not installed is not asked: its cells say so)."""
    for name in names:
        try:
            info(name)
        except UnknownTarget as exc:
            raise BadTarget(str(exc)) from None
        try:
            target = create(name)
            validate = getattr(target, "check", None)
            if validate is not None:
                validate()
        except ValueError as exc:  # the target's own words: which date or flag, and why
            raise BadTarget(f"target {name!r}: {exc}") from None
        except RuntimeError as exc:  # e.g. workerd did not say which dates it supports
            raise BadTarget(f"target {name!r} cannot be checked: {exc}") from None
