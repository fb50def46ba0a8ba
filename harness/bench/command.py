"""`python -m harness bench`: what the harness costs per example over the bare exchange.

For each target, in one run: (a) the bare loop, drivers/bench.mjs inside the runtime
(impl: harness/bench/bare_reference.py on the reference), timed inside the runtime; (b) the
same exchanges as examples of real behaviors (MIX) through the harness (Session.run_examples:
scenario built, origin made, target run, verdict), each timed from the end of the one
before (as the suite runs them, the next scenario begun while one is judged), less the
delays its scenario asks for. Both sides are first warmed up untimed (WARM_EXCHANGES, WARM_EXAMPLES),
then alternate in ROUNDS rounds, so both are sampled over the same
seconds: measured one block after the other, a change in the VM's speed between the blocks
moved a ratio by a third from one run to the next. Per target and kind it prints the
medians, their ratio (b)/(a) and examples per second, then the target's start-up time and
the spec-loading time; last, `bench: worst ratio R on TARGET`. Timing is never a test:
this command only reports.
"""

from __future__ import annotations

import base64
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.observations import Json
from harness.spec.model import Behavior

# The mix: one client and one server behavior whose exchange the bare loop repeats (a GET
# with one generated header to a 200 origin; a GET answered by res.end(body)).
MIX = {"client": "client.headers.case-preserved-on-wire", "server": "server.create-listen"}
SEED = 20261126  # inputs are drawn from this seed, so runs compare
# Untimed before the first round, so that both sides are measured warm: V8's and JSC's
# compilers take a loop's code only after some hundreds of runs (node's bare server exchange:
# 0.45 ms for the first 50, 0.2 ms after 400; with 10 warm-up exchanges, as before, the bare
# figure was the cold one and node's server ratio read 2.5-2.9 instead of 3.3-3.7).
WARM_EXCHANGES = 500  # bare exchanges of each kind (at most 2n)
WARM_EXAMPLES = 100  # examples of each kind through the harness (at most n)
REWARM = 3  # untimed bare exchanges before each round's timed ones (the harness ran in between)
ROUNDS = 10  # bare and harness alternate this many times
PER_ROUND = 10  # at least this many examples a round
BARE_TIMEOUT_S = 120.0


@dataclass
class Kind:
    """One kind of the mix on one target: per-example milliseconds, bare and through the harness."""

    name: str
    bare_ms: list[float]
    harness_ms: list[float]
    loop_means: bool = False  # bare_ms holds each round's mean (workerd), not each exchange

    @property
    def bare(self) -> float:
        return statistics.median(self.bare_ms)

    @property
    def ratio(self) -> float:
        return statistics.median(self.harness_ms) / max(self.bare, 1e-3)

    def line(self) -> str:
        harness = statistics.median(self.harness_ms)
        per_s = len(self.harness_ms) / (sum(self.harness_ms) / 1000)
        how = "bare: the median of the rounds' means" if self.loop_means else "medians"
        return (f"  {self.name:<6} bare {self.bare:6.2f} ms  harness {harness:6.2f} ms  ratio {self.ratio:5.2f}"
                f"  {per_s:6.0f} examples/s  ({how}, n={len(self.harness_ms)})")


def asked_delay_ms(node: Any) -> float:
    """The waits a scenario asks for: `wait` ops' ms and every delay_ms / pause_ms in it."""
    if isinstance(node, list):
        return sum(asked_delay_ms(x) for x in node)
    if not isinstance(node, dict):
        return 0.0
    own = sum(float(node[k]) for k in ("delay_ms", "pause_ms") if isinstance(node.get(k), int | float))
    if node.get("op") == "wait" and isinstance(node.get("ms"), int | float):
        own += float(node["ms"])
    return own + sum(asked_delay_ms(v) for v in node.values() if isinstance(v, dict | list))


