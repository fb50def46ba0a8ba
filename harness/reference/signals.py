"""AbortController / AbortSignal, the small part of the DOM API node:http uses."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from .errors import AbortError, NodeError


class AbortSignal:
    """A signal that can be aborted once; listeners of 'abort' run synchronously."""

    def __init__(self) -> None:
        self.aborted = False
        self.reason: Any = None
        self._listeners: list[Callable[[], Any]] = []

    def add_event_listener(self, event: str, listener: Callable[[], Any]) -> None:
        if event == "abort":
            self._listeners.append(listener)

    def remove_event_listener(self, event: str, listener: Callable[[], Any]) -> None:
        if event == "abort" and listener in self._listeners:
            self._listeners.remove(listener)

    def throw_if_aborted(self) -> None:
        if self.aborted:
            raise self.reason

    def _abort(self, reason: Any = None) -> None:
        if self.aborted:
            return
        self.aborted = True
        self.reason = AbortError("This operation was aborted") if reason is None else reason
        for listener in list(self._listeners):
            listener()

    @staticmethod
    def abort(reason: Any = None) -> AbortSignal:
        """An already aborted signal."""
        signal = AbortSignal()
        signal._abort(reason)
        return signal

    @staticmethod
    def timeout(ms: float) -> AbortSignal:
        """A signal aborted `ms` milliseconds from now (needs a running loop)."""
        signal = AbortSignal()
        reason = NodeError("The operation was aborted due to timeout", "ABORT_ERR")
        reason.name = "TimeoutError"
        asyncio.get_running_loop().call_later(ms / 1000, signal._abort, reason)
        return signal


class AbortController:
    """Owns a signal; abort() aborts it."""

    def __init__(self) -> None:
        self.signal = AbortSignal()

    def abort(self, reason: Any = None) -> None:
        self.signal._abort(reason)


def is_signal(value: Any) -> bool:
    """AbortSignal, an asyncio.Event, or anything shaped like an AbortSignal."""
    return isinstance(value, (AbortSignal, asyncio.Event)) or (
        hasattr(value, "aborted") and hasattr(value, "add_event_listener")
    )
