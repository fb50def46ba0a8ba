"""What a run tells its handlers: a cell finished, the run finished.

The runner emits; the results writer, the renderers, the gate, the CLI's progress line and
the summary are handlers (harness/report/handlers.py), shared by the pytest plugin and the
CLI. A handler overrides the hooks it needs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.runner import CellResult

Record = dict[str, Any]  # one row of results.json
Document = dict[str, Any]  # results.json


@dataclass(frozen=True)
class CellFinished:
    cell: CellResult
    record: Record


@dataclass(frozen=True)
class RunFinished:
    document: Document


class Handler:
    def on_cell(self, event: CellFinished) -> None:
        pass

    def on_run(self, event: RunFinished) -> None:
        pass


class Dispatcher:
    """Hands each event to every handler, in the order given."""

    def __init__(self, handlers: Iterable[Handler] = ()) -> None:
        self.handlers = list(handlers)

    def emit(self, event: CellFinished | RunFinished) -> None:
        for handler in self.handlers:
            if isinstance(event, CellFinished):
                handler.on_cell(event)
            else:
                handler.on_run(event)
