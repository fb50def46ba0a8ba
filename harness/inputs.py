"""Checks of a run's inputs made before anything starts or any report file is opened:
shared by `python -m harness run`/`replay` and the pytest plugin, so a bad name stops
both the same way (harness/errors.py) instead of running a matrix of ERROR cells."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from harness.errors import BadInput
from harness.targets import registry


def check_targets(names: Iterable[str], *, installed: bool = True) -> None:
    """Each name is known, its variant accepted, and (installed=True) its runtime installed."""
    for name in names:
        try:
            registry.check([name])
        except registry.BadTarget as exc:
            raise BadInput(str(exc)) from None
        if installed:
            target = registry.create(name)
            if not target.installed():
                raise BadInput(f"target {name} is not installed: run `{target.install_hint()}` "
                               f"(or leave --target={name} out)")


def check_fault(name: str | None) -> None:
    """An unknown fault name (python -m harness faults lists them) is refused."""
    if not name:
        return
    from harness.targets.impl.faults import FAULTS

    if name not in FAULTS:
        raise BadInput(f"unknown fault {name!r}; known faults (python -m harness faults): {', '.join(FAULTS)}")


def check_specs_dir(specs: Path) -> None:
    """A specs folder that is missing, unreadable or holds no spec file is refused."""
    if not specs.is_dir():
        raise BadInput(f"specs folder {specs} does not exist or is not a folder; pass --specs DIR")
    if not os.access(specs, os.R_OK | os.X_OK):
        raise BadInput(f"specs folder {specs} cannot be read (permissions); fix them or pass --specs DIR")
    if not any(specs.glob("*.yaml")):
        raise BadInput(f"specs folder {specs} holds no *.yaml spec file; pass the folder of the specs with --specs")


# The help of --side-by-side, shared by pytest and `python -m harness run` (Session.run_cell_and_emit).
SIDE_BY_SIDE_HELP = ("once a behavior's first cell (Node's) has drawn its inputs, run its other targets' cells at "
                     "once, on threads: faster, but specs with tight timing margins may flake under load (a bun "
                     "requestTimeout cell did in a gated CI run): not for gating")
