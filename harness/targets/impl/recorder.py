"""The scenario recorder of the impl executor: clock, deadline, waiters (executor.mjs Recorder).

Lives on the target's asyncio loop. Events are appended until the recorder is frozen;
"wake me when this holds" conditions are re-checked after every recorded event.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from harness.observations import Json
from harness.targets.impl.tags import OWNER, error_record
from harness.vocabulary import timing

# Recorders of the scenarios running now, so the loop's exception handler can attribute
# an exception raised in a reference callback to them (executor.mjs recordUncaught).
ACTIVE: set[Recorder] = set()


class Recorder:
    def __init__(self, timeout_ms: Any) -> None:
        self.loop = asyncio.get_running_loop()
        self.t0 = time.perf_counter()
        self.frozen = False
        self.timed_out = False
        self.uncaught: list[Json] = []
        self.timeout_ms = timeout_ms if isinstance(timeout_ms, (int, float)) and timeout_ms > 0 else timing("default_timeout_ms")
        self.deadline: asyncio.Future[str] = self.loop.create_future()
        self._conds: list[tuple[Callable[[], bool], asyncio.Future[bool]]] = []
        self._timers: set[asyncio.TimerHandle] = set()
        self._deadline_timer = self.loop.call_later(self.timeout_ms / 1000, self._expire)
        ACTIVE.add(self)

    def t(self) -> float:
        return round((time.perf_counter() - self.t0) * 1000, 3)

    def _expire(self) -> None:
        self.timed_out = True
        if not self.deadline.done():
            self.deadline.set_result("timeout")

    def event(self, target: list[Json], rec: Json) -> None:
        if not self.frozen:
            target.append(rec)
        self.poke()

    def set_timer(self, fn: Callable[[], Any], ms: float) -> asyncio.TimerHandle:
        def run() -> None:
            self._timers.discard(handle)
            try:
                fn()
            except Exception as exc:  # noqa: BLE001 - recorded, as the JS executor does
                self.uncaught.append({"src": "process", "name": "timer_error", "t": self.t(),
                                      "error": error_record(exc)})

        handle = self.loop.call_later(max(0.0, float(ms or 0)) / 1000, run)
        self._timers.add(handle)
        return handle

    async def sleep(self, ms: Any) -> None:
        """Sleep `ms`, cut short by the scenario deadline."""
        fut: asyncio.Future[None] = self.loop.create_future()
        ms = ms if isinstance(ms, (int, float)) else 0
        self.set_timer(lambda: None if fut.done() else fut.set_result(None), ms)
        await self.first(fut)

    def until(self, pred: Callable[[], bool]) -> asyncio.Future[bool]:
        fut: asyncio.Future[bool] = self.loop.create_future()
        if _holds(pred):
            fut.set_result(True)
        else:
            self._conds.append((pred, fut))
        return fut

    async def until_or_deadline(self, pred: Callable[[], bool]) -> str:
        # Once the deadline passed it wins even if pred holds, as Promise.race does in
        # executor.mjs (the deadline's reaction is queued first).
        if self.timed_out:
            return "timeout"
        fut = self.until(pred)
        return "done" if await self.first(fut) and not self.timed_out else "timeout"

    async def first(self, fut: asyncio.Future[Any]) -> bool:
        """Wait for `fut` or the deadline; True if `fut` finished first."""
        if not fut.done():
            await asyncio.wait({fut, self.deadline}, return_when=asyncio.FIRST_COMPLETED)
        return fut.done()

    def poke(self) -> None:
        for cond in list(self._conds):
            pred, fut = cond
            if fut.done():
                self._conds.remove(cond)
            elif _holds(pred):
                self._conds.remove(cond)
                fut.set_result(True)

    def close(self) -> None:
        self.frozen = True
        self._deadline_timer.cancel()
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        for _, fut in self._conds:
            fut.cancel()
        self._conds.clear()
        if not self.deadline.done():
            self.deadline.cancel()
        ACTIVE.discard(self)


def _holds(pred: Callable[[], bool]) -> bool:
    try:
        return bool(pred())
    except Exception:  # noqa: BLE001 - a predicate that throws does not hold
        return False


def record_uncaught(kind: str, err: BaseException, loop: asyncio.AbstractEventLoop) -> int:
    """Attach an exception raised outside any listener to every scenario running on `loop`,
    or only to the scenario whose data made it (tags.owned), nowhere if that one ended."""
    owner = getattr(err, OWNER, None)
    if owner is not None:
        running = [owner] if owner in ACTIVE else []
    else:
        running = [rec for rec in ACTIVE if rec.loop is loop]
    for rec in running:
        if not rec.frozen:
            rec.uncaught.append({"src": "process", "name": kind, "t": rec.t(), "error": error_record(err)})
        rec.poke()
    return len(running)
