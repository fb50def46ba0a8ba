"""Milliseconds since a scenario's origin or exchange started (the harness clock)."""

from __future__ import annotations

import time


class Clock:
    def __init__(self) -> None:
        self._start = time.perf_counter()

    def ms(self) -> float:
        return round((time.perf_counter() - self._start) * 1000.0, 3)
