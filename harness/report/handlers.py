"""The handlers of a run's events, shared by the pytest plugin and `python -m harness run`.

Each says what it has to say through `say` (the CLI prints; the plugin keeps the lines for
its terminal summary).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from harness.events import CellFinished, Document, Handler, RunFinished
from harness.report import causes as causing
from harness.report import gate as gating
from harness.report import results as store
from harness.report.render import render_all

Say = Callable[[str], None]


class Progress(Handler):
    """One line per finished cell: `[n/total elapsed] target status behavior`."""

    def __init__(self, total: int, say: Say) -> None:
        self.total = total
        self.say = say
        self.done = 0
        self.began = time.monotonic()

    def on_cell(self, event: CellFinished) -> None:
        self.done += 1
        cell = event.cell
        self.say(f"[{self.done}/{self.total} {time.monotonic() - self.began:6.1f}s] {cell.target:8} "
                 f"{cell.status:11} {cell.behavior.id}")


def summary_lines(doc: Document) -> list[str]:
    """Per target: its count of each status, examples run, time, processes started; then,
    per target with findings, how many causes they come from (the causes view of the matrix)."""
    counts: dict[str, dict[str, int]] = {}
    examples: dict[str, int] = {}
    for rec in doc["results"]:
        per = counts.setdefault(rec["target"], {})
        per[rec["status"]] = per.get(rec["status"], 0) + 1
        examples[rec["target"]] = examples.get(rec["target"], 0) + rec["examples_run"]
    lines = []
    for target, per in counts.items():
        t = doc["targets"].get(target, {})
        procs = f", {t['processes_started']} process(es) started" if "processes_started" in t else ""
        lines.append(f"{target}: " + ", ".join(f"{n} {s}" for s, n in sorted(per.items()))
                     + f"  [{examples[target]} examples, {t.get('wall_s', 0):.1f} s{procs}]")
    grouped = causing.group(doc)
    for target, per in counts.items():
        line = causing.summary(target, grouped.get(target, []), per)
        if line:
            lines.append(line)
    return lines


class Summary(Handler):
    def __init__(self, say: Say) -> None:
        self.say = say

    def on_run(self, event: RunFinished) -> None:
        for line in summary_lines(event.document):
            self.say(line)


class ReportWriter(Handler):
    """results.json and the matrix in every format."""

    def __init__(self, report_dir: Path, say: Say) -> None:
        self.report_dir = report_dir
        self.say = say
        self.written: list[Path] = []

    def on_run(self, event: RunFinished) -> None:
        doc = event.document
        self.written = [store.write(doc, self.report_dir), *render_all(doc, self.report_dir)]
        for path in self.written:
            self.say(f"wrote {path}")


class Gate(Handler):
    """The run against reports/baselines/<target>.json, with the gate's exit code
    (harness/report/gate.py: 0 nothing regressed, 1 a regression, 2 the run cannot be judged,
    a missing baseline included), the same for `pytest --gate`, `run --gate` and `gate`."""

    def __init__(self, targets: list[str] | None, base_dir: Path, say: Say) -> None:
        self.targets = targets
        self.base_dir = base_dir
        self.say = say
        self.reports: list[gating.GateReport] = []
        self.reasons: list[str] = []  # why the run cannot be judged
        self.ran = False

    def on_run(self, event: RunFinished) -> None:
        doc = event.document
        self.ran = True
        targets = self.targets or sorted({r["target"] for r in doc["results"]})
        try:
            self.reports = gating.gate_all(doc, targets, self.base_dir)
        except gating.BaselineError as exc:
            self.reports, self.reasons = [], [str(exc)]
        else:
            self.reasons = gating.unusable(doc, targets, self.reports)
        for report in self.reports:
            for line in report.lines():
                self.say(line)
        for reason in self.reasons:
            self.say(f"gate: the run cannot be judged: {reason}")

    @property
    def exit_code(self) -> int:
        return gating.exit_code(self.reports, self.reasons) if self.ran else 2

    @property
    def ok(self) -> bool:
        return self.exit_code == 0
