"""python -m harness: lint, run, merge, report, replay, repro, gate, diff, targets, apps, faults, coverage, bench.

Bad input (harness/errors.py BadInput, a malformed spec) is refused by main(): one
paragraph on stderr, exit code 2, no traceback."""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path
from typing import Any

from harness import profiles
from harness.errors import BadInput, paragraph
from harness.inputs import SIDE_BY_SIDE_HELP, check_fault, check_targets
from harness.status import DEFAULT_RERUNS
from harness.watchdog import SCENARIO_TIMEOUT_HELP, SCENARIO_TIMEOUT_S

ROOT = Path.cwd()


def _load(specs: str, cases: str) -> list[Any]:
    from harness.inputs import check_specs_dir
    from harness.spec import load_all

    check_specs_dir(Path(specs))
    return load_all(Path(specs), Path(cases))


def _causes(specs: str) -> dict[str, Any]:
    from harness.spec.causes import CAUSES_FILE, load_causes

    return load_causes(Path(specs) / CAUSES_FILE)


def cmd_lint(args: argparse.Namespace) -> int:
    from harness.spec import SpecError
    from harness.spec.catalogue import check_catalogue
    from harness.spec.causes import check_causes

    catalogue = Path(args.catalogue)
    try:
        behaviors = _load(args.specs, args.cases)
        if catalogue.is_file():
            check_catalogue(behaviors, catalogue)
        surface = _lint_surface(Path(args.specs), behaviors)
        causes = _causes(args.specs)
        check_causes(behaviors, causes)
    except SpecError as exc:
        print(f"malformed spec: {exc}", file=sys.stderr)
        return 1
    if not catalogue.is_file():
        print(f"note: {catalogue} not found, catalogue ids not checked", file=sys.stderr)
    else:
        from harness.spec.catalogue import catalogue_ids

        rows = catalogue_ids(catalogue)
        cited = {c for b in behaviors for c in b.catalogue}
        print(f"catalogue: {len(cited & rows)} of {len(rows)} rows cited; not yet: "
              + ", ".join(sorted(rows - cited)))
    features: dict[str, int] = {}
    for b in behaviors:
        features[b.feature] = features.get(b.feature, 0) + 1
    cases = sum(len(b.cases) for b in behaviors)
    print(f"ok: {len(behaviors)} behaviors, {cases} cases; "
          + ", ".join(f"{f} {n}" for f, n in sorted(features.items())))
    if surface:
        print(surface)
    tagged = sum(1 for b in behaviors for a, _ in b.expect_entries() if a.get("cause"))
    print(f"ok: {len(causes)} named causes, {tagged} expect entries naming one")
    return 0


def _lint_surface(specs: Path, behaviors: list[Any]) -> str:
    """Validate api-surface.yaml, NOT-COVERED.md and node-tests.yaml (SpecError); a summary line."""
    from harness.spec.surface import SURFACE_FILE, load_surface_files

    if not (specs / SURFACE_FILE).is_file():
        return ""
    files = load_surface_files(specs, [b.id for b in behaviors])
    tests = "no node-tests.yaml" if files.node_tests is None else f"{len(files.node_tests)} node test files"
    return f"ok: {len(files.members)} api members, {len(files.reasons)} NOT-COVERED reasons, {tests}"


def cmd_coverage(args: argparse.Namespace) -> int:
    from harness.coverage import run

    return run(Path(args.specs), Path(args.cases), args.verbose,
               min_api=args.min_api if args.min_api is not None else args.min,
               min_tests=args.min_node_tests if args.min_node_tests is not None else args.min,
               tests_required=args.min_node_tests is not None)


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a fraction between 0 and 1, got {text!r}")
    return value


