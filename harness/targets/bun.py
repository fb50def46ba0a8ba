"""The bun target: the pinned Bun running the stdio driver with its node:http."""

from __future__ import annotations

from harness.targets.runtime.stdio import StdioTarget


class BunTarget(StdioTarget):
    name = "bun"
