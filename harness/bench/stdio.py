"""Benchmark the stdio targets: process start time and per-scenario round trip.

    python -m harness.bench.stdio [node|bun|deno ...] [-n 200] [--starts 5] [--no-server]

For each runtime: the median time from spawning the driver to its first reply (over
``--starts`` fresh processes), then the median and p90 round trip of ``-n`` client
scenarios (a GET with a small body, one scripted origin reused by all of them), and of
``-n`` server scenarios (one request through the raw client), measured around
``Target.run`` so they include JSON encoding, the pipe and the executor.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from harness.observations import Json, WireRecord
from harness.targets import registry
from harness.targets.runtime.stdio import StdioTarget
from harness.wire import Wire

RUNTIMES = ("node", "bun", "deno")


def _client(port: int, i: int) -> Json:
    return {
        "kind": "client", "id": f"bench.client/{i}", "timeout_ms": 5000,
        "client": {
            "call": "request",
            "args": [{"host": "127.0.0.1", "port": port, "path": f"/bench/{i}", "headers": {"X-I": str(i)}}],
            "ops": [{"op": "end", "args": []}],
            "response": {"encoding": None},
        },
    }


def _server(i: int) -> Json:
    return {
        "kind": "server", "id": f"bench.server/{i}", "timeout_ms": 5000,
        "servers": [{"options": {}, "listen": 0, "handler": [
            {"op": "res.setHeader", "args": ["X-I", str(i)]},
            {"op": "res.end", "args": ["ok"]},
        ]}],
        "requests": [{"server": 0, "method": "GET", "target": f"/bench/{i}", "version": "1.1",
                      "headers": [["Host", "h"]], "framing": "none", "body": [],
                      "close_after_head": False, "raw": None}],
    }


def _ms(seconds: list[float]) -> str:
    values = sorted(s * 1000 for s in seconds)
    p90 = values[min(len(values) - 1, int(len(values) * 0.9))]
    return f"median {statistics.median(values):7.2f} ms  p90 {p90:7.2f} ms  (n={len(values)})"


def bench(name: str, n: int, starts: int, server: bool, wire: Wire) -> bool:
    target = registry.create(name)
    assert isinstance(target, StdioTarget)
    if not target.installed():
        print(f"{name}: not installed; run `{target.install_hint()}`")
        return False
    start_times = []
    for _ in range(starts):
        t0 = time.perf_counter()
        target.start()
        start_times.append(time.perf_counter() - t0)
        target.stop()
    print(f"{name} {target.version()}")
    print(f"  process start (spawn -> first reply): {_ms(start_times)}")
    target.start()
    ok = True
    try:
        with wire.origin([{"status": 200, "headers": [["Content-Type", "text/plain"]], "body": ["hello"]}]) as origin:
            for i in range(5):  # warm up
                target.run(_client(origin.port, i), None)
            times = []
            for i in range(n):
                t0 = time.perf_counter()
                obs = target.run(_client(origin.port, i), None)
                times.append(time.perf_counter() - t0)
                if obs["status"] != "ok":
                    print(f"  client scenario {i}: {obs['status']}: {obs['detail']}")
                    ok = False
        print(f"  client scenario round trip:           {_ms(times)}")
        if server:
            times = []
            for i in range(n):
                scenario = _server(i)
                t0 = time.perf_counter()

                def exchange(addresses: list[tuple[str, int]], s: Json = scenario) -> WireRecord:
                    return wire.exchange(s["requests"], addresses, 5.0)

                obs = target.run(scenario, exchange)
                times.append(time.perf_counter() - t0)
                if obs["status"] != "ok":
                    print(f"  server scenario {i}: {obs['status']}: {obs['detail']}")
                    ok = False
            print(f"  server scenario round trip:           {_ms(times)}")
    finally:
        target.stop()
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.bench.stdio", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runtimes", nargs="*", metavar="RUNTIME", help=f"any of {', '.join(RUNTIMES)} (default: all)")
    parser.add_argument("-n", type=int, default=200, help="scenarios per kind (default 200)")
    parser.add_argument("--starts", type=int, default=5, help="process starts to time (default 5)")
    parser.add_argument("--no-server", action="store_true", help="skip the server scenarios")
    args = parser.parse_args(argv)
    unknown = [r for r in args.runtimes if r not in RUNTIMES]
    if unknown:
        parser.error(f"unknown runtime(s) {', '.join(unknown)}; choose from {', '.join(RUNTIMES)}")
    ok = True
    with Wire() as wire:
        for name in args.runtimes or RUNTIMES:
            ok = bench(name, args.n, args.starts, not args.no_server, wire) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
