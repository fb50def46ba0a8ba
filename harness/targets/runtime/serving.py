"""Waiting for a runtime's reply while serving the scenario's origin on the same thread.

A client scenario's origin used to live on the wire's thread while the runner's thread
blocked on the runtime's pipe or socket: each example then paid hand-offs between the two
threads (the origin waking, the finish call and its answer). A target with a process waits
instead by running a loop of its own (ProcessTarget.origin_loop) on which the runner opens
the origin (harness/wire/background.py): the reply wakes that loop as the origin's sockets
do. (impl serves it on the loop its reference runs on: ImplTarget.origin_loop.) Measured with
one session per target, 100-example rounds of `client.headers.case-preserved-on-wire`
alternated between the two ways, medians of 7 rounds, Python CPU per example: node 1.35
instead of 1.78-1.90 ms, deno 1.36 instead of 1.72, bun 1.17 instead of 1.48, workerd 2.20
instead of 2.73, impl 6.7 instead of 8.2.
"""

from __future__ import annotations

import asyncio

DRAIN_S = 2.0  # the most an idle loop's leftover tasks may take to end before it closes


def wait_readable(fd: int, timeout_s: float, serving: asyncio.AbstractEventLoop) -> bool:
    """Whether fd became readable within timeout_s, running `serving` meanwhile. The loop runs
    until a callback stops it (no future, whose done callback costs the loop one more turn)."""
    readable = False

    def wake() -> None:
        nonlocal readable
        readable = True
        serving.stop()

    serving.add_reader(fd, wake)
    timer = serving.call_later(max(timeout_s, 0.0), serving.stop)
    try:
        serving.run_forever()
    finally:
        timer.cancel()
        serving.remove_reader(fd)
    return readable


def drain(loop: asyncio.AbstractEventLoop) -> None:
    """Let the tasks an idle loop still holds end (the connections of the last scenario's
    origin, cancelled at its end: harness/wire/origin.py, OriginHandle.finish) before it closes."""
    tasks = asyncio.all_tasks(loop)
    if tasks:
        loop.run_until_complete(asyncio.wait(tasks, timeout=DRAIN_S))
