"""Per-scenario cost of the wire: `python -m harness.bench.wire [rounds]`.

- origin: origin() + one GET from a plain socket + finish() (recording and close)
- exchange: exchange() of one GET against a trivial local server (a keep-alive origin)
"""

from __future__ import annotations

import socket
import statistics
import sys
import time
from collections.abc import Callable

from harness.wire import Wire

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"


def _origin_round_trip(wire: Wire) -> None:
    origin = wire.origin([{"body": ["hello"]}])
    with socket.create_connection(("127.0.0.1", origin.port)) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        while len(got) < len(RESPONSE):
            got += s.recv(4096)
    assert got == RESPONSE, got
    assert len(origin.finish()["requests"]) == 1


def _measure(fn: Callable[[], None], rounds: int) -> list[float]:
    for _ in range(max(rounds // 10, 5)):  # warm up
        fn()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return times


def _report(name: str, times: list[float]) -> None:
    q = statistics.quantiles(times, n=10)
    print(
        f"{name:<44} median {statistics.median(times):.3f} ms   p90 {q[-1]:.3f} ms   ({len(times)} rounds)"
    )


def main(argv: list[str]) -> None:
    rounds = int(argv[0]) if argv else 300
    with Wire() as wire:
        _report(
            "origin()+GET+finish()", _measure(lambda: _origin_round_trip(wire), rounds)
        )
        with wire.origin([{"body": ["hello"]}]) as server:
            request = [{"method": "GET", "target": "/", "headers": [["Host", "x"]]}]
            addresses = [("127.0.0.1", server.port)]

            def one_exchange() -> None:
                (res,) = wire.exchange(request, addresses, 5)["responses"]
                assert res["status"] == 200 and res["error"] is None, res

            _report("exchange() of one GET", _measure(one_exchange, rounds))


if __name__ == "__main__":
    main(sys.argv[1:])