def cmd_run(args: argparse.Namespace) -> int:
    """The suite without pytest: same runner and handlers, progress on stderr, reports at the end."""
    from hypothesis import settings

    from harness.events import Dispatcher, Handler
    from harness.report.handlers import Gate, Progress, ReportWriter, Summary
    from harness.runner import Session, replay_order
    from harness.spec.record import CaseRecorder
    from harness.status import STATUS, Outcome
    from harness.targets import registry

    behaviors = [b for b in _load(args.specs, args.cases) if not args.k or args.k in b.id]
    targets = args.target or [registry.default_target()]
    check_targets(targets)
    check_fault(args.fault)
    shard = _shard(args.shard, args.seed)
    if args.gate:
        _baselines_exist(targets, Path(args.baselines))
    # behavior by behavior, every target's cell in a row: the inputs drawn once are replayed (runner.DrawnInputs)
    cells = [(t, b) for b in behaviors for t in replay_order(targets) if shard is None or shard.holds(b.id, t)]
    profiles.register()
    settings.load_profile(args.profile)
    gate = Gate(targets, Path(args.baselines), print) if args.gate else None
    handlers: list[Handler] = [Progress(len(cells), _stderr), Summary(_stderr),
                               ReportWriter(Path(args.report_dir), print), *([gate] if gate else [])]
    if args.record_cases:
        handlers.append(CaseRecorder(Path(args.record_cases), _stderr, args.fault))
    session = Session(targets, session_seed=args.seed or random.getrandbits(32),
                      base_settings=settings.default, fault=args.fault, report_dir=Path(args.report_dir),
                      oracle=args.oracle, log=_stderr, events=Dispatcher(handlers),
                      causes=_causes(args.specs), reruns=args.reruns, scenario_timeout=args.scenario_timeout,
                      shard=str(shard) if shard else None)
    try:
        for i, (target, b) in enumerate(cells):
            first = i == 0 or cells[i - 1][1] is not b
            then = [t for t, other in cells[i + 1:i + len(targets)] if other is b] if first and args.side_by_side else []
            session.run_cell_and_emit(b, target, then)
    except BaseException:  # interrupted: stop the targets, write nothing
        session.close()
        raise
    doc = session.finish(args.profile)
    if gate is not None and gate.exit_code:
        return gate.exit_code
    failed = any(STATUS[r["status"]].outcome is Outcome.FAILED for r in doc["results"])
    return 1 if failed else 0


def _baselines_exist(targets: list[str], base_dir: Path) -> None:
    from harness.report.gate import baseline_path

    for target in targets:
        if not baseline_path(base_dir, target).is_file():
            raise BadInput(f"no baseline for {target} at {baseline_path(base_dir, target)}: run without --gate, "
                           f"or accept a run with `python -m harness gate --update --target {target}`")


def _shard(text: str | None, seed: int | None) -> Any:
    """The Shard of `--shard K/N` (None without it); BadInput when it cannot run."""
    from harness.shard import Shard

    if text is None:
        return None
    shard = Shard.parse(text)
    if seed is None:
        raise BadInput(f"--shard {text} needs --seed N: the shards of one run must generate the same inputs "
                       f"(python -m harness merge refuses results of different seeds)")
    return shard


def cmd_merge(args: argparse.Namespace) -> int:
    from harness.report.merge import run

    return run(args.results, Path(args.report_dir), print, _stderr)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def _read_results(path: str) -> dict[str, Any]:
    """The results document (ResultsError, bad input, when it cannot be used)."""
    from harness.report.results import read

    return read(Path(path))


def cmd_report(args: argparse.Namespace) -> int:
    from harness.report.render import RENDERERS, render_all

    doc = _read_results(args.results)
    formats = args.format.split(",") if args.format else list(RENDERERS)
    out = Path(args.out) if args.out else Path(args.results).parent
    for path in render_all(doc, out, formats):
        print(f"wrote {path}")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    """Rerun the exact example of a repro file (written for every non-PASS cell)."""
    from harness.report.results import read_repro
    from harness.runner import Session
    from harness.scenario import from_json
    from harness.status import STATUS
    from harness.verdict import verdict

    rec = read_repro(Path(args.file))
    behaviors = {b.id: b for b in _load(args.specs, args.cases)}
    behavior = behaviors.get(rec["behavior"])
    if behavior is None:
        raise BadInput(f"{args.file}: behavior {rec['behavior']} is not in {args.specs}; "
                       f"replay it with the specs it was run with (--specs DIR)")
    if rec.get("inputs") is None:
        print(f"{args.file}: no example was recorded ({rec.get('status')}: {rec.get('message')}); "
              f"rerun the cell with pytest instead", file=sys.stderr)
        return 1
    target_name = args.target or rec["target"]
    check_targets([target_name], installed=False)
    check_fault(args.fault)
    causes = _causes(args.specs)
    session = Session([target_name], session_seed=rec.get("session_seed", 0),
                      fault=args.fault if args.fault is not None else rec.get("fault"), causes=causes)
    try:
        target = session.target(target_name)
        inputs = from_json(rec["inputs"] or {})
        example = session.run_example(behavior, target, inputs, "replay", 0)
    finally:
        session.close()
    v = verdict(behavior, target.profile, inputs, example.observations, causes)
    print(f"{behavior.id} on {target_name}: {v.status}")
    for failure in v.failures:
        print(f"{failure.written.location}: cause {failure.cause}")
        print("\n".join(f"    {line}" for line in failure.written.text.splitlines()))
    if v.message:
        print(v.message)
    if args.show:
        print(json.dumps(example.observations, indent=2, ensure_ascii=False))
    return 1 if STATUS[v.status].failing else 0


