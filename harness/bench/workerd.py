"""Benchmark the workerd target: start time and per-scenario cost.

    python -m harness.bench.workerd [--n 200] [--starts 5]

Prints the time from spawning workerd to its first answer (and the whole of
``start()``, which also writes the config and creates the control client), then the median (and p90)
wall time of ``WorkerdTarget.run`` for N client scenarios (one GET to a scripted origin
on loopback) and N server scenarios (one server, one raw GET through the bridge). The
origin and the raw client are the harness's own (harness.wire); their set-up is outside
the timed part for client scenarios, and the exchange is inside it for server scenarios,
as a real run would have it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from harness.observations import Json, Observations
from harness.targets.workerd import WorkerdTarget


def _summary(label: str, samples_ms: list[float]) -> str:
    ordered = sorted(samples_ms)
    p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    return (f"{label}: median {statistics.median(ordered):.2f} ms, p90 {p90:.2f} ms, "
            f"min {ordered[0]:.2f} ms, n={len(ordered)}")


def _timed(n: int, once: Callable[[int], Observations]) -> list[float]:
    samples = []
    for i in range(n):
        t0 = time.perf_counter()
        obs = once(i)
        samples.append((time.perf_counter() - t0) * 1000)
        if obs.get("status") != "ok":
            raise SystemExit(f"scenario {i} did not run cleanly: {obs.get('status')}: "
                             f"{obs.get('detail')}")
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="scenarios of each kind")
    parser.add_argument("--starts", type=int, default=5, help="cold starts to time")
    args = parser.parse_args(argv)

    from harness.wire import Wire

    probe = WorkerdTarget()
    if not probe.installed():
        print(f"workerd is not installed; install it with: {probe.install_hint()}", file=sys.stderr)
        return 2
    print(f"workerd: {probe.version()}")

    starts, spawns = [], []
    for _ in range(args.starts):
        t = WorkerdTarget()
        t0 = time.perf_counter()
        t.start()
        starts.append((time.perf_counter() - t0) * 1000)
        spawns.append(t.start_ms or 0.0)
        t.stop()
    print(_summary("workerd start (spawn to first answer)", spawns))
    print(_summary("target.start() (config, control client, spawn)", starts))

    wire = Wire()
    target = WorkerdTarget()
    target.start()
    try:
        origin = wire.origin([{"action": "respond", "status": 200, "reason": "OK",
                               "headers": [["Content-Type", "text/plain"]],
                               "framing": "content-length",
                               "body": [{"data": "hello", "delay_ms": 0}]}])
        client: Json = {
            "kind": "client", "id": "bench.client", "timeout_ms": 5000,
            "client": {"call": "request",
                       "args": [{"host": "127.0.0.1", "port": origin.port, "path": "/b"}],
                       "ops": [{"op": "end", "args": []}],
                       "response": {"encoding": None, "pause_ms": 0, "iterate": False,
                                    "destroy_after_bytes": None},
                       "on_timeout": "destroy"},
            "origin": {"responses": []},
        }
        server: Json = {
            "kind": "server", "id": "bench.server", "timeout_ms": 5000,
            "servers": [{"options": {}, "listen": 0, "bridge": "httpServerHandler",
                         "handler": [{"op": "res.setHeader", "args": ["X-A", "1"]},
                                     {"op": "res.end", "args": ["bye"]}]}],
            "requests": [{"server": 0, "method": "GET", "target": "/x", "version": "1.1",
                          "headers": [["Host", "h"]], "framing": "none", "body": [],
                          "close_after_head": False, "raw": None}],
        }

        def exchange(addresses: list[tuple[str, int]]) -> Any:
            return wire.exchange(server["requests"], addresses, 5.0)

        warm = 10
        _timed(warm, lambda i: target.run(client, None))
        print(_summary(f"client scenario ({args.n})", _timed(args.n, lambda i: target.run(client, None))))
        origin.close()
        _timed(warm, lambda i: target.run(server, exchange))
        print(_summary(f"server scenario ({args.n})", _timed(args.n, lambda i: target.run(server, exchange))))
        print(f"restarts during the run: {target.restarts}")
    finally:
        target.stop()
        wire.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
