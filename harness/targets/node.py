"""The node target: the pinned Node.js LTS (runtimes/package.json) running the stdio driver."""

from __future__ import annotations

from harness.targets.runtime.stdio import StdioTarget


class NodeTarget(StdioTarget):
    """Node itself: the baseline every behavior is written from."""

    name = "node"
