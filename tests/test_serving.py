"""harness/targets/runtime/serving.py: a target waits for its reply by running the loop that
serves the scenario's origin, so the origin answers while the runner's thread waits."""

from __future__ import annotations

import asyncio
import os
import time

from harness.targets.runtime.serving import wait_readable


def test_the_loop_runs_while_waiting_and_the_reply_ends_the_wait() -> None:
    loop = asyncio.new_event_loop()
    r, w = os.pipe()
    ran: list[str] = []
    try:
        def origin_work() -> None:  # what an origin does while the runtime works
            ran.append("origin")
            os.write(w, b"reply\n")  # the runtime answers after the origin served it

        loop.call_later(0.05, origin_work)
        started = time.monotonic()
        assert wait_readable(r, 5.0, loop) is True
        assert ran == ["origin"]
        assert time.monotonic() - started < 2.0
        assert os.read(r, 100) == b"reply\n"
    finally:
        os.close(r)
        os.close(w)
        loop.close()


def test_no_reply_within_the_timeout_is_false_and_the_loop_is_left_clean() -> None:
    loop = asyncio.new_event_loop()
    r, w = os.pipe()
    try:
        started = time.monotonic()
        assert wait_readable(r, 0.1, loop) is False
        assert 0.09 <= time.monotonic() - started < 2.0
        os.write(w, b"x")  # the reader was removed: nothing runs on the loop now
        loop.run_until_complete(asyncio.sleep(0.01))
    finally:
        os.close(r)
        os.close(w)
        loop.close()
