"""The compatibility date and flags a workerd column runs with.

workerd's node:http changes with the compatibility date a Worker declares, so the date is
part of the target's name:

- ``workerd``: the newest date the pinned binary supports, what a Worker created today gets;
- ``workerd@2025-09-15``: that date; ``workerd@2025-09-15+flag_a+flag_b``: plus those flags.

``nodejs_compat`` is always on (without it there is no node:http to test); named flags come
on top.

The newest date is asked of the binary itself: workerd refuses a date past the one it
supports with ``... the newest date supported by this server binary is "X"``, so a
config dated :data:`PROBE_DATE` (the last date workerd parses) and no sockets, served once
per run, names it. ``workerd --version`` and the npm package's ``compatibilityDate`` give
the release date instead, which can be older (1.20261117.1: 2026-11-17, while the binary
accepts 2026-11-24). workerd also refuses dates after today (UTC), so the newest is the
earlier of the two.

The same socket-less serve, at a named date and flags, checks them before anything runs:
workerd reports a bad date, an unknown or experimental flag, contradicting flags, and warns
about each flag already on by default at that date (the config leaves those out: listing
them only adds that warning to the log of every start).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness.observations import Json

BASE_FLAGS: tuple[str, ...] = ("nodejs_compat",)
PROBE_DATE = "2999-12-31"  # workerd parses years 2000-2999
SYNTAX = "workerd@YYYY-MM-DD[+flag...]"

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_FLAG = re.compile(r"[a-z][a-z0-9_]*")
_NEWEST = re.compile(r'newest date supported by this server binary is "(\d{4}-\d{2}-\d{2})"')
_DEFAULT_ALREADY = re.compile(r"compatibility flag (\w+) became the default as of")
_PREFIX = re.compile(r"^service \w+: ")
_PROBE_TIMEOUT = 30.0


@dataclass(frozen=True)
class Variant:
    """What a target name asks for: a date (None: the newest) and flags beyond nodejs_compat."""

    date: str | None = None
    flags: tuple[str, ...] = ()


def parse(variant: str | None) -> Variant:
    """The part of ``workerd@...`` after the ``@``; ValueError saying what is wrong."""
    if variant is None:
        return Variant()
    date, *flags = variant.split("+")
    if not _DATE.fullmatch(date):
        raise ValueError(f"bad compatibility date {date!r}: expected {SYNTAX}")
    try:
        year = dt.date.fromisoformat(date).year
    except ValueError as exc:
        raise ValueError(f"bad compatibility date {date!r}: {exc}") from None
    if not 2000 <= year <= 2999:
        raise ValueError(f"bad compatibility date {date!r}: workerd takes years 2000-2999")
    for flag in flags:
        if not _FLAG.fullmatch(flag):
            raise ValueError(f"bad compatibility flag {flag!r}: "
                             "expected lower-case letters, digits and '_'")
    if len(set(flags)) != len(flags):
        raise ValueError(f"a compatibility flag is named twice: {variant}")
    return Variant(date, tuple(f for f in flags if f not in BASE_FLAGS))


@dataclass(frozen=True)
class Compat:
    """What one workerd column runs with."""

    date: str
    flags: tuple[str, ...]  # in effect: nodejs_compat and the named flags
    listed: tuple[str, ...]  # written in the config: those not already on at the date
    newest: bool  # the date is the newest the binary supports, not a named one

    def describe(self) -> str:
        return f"compat {self.date}{' (newest)' if self.newest else ''} {'+'.join(self.flags)}"

    def parameters(self) -> Json:
        """For the results document's targets section."""
        return {"compatibility_date": self.date, "compatibility_flags": list(self.flags),
                "compatibility_date_is_newest": self.newest}


def resolve(binary: Path, variant: Variant) -> Compat:
    """The date and flags to run with, checked by the binary; ValueError with workerd's complaint."""
    date = variant.date or newest_date(binary)
    flags = (*BASE_FLAGS, *variant.flags)
    returncode, lines = _serve_without_sockets(str(binary), date, flags)
    if returncode != 0:
        complaints = [line for line in lines if not _DEFAULT_ALREADY.search(line)] or lines
        raise ValueError(f"workerd refuses compatibility date {date} with flags {'+'.join(flags)}: "
                         + "; ".join(complaints or [f"exit code {returncode}"]))
    on_by_date = {m.group(1) for line in lines if (m := _DEFAULT_ALREADY.search(line))}
    return Compat(date, flags, tuple(f for f in flags if f not in on_by_date), variant.date is None)


def newest_date(binary: Path) -> str:
    """The newest compatibility date the binary supports (and not after today, UTC)."""
    return _newest_date(str(binary))


@functools.cache
def _newest_date(binary: str) -> str:
    _, lines = _serve_without_sockets(binary, PROBE_DATE, ())
    found = next((m.group(1) for line in lines if (m := _NEWEST.search(line))), None)
    if found is None:
        raise RuntimeError(f"cannot tell the newest compatibility date {binary} supports: dated "
                           f"{PROBE_DATE}, it said: {' | '.join(lines) or '(nothing)'}")
    return min(found, dt.datetime.now(dt.UTC).date().isoformat())


@functools.cache
def _serve_without_sockets(binary: str, date: str, flags: tuple[str, ...]) -> tuple[int, tuple[str, ...]]:
    """Serve a config with one trivial worker and no sockets: workerd checks the worker's date
    and flags, says what it thinks of them, and exits. Its exit code and messages."""
    config = (
        'using Workerd = import "/workerd/workerd.capnp";\n'
        "const config :Workerd.Config = (services = [(name = \"probe\", worker = (\n"
        '  modules = [(name = "probe.mjs", esModule = "export default {};")],\n'
        f"  compatibilityDate = {json.dumps(date)},\n"
        f"  compatibilityFlags = [{', '.join(json.dumps(f) for f in flags)}],\n"
        "))]);\n"
    )
    with tempfile.TemporaryDirectory(prefix="harness-workerd-probe-") as tmp:
        path = Path(tmp) / "probe.capnp"
        path.write_text(config, encoding="utf-8")
        try:
            out = subprocess.run([binary, "serve", str(path)], capture_output=True, text=True,
                                 timeout=_PROBE_TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"{binary} serve did not exit within {_PROBE_TIMEOUT:.0f} s "
                               "on a config without sockets") from None
    lines = tuple(_PREFIX.sub("", line).strip() for line in (out.stderr + out.stdout).splitlines())
    return out.returncode, tuple(line for line in lines if line)
