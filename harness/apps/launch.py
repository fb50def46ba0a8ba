"""How each runtime kind runs an app: the command, its directory and environment.

node, bun and deno run apps/<name>/app.mjs themselves, which calls listen(PORT, HOST);
workerd serves the app's esbuild bundle through httpServerHandler at the column's
compatibility date and flags (harness/apps/workerd_app.py). LAUNCHERS is keyed by
registry entry: every target whose entry says runs_js_apps has one.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from harness.apps import bundle, layout, workerd_app
from harness.targets import registry
from harness.targets.runtime import install as runtimes
from harness.targets.runtime import workerd_compat

HOST = "127.0.0.1"


class AppStartError(Exception):
    """The app did not start on that target; the message quotes the runtime's log."""

    def __init__(self, why: str, log: str = "") -> None:
        super().__init__(why + (f"\n{log}" if log else ""))
        self.why = why  # one line
        self.log = log  # the runtime's last log lines, if any


class AppNotInstalled(Exception):
    """The app's packages are not installed: the harness's set-up, not the target, is at fault."""


@dataclass
class Launch:
    argv: list[str]
    cwd: Path
    env: dict[str, str] = field(default_factory=dict)


class Launcher(Protocol):
    """How one runtime kind runs an app (target: the column's name, e.g. workerd@2025-09-15)."""

    def prepare(self, target: str, app: str, port: int, scratch: Path) -> Launch: ...

    def load_failed(self, lines: Sequence[str]) -> bool:
        """The runtime said the app cannot serve, though its process may stay up."""
        ...

    def describe(self, target: str) -> dict[str, Any]:
        """What the report records about how apps run there (workerd: date and flags)."""
        ...


def _binary(target: str) -> Path:
    base = registry.info(target).base
    path = runtimes.binary(base)
    if path is None:
        raise AppStartError(f"{base} is not installed: run `{runtimes.INSTALL_HINT} {base}`")
    return path


@dataclass(frozen=True)
class ProcessLauncher:
    """A runtime that runs app.mjs itself (node, bun, deno): `<binary> <args> app.mjs`."""

    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()

    def prepare(self, target: str, app: str, port: int, scratch: Path) -> Launch:
        argv = [str(_binary(target)), *self.args, layout.ENTRY]
        return Launch(argv, layout.app_dir(app), {"PORT": str(port), "HOST": HOST, **dict(self.env)})

    def load_failed(self, lines: Sequence[str]) -> bool:
        return False  # these exit when the app throws at load

    def describe(self, target: str) -> dict[str, Any]:
        return {"runs": " ".join([registry.info(target).base, *self.args, layout.ENTRY])}


class WorkerdLauncher:
    """workerd serving the app's esbuild bundle through httpServerHandler, at the column's
    compatibility date and flags plus the apps' own (harness/apps/workerd_app.py)."""

    def __init__(self) -> None:
        self._compat: dict[str, workerd_compat.Compat] = {}

    def compat(self, target: str) -> workerd_compat.Compat:
        if target not in self._compat:
            try:
                self._compat[target] = workerd_app.compat(_binary(target), registry.info(target).variant)
            except (ValueError, RuntimeError) as exc:  # workerd refused the date or flags
                raise AppStartError(f"{target}: {exc}") from None
        return self._compat[target]

    def prepare(self, target: str, app: str, port: int, scratch: Path) -> Launch:
        binary, settings = _binary(target), self.compat(target)
        built = scratch / "bundles" / app / workerd_app.WORKER_MODULE  # one bundle per app, any date
        directory = scratch / target / app
        try:
            if not built.is_file():
                bundle.bundle(layout.app_dir(app), built, workerd_app.PORT_KEY)
        except bundle.BundleError as exc:
            raise AppStartError(str(exc)) from None
        directory.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(built, directory / workerd_app.WORKER_MODULE)
        config = workerd_app.write_config(directory, settings)
        return Launch(workerd_app.serve_args(binary, config, port), directory)

    def load_failed(self, lines: Sequence[str]) -> bool:
        return workerd_app.load_failed(lines)

    def describe(self, target: str) -> dict[str, Any]:
        out: dict[str, Any] = {"runs": "esbuild bundle + httpServerHandler"}
        if target in self._compat:
            settings = self._compat[target]
            out.update(compatibility_date=settings.date, compatibility_flags=list(settings.flags))
        return out


# By registry entry (targets whose entry says runs_js_apps): how each runs an app.
LAUNCHERS: dict[str, Launcher] = {
    "node": ProcessLauncher(),
    "bun": ProcessLauncher(),
    # -A: unrestricted, as node and bun are; --no-lock: no deno.lock written into apps/.
    "deno": ProcessLauncher(("run", "-A", "--quiet", "--no-lock"),
                            (("DENO_NO_UPDATE_CHECK", "1"), ("DENO_NO_PROMPT", "1"))),
    "workerd": WorkerdLauncher(),
}


def launcher(target: str) -> Launcher | None:
    return LAUNCHERS.get(registry.info(target).base)