def draw_inputs(behavior: Behavior, n: int) -> list[Mapping[str, Any]]:
    """n inputs of the behavior from Hypothesis (seeded), cycled if it draws fewer."""
    from hypothesis import HealthCheck, Phase, given, seed, settings

    from harness.strategies import compile_given

    drawn: list[Mapping[str, Any]] = []

    @settings(max_examples=n, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @seed(SEED)
    @given(compile_given(behavior.given))
    def collect(inputs: dict[str, Any]) -> None:
        drawn.append(inputs)

    collect()
    return [drawn[i % len(drawn)] for i in range(n)]


def _through_harness(session: Any, target: Any, behavior: Behavior, inputs: list[Mapping[str, Any]],
                     first: int) -> list[float]:
    """Per example: the time since the previous one was judged (as the suite runs them:
    Session.run_examples, the next scenario begun while this one is judged), less the delays
    its scenario asks for."""
    out = []
    t0 = time.perf_counter()
    run = session.run_examples(behavior, target, inputs, "bench", first)
    try:
        for example in run:
            t1 = time.perf_counter()
            if example.observations.get("status") != "ok":
                raise BenchError(f"{behavior.id} on {target.name} did not run: "
                                 f"{example.observations.get('status')}: {example.observations.get('detail')}")
            out.append((t1 - t0) * 1000 - asked_delay_ms(example.scenario))
            t0 = t1
    finally:
        run.close()
    return out


class BenchError(Exception):
    """A target could not run the bench (not installed, a scenario that did not run)."""


def _bare(target: Any, spec: Json) -> Json:
    if target.name == "impl":
        from harness.bench.bare_reference import bench_loop

        result: Json = bench_loop(spec)
        return result
    if not hasattr(target, "bench_loop"):
        raise BenchError(f"{target.name} has no bare loop")
    if not target.name.startswith("workerd") or not spec["n"]:
        return _ask_bare(target, spec)
    # workerd's clock stands still between I/O (a Spectre mitigation) and ticks in whole ms:
    # each kind's loop is one request, timed from here; the same request with no timed
    # exchange is timed too, and the difference spread over the exchanges (the request's
    # own cost would otherwise count as the runtime's).
    out: Json = {}
    for kind in ("client", "server"):
        full = _timed_loop(target, {**spec, "kinds": [kind]})
        empty = _timed_loop(target, {**spec, "n": 0, "kinds": [kind]})
        out[f"{kind}_ms"] = [max(full - empty, 0.0) * 1000 / spec["n"]]
    return out


def _timed_loop(target: Any, spec: Json) -> float:
    t0 = time.perf_counter()
    _ask_bare(target, spec)
    return time.perf_counter() - t0


def _ask_bare(target: Any, spec: Json) -> Json:
    reply: Json = target.bench_loop(spec, BARE_TIMEOUT_S)
    if "error" in reply or reply.get("status", "ok") != "ok":
        raise BenchError(f"{target.name}: the bare loop failed: {reply.get('error') or reply.get('detail')}")
    return reply


def bare_origin(behavior: Behavior, inputs: Mapping[str, Any]) -> list[Json]:
    """The origin script of the bare client loop: the example's, answering `Connection:
    close`, so every exchange has a fresh connection as each client scenario has (a fresh
    origin). Node's agent: false closes it anyway; fetch-backed runtimes (impl, workerd) kept
    one connection for the whole loop, and their bare figure was a keep-alive exchange."""
    from harness.scenario import build

    responses = build(behavior, inputs, "bench.origin")["origin"]["responses"]
    return [{**r, "headers": [*(r.get("headers") or []), ["Connection", "close"]]} for r in responses]


def bench_target(session: Any, name: str, mix: dict[str, Behavior], n: int) -> list[Kind]:
    """The mix on one (started) target: a warm-up of both sides, then rounds (`rounds`), each
    a bare loop, then as many examples of each kind through the harness."""
    target = session.target(name)
    inputs = {kind: draw_inputs(b, n) for kind, b in mix.items()}
    client, server = inputs["client"][0], inputs["server"][0]  # the bare loop repeats the first example
    kinds = {kind: Kind(kind, [], [], loop_means=name.startswith("workerd")) for kind in ("client", "server")}
    with session.wire.origin(bare_origin(mix["client"], client)) as origin:
        spec: Json = {"client": {"host": "127.0.0.1", "port": origin.port, "header": [client["name"], client["value"]]},
                      "server": {"body_b64": base64.b64encode(server["body"]).decode(),
                                 "port": WORKERD_PORT_KEY if name.startswith("workerd") else 0}}
        _bare(target, {**spec, "n": 0, "warm": min(WARM_EXCHANGES, 2 * n)})
        for kind, behavior in mix.items():
            _through_harness(session, target, behavior, inputs[kind][:min(WARM_EXAMPLES, n)], n)
        for lo, hi in rounds(n):
            bare = _bare(target, {**spec, "n": hi - lo, "warm": min(REWARM, n)})
            for kind, k in kinds.items():
                k.bare_ms += bare[f"{kind}_ms"]
                k.harness_ms += _through_harness(session, target, mix[kind], inputs[kind][lo:hi], lo)
    return list(kinds.values())


def rounds(n: int) -> list[tuple[int, int]]:
    """The [lo, hi) slices of n examples for the ROUNDS rounds; fewer when n is small, so
    that each round's loop is long enough to time (workerd's difference of two loops)."""
    count = max(1, min(ROUNDS, n // PER_ROUND))
    return [(n * r // count, n * (r + 1) // count) for r in range(count)]


WORKERD_PORT_KEY = 48611  # workerd's servers listen on port-table keys, not sockets


BUSY_PORTS = 5000  # TIME_WAIT sockets above which bench says its figures may read high


def time_waits(tables: tuple[Path, ...] = (Path("/proc/net/tcp"), Path("/proc/net/tcp6"))) -> int:
    """TCP sockets in TIME_WAIT (state 06) on this machine; 0 where /proc has no such table."""
    count = 0
    for table in tables:
        try:
            lines = table.read_text().splitlines()[1:]
        except OSError:
            continue
        count += sum(1 for line in lines if line.split()[3:4] == ["06"])
    return count


def run(names: list[str], n: int, specs: Path, cases: Path, out: Callable[[str], None]) -> int:
    from harness.runner import Session
    from harness.spec import load_all

    waiting = time_waits()
    if waiting > BUSY_PORTS:  # README "Ports": a run less than a minute ago, whose binds are slower
        out(f"note: {waiting} TCP sockets in TIME_WAIT at the start (a run less than a minute ago?): "
            "binds search a fuller port range until they expire, and the figures may read high")
    t0 = time.perf_counter()
    behaviors = {b.id: b for b in load_all(specs, cases)}
    spec_s = time.perf_counter() - t0
    missing = sorted(set(MIX.values()) - set(behaviors))
    if missing:
        raise BenchError(f"the bench mix names behaviors {specs} does not hold: {', '.join(missing)}")
    mix = {kind: behaviors[bid] for kind, bid in MIX.items()}
    worst: tuple[float, str] | None = None
    session = Session(names, session_seed=SEED)
    try:
        for name in names:
            t1 = time.perf_counter()
            session.target(name)
            started_s = time.perf_counter() - t1
            kinds = bench_target(session, name, mix, n)
            out(f"{name} ({session.target(name).version()}): start-up {started_s:.2f} s, "
                f"spec loading {spec_s:.2f} s")
            for kind in kinds:
                out(kind.line())
                if worst is None or kind.ratio > worst[0]:
                    worst = (kind.ratio, name)
    finally:
        session.close()
    if worst is not None:
        out(f"bench: worst ratio {worst[0]:.2f} on {worst[1]}")
    return 0