def cmd_gate(args: argparse.Namespace) -> int:
    from harness.events import RunFinished
    from harness.report import gate as gating
    from harness.report.handlers import Gate

    doc = _read_results(args.results)
    check_targets(args.target or [], installed=False)  # a name makes a baseline's file name
    base_dir = Path(args.baselines)
    if not args.update:
        _baselines_exist(args.target or sorted({r["target"] for r in doc["results"]}), base_dir)
        gate = Gate(args.target, base_dir, print)
        gate.on_run(RunFinished(doc))
        return gate.exit_code
    base_dir.mkdir(parents=True, exist_ok=True)
    for target in args.target or sorted({r["target"] for r in doc["results"]}):
        path = gating.baseline_path(base_dir, target)
        previous = gating.load_baseline(path) if args.merge and path.exists() else None
        baseline = gating.baseline_from(doc, target, previous)
        path.write_text(json.dumps(baseline, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {path}")
    return 0


def cmd_durations(args: argparse.Namespace) -> int:
    """reports/durations.json from a run's results: what harness/lanes.py deals the behaviors by."""
    from harness import durations

    doc = _read_results(args.results)
    out = Path(args.out)
    previous = None if args.replace else durations.load(out)
    written = durations.from_results(doc, previous)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(durations.dumps(written), encoding="utf-8")
    cells = sum(len(per_target) for per_target in written["seconds"].values())
    print(f"wrote {out}: {cells} cells of {len(written['seconds'])} behaviors "
          f"({len(doc['results'])} from {args.results}, profile {doc.get('hypothesis_profile')})")
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    from harness.report import diff

    cells = diff.diff(_read_results(args.old), _read_results(args.new))
    for line in diff.lines(cells):
        print(line)
    return 1 if cells else 0


def cmd_targets(args: argparse.Namespace) -> int:
    from harness.targets import registry

    if args.action == "install":
        from harness.targets.runtime import install

        try:
            names = list(dict.fromkeys(registry.info(n).base for n in args.names or registry.TARGETS
                                       if registry.info(n).from_npm))
            install.install(names)
        except (install.InstallError, KeyError, ValueError) as exc:
            print(f"install failed: {exc}", file=sys.stderr)
            return 1
        return 0
    check_targets(args.names, installed=False)
    rows = []
    for name in args.names or registry.TARGETS:
        try:
            t = registry.create(name)
            installed = t.installed()
            # the version says what the column runs (workerd: its compatibility date and flags)
            rows.append([name, _pinned(name), t.version() if installed else "-", t.profile,
                         "" if installed else t.install_hint()])
        except Exception as exc:  # a broken target module must not hide the others
            rows.append([name, "?", "-", "?", f"{type(exc).__name__}: {exc}"])
    from tabulate import tabulate

    print(tabulate(rows, headers=["target", "pinned", "installed version", "profile", "note"]))
    return 0


def cmd_apps(args: argparse.Namespace) -> int:
    """The real applications of apps/: install them (npm ci) or list them."""
    from harness.apps import install, layout

    if args.action == "install":
        try:
            install.install(args.names or None, force=args.force)
        except (install.AppInstallError, layout.UnknownApp) as exc:
            print(f"apps install failed: {exc}", file=sys.stderr)
            return 1
        return 0
    from tabulate import tabulate

    rows = [[name, ", ".join(f"{d} {v}" for d, v in layout.dependencies(name).items()),
             "yes" if layout.installed(layout.app_dir(name)) else f"no: {layout.INSTALL_HINT}"]
            for name in args.names or layout.names()]
    print(tabulate(rows, headers=["app", "pinned", "installed"]))
    return 0


def _pinned(name: str) -> str:
    from harness.targets import registry

    if not registry.info(name).from_npm:
        from harness import __version__

        return f"harness {__version__}"
    try:
        from harness.targets.runtime import install

        return install.pinned_version(registry.info(name).base)
    except Exception:
        return "?"


def cmd_faults(args: argparse.Namespace) -> int:
    from harness.targets.impl.faults import FAULTS

    if not args.check:
        for name, fault in FAULTS.items():
            print(f"{name:24} {fault.description}")  # type: ignore[attr-defined]
        return 0
    from harness.fault_coverage import check

    behaviors = [b for b in _load(args.specs, args.cases) if not args.k or args.k in b.id]
    rows = check(behaviors, log=lambda m: print(m, file=sys.stderr))
    for r in rows:
        how = f"{r.broken} under {r.fault}" if r.fault else (f"{r.healthy} on healthy impl" if r.shown else "NOT SHOWN")
        print(f"{r.behavior:52} healthy {r.healthy:11} -> {how}")
    missing = [r.behavior for r in rows if not r.shown]
    print(f"{len(rows) - len(missing)}/{len(rows)} behaviors shown to fail" + (f"; not shown: {missing}" if missing else ""))
    return 1 if missing else 0


def cmd_bench(args: argparse.Namespace) -> int:
    from harness.bench.command import BenchError, run
    from harness.targets import registry
    from harness.targets.base import TargetUnavailable

    names = list(registry.TARGETS) if args.all else args.target
    if not names:
        _stderr("bench: name a target (--target T, repeatable) or --all")
        return 2
    if args.n < 1:
        _stderr(f"bench: --n must be at least 1, got {args.n}")
        return 2
    check_targets(names, installed=False)
    try:
        return run(names, args.n, Path(args.specs), Path(args.cases), print)
    except (BenchError, TargetUnavailable) as exc:
        _stderr(f"bench: {exc}")
        return 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m harness", description=__doc__)
    p.add_argument("--specs", default="specs")
    p.add_argument("--cases", default="cases")
    sub = p.add_subparsers(dest="cmd", required=True)
    lint = sub.add_parser("lint", help="validate every spec and case (and catalogue ids)")
    lint.add_argument("--catalogue", default=str(Path("..") / "shared" / "node-http-behaviors.md"),
                      help="the behavior catalogue whose ids specs cite (checked when present)")
    r = sub.add_parser("run", help="run the suite without pytest, with progress")
    r.add_argument("--target", action="append")
    r.add_argument("--fault")
    r.add_argument("--oracle")
    r.add_argument("--profile", default=profiles.DEFAULT, choices=list(profiles.EXAMPLES))
    r.add_argument("--seed", type=int)
    r.add_argument("-k", help="only behaviors whose id contains this")
    r.add_argument("--report-dir", default="reports/latest")
    r.add_argument("--gate", action="store_true", help="compare with the baselines; exit 1 on a regression")
    r.add_argument("--baselines", default="reports/baselines")
    r.add_argument("--scenario-timeout", type=float, default=SCENARIO_TIMEOUT_S, metavar="S",
                   help=SCENARIO_TIMEOUT_HELP)
    r.add_argument("--record-cases", nargs="?", const="cases", metavar="DIR",
                   help="append each finding's generated example to DIR/<spec file> as a named case (default: cases)")
    r.add_argument("--reruns", type=int, default=DEFAULT_RERUNS, metavar="N",
                   help=f"run a failing example N more times; unless it fails every time the cell is FLAKY "
                        f"(default {DEFAULT_RERUNS})")
    r.add_argument("--side-by-side", action="store_true", help=SIDE_BY_SIDE_HELP)
    r.add_argument("--shard", metavar="K/N", help="run the K-th of N deterministic parts of the cells "
                   "(needs --seed; join the parts with: python -m harness merge)")
    m = sub.add_parser("merge", help="join the results of shards or runs of other targets into one")
    m.add_argument("results", nargs="+", help="results.json files of one run's parts (same seed and profile)")
    m.add_argument("--report-dir", default="reports/latest", help="where results.json and every format go")
    rep = sub.add_parser("report", help="re-render the matrix from a results file")
    rep.add_argument("--results", default="reports/latest/results.json")
    rep.add_argument("--out")
    rep.add_argument("--format", help="comma-separated: md,html,json,junit (default all)")
    rp = sub.add_parser("replay", help="rerun the example of a repro file")
    rp.add_argument("file")
    rp.add_argument("--target", help="replay on another target")
    rp.add_argument("--fault")
    rp.add_argument("--show", action="store_true", help="print the observations")
    g = sub.add_parser("gate", help="compare results with reports/baselines/<target>.json")
    g.add_argument("--results", default="reports/latest/results.json")
    g.add_argument("--baselines", default="reports/baselines")
    g.add_argument("--target", action="append")
    g.add_argument("--update", action="store_true", help="write the baselines from the results")
    g.add_argument("--merge", action="store_true",
                   help="with --update: keep the statuses already accepted too (behaviors that vary)")
    du = sub.add_parser("durations", help="record a run's cell durations, by which pytest -n W --dist loadgroup "
                                          "deals the behaviors out to its workers")
    du.add_argument("--results", default="reports/latest/results.json")
    du.add_argument("--out", default=str(Path("reports") / "durations.json"))
    du.add_argument("--replace", action="store_true",
                    help="drop what the file held (by default cells the results lack keep their durations)")
    d = sub.add_parser("diff", help="cells that changed between two results files (exit 1 if any)")
    d.add_argument("old")
    d.add_argument("new")
    t = sub.add_parser("targets", help="list or install targets")
    t.add_argument("action", choices=["list", "install"])
    t.add_argument("names", nargs="*", help="default: every target (list: also workerd@DATE[+flag...])")
    a = sub.add_parser("apps", help="install or list the real applications of apps/")
    a.add_argument("action", choices=["list", "install"])
    a.add_argument("names", nargs="*")
    a.add_argument("--force", action="store_true", help="install: run npm ci even where up to date")
    f = sub.add_parser("faults", help="list the faults the impl target can inject")
    f.add_argument("--check", action="store_true", help="show, per behavior, a fault that breaks it")
    f.add_argument("-k", help="only behaviors whose id contains this")
    cov = sub.add_parser("coverage", help="which node:http members and Node test files the behaviors cover")
    cov.add_argument("-v", "--verbose", action="store_true", help="one row per member and per test file")
    cov.add_argument("--min", type=_fraction, help="exit 1 when either fraction is below this")
    cov.add_argument("--min-api", type=_fraction, help="exit 1 when the api surface fraction is below this")
    cov.add_argument("--min-node-tests", type=_fraction,
                     help="exit 1 when the covered fraction of applicable Node test files is below this")
    from harness import repro_cli

    repro_cli.add_parser(sub)
    be = sub.add_parser("bench", help="per-example cost through the harness vs the bare exchange in the runtime")
    be.add_argument("--target", action="append")
    be.add_argument("--all", action="store_true", help="every target")
    be.add_argument("--n", type=int, default=200, help="examples of each kind per target (default 200)")
    args = p.parse_args(argv)
    handler = {"lint": cmd_lint, "run": cmd_run, "merge": cmd_merge, "report": cmd_report, "replay": cmd_replay,
               "repro": repro_cli.cmd_repro, "gate": cmd_gate, "durations": cmd_durations, "diff": cmd_diff, "targets": cmd_targets,
               "apps": cmd_apps, "faults": cmd_faults,
               "coverage": cmd_coverage, "bench": cmd_bench}[args.cmd]
    try:
        return handler(args)
    except Exception as exc:
        if not _refused(exc):
            raise
        print(f"python -m harness {args.cmd}: {paragraph(str(exc))}", file=sys.stderr)
        return 2


def _refused(exc: Exception) -> bool:
    """Bad input: a BadInput (results, repro and baseline files, names) or a malformed spec."""
    from harness.spec import SpecError

    return isinstance(exc, BadInput | SpecError)
