"""The little of Node's `process` that node:http reaches: `process.emitWarning`.

`process.on("warning", listener)` hears every warning the reference emits, as Node's
process 'warning' event does: the warning (a NodeError whose `name` is the warning's,
e.g. TimeoutOverflowWarning) is made when emit_warning is called and delivered on the
next turn of the event loop (Node: process.nextTick), or at once outside a loop. Node also
prints it to stderr; the reference prints nothing.
"""

from __future__ import annotations

import asyncio

from .errors import NodeError
from .events import EventEmitter


class NodeWarning(NodeError):
    """A warning as Node builds it: an Error whose name is the warning's type."""

    def __init__(self, message: str, name: str = "Warning") -> None:
        super().__init__(message)
        self.name = name


class Process(EventEmitter):
    def emit_warning(self, message: str, name: str = "Warning") -> None:
        warning = NodeWarning(message, name)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.emit("warning", warning)
            return
        loop.call_soon(self.emit, "warning", warning)


process = Process()
