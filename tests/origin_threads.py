"""Which thread served each connection an origin accepted: tests of where origins live
(harness/targets/runtime/serving.py)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from harness.wire.origin import OriginServer


def record_serving_threads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The list every origin's accepted connection appends its serving thread's ident to."""
    served_on: list[int] = []
    real_serve = OriginServer._serve

    async def serve(self: OriginServer, reader: Any, writer: Any) -> None:
        served_on.append(threading.get_ident())
        await real_serve(self, reader, writer)

    monkeypatch.setattr(OriginServer, "_serve", serve)
    return served_on
