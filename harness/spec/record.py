"""`--record-cases`: each failing example a run found becomes a named case.

A finding's example (FAIL shrunk by Hypothesis; TIMEOUT and CRASH as first met) drawn by
Hypothesis is appended to `<cases dir>/<its spec file's name>` (the layout of cases/: the
cases of specs/agent-connections.yaml are in cases/agent-connections.yaml), so from then
on it runs first on every target. The case is named after its inputs (`found-<hash>`),
which makes the same behavior and inputs one case however many runs or targets find it;
an example that already is a case (by name or by inputs) is not added again. The file is
checked after each append (the loader's schema); if that fails, it is put back as it was.
Several processes may record at once (pytest-xdist workers): an append holds an exclusive
lock on `<cases dir>/.record.lock`, reads the file again under it, and skips a case another
process added meanwhile.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from harness.events import CellFinished, Handler
from harness.scenario import to_json
from harness.spec.loader import load_case_file
from harness.spec.yaml_source import SpecError
from harness.status import STATUS, Kind

Say = Callable[[str], None]
NAME_PREFIX = "found-"
LOCK_FILE = ".record.lock"


def case_name(inputs: Mapping[str, Any]) -> str:
    """A name that the inputs alone decide (the same inputs always give the same name)."""
    text = json.dumps(to_json(inputs), sort_keys=True, ensure_ascii=False)
    return NAME_PREFIX + hashlib.sha256(text.encode()).hexdigest()[:10]


def plain(value: Any) -> Any:
    """Inputs as YAML gives them back: tuples as lists, bytearrays as bytes."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, bytearray):
        return bytes(value)
    return value


class _Dumper(yaml.SafeDumper):
    """Bytes as `!!binary <base64>` on one line, as the hand-written cases write them."""


_Dumper.add_representer(bytes, lambda dumper, data: dumper.represent_scalar(
    "tag:yaml.org,2002:binary", base64.b64encode(data).decode("ascii")))


def case_text(behavior: str, name: str, given: Mapping[str, Any], note: str) -> str:
    """One entry of a `cases:` list, as the hand-written ones look (inputs on one flow line)."""
    flow = yaml.dump(plain(given), Dumper=_Dumper, default_flow_style=True, width=1 << 30, allow_unicode=False).strip()
    return (f"  - behavior: {behavior}\n    name: {name}\n    given: {flow}\n"
            f"    note: {json.dumps(note)}\n")


class CaseRecorder(Handler):
    """Appends each finding's generated example to the cases dir (see the module doc)."""

    def __init__(self, cases_dir: Path, say: Say, fault: str | None = None) -> None:
        self.cases_dir = cases_dir
        self.say = say
        self.found_with = f" with fault {fault}" if fault else ""  # for the case's note
        self.added: list[tuple[Path, str, str]] = []  # (file, behavior, case name)
        self._known: set[tuple[str, str]] | None = None  # (behavior, name or inputs as JSON)

    def on_cell(self, event: CellFinished) -> None:
        cell, ex = event.cell, event.cell.example
        behavior = cell.behavior
        if STATUS[cell.status].kind is not Kind.FINDING or ex is None or ex.label != "generated" \
                or not behavior.given:
            return
        given = plain(ex.inputs)
        name = case_name(given)
        known = self._known_cases()
        if (behavior.id, name) in known or (behavior.id, _key(given)) in known:
            return
        path = self.cases_dir / Path(behavior.source).name
        note = f"{cell.status} on {cell.target}{self.found_with}, recorded by --record-cases (cell seed {cell.seed})"
        try:
            with _locked(self.cases_dir):
                if not self._append(path, case_text(behavior.id, name, given, note), behavior.id, name, given):
                    known.update({(behavior.id, name), (behavior.id, _key(given))})
                    return  # another process recorded it meanwhile
        except (OSError, SpecError) as exc:
            self.say(f"--record-cases: {behavior.id} not recorded: {exc}")
            return
        known.update({(behavior.id, name), (behavior.id, _key(given))})
        self.added.append((path, behavior.id, name))
        self.say(f"--record-cases: {behavior.id} [{cell.target} {cell.status}] -> {path} case {name}")

    def _known_cases(self) -> set[tuple[str, str]]:
        if self._known is None:
            self._known = set()
            for path in sorted(self.cases_dir.rglob("*.yaml")) if self.cases_dir.is_dir() else []:
                self._known |= _case_keys(path)
        return self._known

    @staticmethod
    def _append(path: Path, entry: str, behavior: str, name: str, given: Any) -> bool:
        """Append the case unless the file has it already (False)."""
        before = path.read_text(encoding="utf-8") if path.exists() else None
        if before is not None and {(behavior, name), (behavior, _key(given))} & _case_keys(path):
            return False
        head = "cases:\n" if before is None else before if before.endswith("\n") else before + "\n"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(head + entry, encoding="utf-8")
        try:
            last = load_case_file(path)[-1]
            if (last.behavior, last.name, _key(plain(last.given))) != (behavior, name, _key(given)):
                raise SpecError(path, last.line, "the appended case does not read back as written")
        except SpecError:
            if before is None:
                path.unlink()
            else:
                path.write_text(before, encoding="utf-8")
            raise
        return True


@contextmanager
def _locked(cases_dir: Path) -> Iterator[None]:
    """An exclusive lock for the cases dir, between processes (flock: freed if one dies)."""
    cases_dir.mkdir(parents=True, exist_ok=True)
    with open(cases_dir / LOCK_FILE, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _case_keys(path: Path) -> set[tuple[str, str]]:
    """(behavior, name) and (behavior, inputs as JSON) of each case in a file."""
    return {key for case in load_case_file(path)
            for key in ((case.behavior, case.name), (case.behavior, _key(plain(case.given))))}


def _key(given: Any) -> str:
    return json.dumps(to_json(given), sort_keys=True, ensure_ascii=False)
