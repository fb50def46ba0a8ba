"""EventEmitter with Node's semantics.

Listeners run synchronously, in registration order, inside `emit`. `once` listeners are
removed before they run. Emitting 'error' with no listener raises the error (Node would
crash the process); a non-exception payload is wrapped in ERR_UNHANDLED_ERROR.

Capture of rejections (Node's ``captureRejections``): ``EventEmitter.capture_rejections``
is the default of emitters constructed afterwards (``events.captureRejections``). An
emitter that captures hands a listener's awaitable, once it fails, to ``_on_rejection``
on the next loop turn; by default that emits 'error' (Node's ``Symbol.for('nodejs.rejection')``).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

from .errors import unhandled_error

Listener = Callable[..., Any]


class _Once:
    __slots__ = ("listener",)

    def __init__(self, listener: Listener) -> None:
        self.listener = listener


class EventEmitter:
    """on / once / off / emit / listener_count, plus Node's aliases."""

    capture_rejections = False  # events.captureRejections: read by each new emitter

    def __init__(self) -> None:
        self._events: dict[str, list[Listener | _Once]] = {}
        self._capture = EventEmitter.capture_rejections

    def on(self, event: str, listener: Listener) -> EventEmitter:
        self._events.setdefault(event, []).append(listener)
        self._listener_added(event)
        return self

    add_listener = on

    def prepend_listener(self, event: str, listener: Listener) -> EventEmitter:
        self._events.setdefault(event, []).insert(0, listener)
        self._listener_added(event)
        return self

    def once(self, event: str, listener: Listener) -> EventEmitter:
        self._events.setdefault(event, []).append(_Once(listener))
        self._listener_added(event)
        return self

    def off(self, event: str, listener: Listener) -> EventEmitter:
        entries = self._events.get(event, [])
        # Node removes the most recently added matching listener.
        for i in range(len(entries) - 1, -1, -1):
            entry = entries[i]
            if entry is listener or (isinstance(entry, _Once) and entry.listener is listener):
                del entries[i]
                break
        return self

    remove_listener = off

    def remove_all_listeners(self, event: str | None = None) -> EventEmitter:
        if event is None:
            self._events.clear()
        else:
            self._events.pop(event, None)
        return self

    def listeners(self, event: str) -> list[Listener]:
        return [e.listener if isinstance(e, _Once) else e for e in self._events.get(event, [])]

    def listener_count(self, event: str) -> int:
        return len(self._events.get(event, []))

    def event_names(self) -> list[str]:
        return [name for name, entries in self._events.items() if entries]

    def emit(self, event: str, *args: Any) -> bool:
        """Call every listener; True if there was at least one."""
        entries = self._events.get(event)
        if not entries:
            if event == "error":
                err = args[0] if args else None
                raise err if isinstance(err, BaseException) else unhandled_error(err)
            return False
        for entry in list(entries):  # a copy: listeners may add or remove listeners
            if isinstance(entry, _Once):
                if entry in entries:
                    entries.remove(entry)
                result = entry.listener(*args)
            else:
                result = entry(*args)
            if result is not None and getattr(self, "_capture", False) and inspect.isawaitable(result):
                self._catch(asyncio.ensure_future(result), event, args)
        return True

    def _catch(self, pending: asyncio.Future[Any], event: str, args: tuple[Any, ...]) -> None:
        def settled(done: asyncio.Future[Any]) -> None:
            err = None if done.cancelled() else done.exception()
            if err is not None:
                done.get_loop().call_soon(self._on_rejection, err, event, *args)

        pending.add_done_callback(settled)

    def _on_rejection(self, err: BaseException, event: str, *args: Any) -> None:
        """A captured rejection of a listener of `event`: emitted as 'error' (not captured)."""
        capture, self._capture = getattr(self, "_capture", False), False
        try:
            self.emit("error", err)
        finally:
            self._capture = capture

    def _listener_added(self, event: str) -> None:
        """Hook for subclasses (Readable starts flowing when 'data' gets a listener)."""
