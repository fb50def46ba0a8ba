"""`python -m harness repro REPRO.json --script OUT`: a repro file as a standalone script
(harness/standalone/): OUT.mjs for node, bun, deno (and workerd's scenarios, run on those),
OUT.py for impl."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any

from harness.errors import BadInput
from harness.report import results

SUFFIX = {"impl": ".py"}  # every other target: .mjs


def script_command(repro_file: str, target: str, behavior: str) -> str:
    """The command that writes a cell's repro file as a standalone script (the explorer shows it)."""
    return shlex.join(["python", "-m", "harness", "repro", repro_file,
                       "--script", f"{behavior}{SUFFIX.get(target, '.mjs')}"])


class BadRepro(BadInput):
    pass


def add_parser(sub: Any) -> None:
    p = sub.add_parser("repro", help="write a repro file's example as a script that runs with no harness")
    p.add_argument("file", help="a repro file (reports/<dir>/repro/<target>/<behavior>.json)")
    p.add_argument("--script", required=True, metavar="OUT", help="the script to write (.mjs, or .py for impl)")
    p.add_argument("--target", help="the target whose script to write (default: the repro file's)")


def _read(path: Path) -> dict[str, Any]:
    repro = results.read_repro(path)  # missing, not JSON, not a repro file: ResultsError
    scenario = repro.get("scenario")
    if not isinstance(scenario, dict) or scenario.get("kind") not in ("client", "server"):
        kind = scenario.get("kind") if isinstance(scenario, dict) else None
        raise BadRepro(f"{path}: no client or server scenario to write (scenario kind {kind!r}; "
                       f"status {repro.get('status')}: {repro.get('message')})")
    return repro


def cmd_repro(args: argparse.Namespace) -> int:
    from harness.standalone import mjs, py

    out = Path(args.script)
    repro = _read(Path(args.file))  # BadInput: main() prints it and exits 2
    target = args.target or str(repro.get("target"))
    suffix = SUFFIX.get(target, ".mjs")
    if out.suffix != suffix:
        raise BadRepro(f"{out}: a script for {target} is a {suffix} file")
    command = shlex.join(["python", "-m", "harness", "repro", args.file, "--script", args.script]
                         + (["--target", args.target] if args.target else []))
    text = py.script(repro, command, out.name) if suffix == ".py" else mjs.script(repro, command)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out}")
    return 0
