"""The one seam through which a named fault changes what the impl target does.

The impl executor calls these hooks at fixed points; the base class does nothing, so a
concrete fault (in harness/targets/impl/faults.py, written separately) overrides only what it
needs. Faults exist to prove that the harness notices a broken implementation: each one
must turn some PASS cell into a FAIL.

    class DropFirstChunk(Fault):
        name = "drop-first-chunk"
        def on_chunk(self, data: bytes) -> bytes: ...

`harness.targets.impl.faults` is expected to expose `apply(name, context) -> Fault`
(raising KeyError for an unknown name); `load()` below is the only caller.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from harness.observations import Json, WireRecord


class Fault:
    """No-op hooks. Each returns what the executor uses instead of its argument."""

    name: str = "none"

    def on_scenario(self, scenario: Json) -> Json:
        """The whole scenario (a copy) before the target runs it, e.g. for bridge routing."""
        return scenario

    def on_options(self, args: list[Any]) -> list[Any]:
        """The decoded arguments of request()/get() (client) or createServer() (server)."""
        return args

    def on_op(self, op: Json) -> Json | list[Json] | None:
        """A client op or server handler op before it runs; None skips it, a list
        replaces it with several ops."""
        return op

    def on_chunk(self, data: bytes) -> bytes:
        """A body chunk as the executor records it (client response, server request)."""
        return data

    def on_observations(self, obs: Json) -> Json:
        """The finished observations of one scenario (client or server)."""
        return obs

    def on_wire(self, wire: WireRecord) -> WireRecord:
        """What the raw client recorded in a server scenario (`wire.responses`), as if the
        target's front end had answered differently."""
        return wire


@dataclass(frozen=True)
class FaultContext:
    """What a fault may look at when it is built: the target and the reference module."""

    target: str
    http: ModuleType


class FaultUnavailable(Exception):
    """A fault was named but cannot be built (no faults module, unknown name)."""


def ops_for(fault: Fault | None, op: Json) -> list[Json]:
    """The ops to run in place of `op` (just `op` without a fault)."""
    if fault is None:
        return [op]
    out = fault.on_op(op)
    if out is None:
        return []
    return out if isinstance(out, list) else [out]


def load(name: str | None, context: FaultContext) -> Fault | None:
    """The Fault for `name` (None: no fault)."""
    if not name:
        return None
    try:
        faults = importlib.import_module("harness.targets.impl.faults")
    except ModuleNotFoundError as exc:
        raise FaultUnavailable(f"fault {name!r} asked for, but harness/targets/impl/faults.py is missing") from exc
    try:
        fault = faults.apply(name, context)
    except KeyError as exc:
        raise FaultUnavailable(f"unknown fault {name!r}: {exc}") from exc
    if not isinstance(fault, Fault):
        raise FaultUnavailable(f"faults.apply({name!r}) returned {type(fault).__name__}, not a Fault")
    return fault
