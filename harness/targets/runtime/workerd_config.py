"""Generate the workerd configuration (config.capnp) that runs the worker wrapper.

The config is written into a scratch directory together with the JavaScript modules it
embeds, laid out as they are under harness/drivers/ (worker wrapper at
``workerd/worker.mjs``, the shared executor at ``executor.mjs``, plus any module either
imports by a relative path, such as ``vocabulary.json``), so relative imports resolve the
same way in workerd as on disk.

Sockets carry no address: the target passes already-listening sockets with
``--socket-fd NAME=FD`` (see :func:`serve_args`), so no port is ever raced for.

Decisions (also in the target's docstring):

- ``compatibilityDate`` 2025-09-15 with the single flag ``nodejs_compat``: at that date the
  flag enables both the node:http client and server modules; dates from 2026-08-04 make
  ``nodejs_compat`` a default and listing it only warns.
- Outbound network: the service named ``internet`` (every worker's default outbound) is
  allowed ``127.0.0.1/32`` only, the narrowest list that reaches the harness's origin.
  workerd's own default (no ``internet`` service) allows public addresses only, which
  blocks loopback; ``network_allow=None`` reproduces that default.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

from harness.targets.runtime import DRIVERS

COMPATIBILITY_DATE = "2025-09-15"
COMPATIBILITY_FLAGS: tuple[str, ...] = ("nodejs_compat",)
LOOPBACK_ONLY: tuple[str, ...] = ("127.0.0.1/32",)

WRAPPER = DRIVERS / "workerd" / "worker.mjs"
EXECUTOR = DRIVERS / "executor.mjs"

CONTROL_SOCKET = "control"
# One bridge socket (and worker entrypoint "bridgeN") per server slot; worker.mjs exports
# bridge0..bridge7, so this must not exceed 8.
BRIDGE_SLOTS = 8
SERVICE = "harness"

_RELATIVE_IMPORT = re.compile(
    r"""(?:\bfrom\s*|\bimport\s*\(?\s*)['"](\.{1,2}/[^'"]+)['"]"""
)


def bridge_socket(slot: int) -> str:
    return f"bridge{slot}"


def socket_names() -> list[str]:
    return [CONTROL_SOCKET] + [bridge_socket(i) for i in range(BRIDGE_SLOTS)]


def _text(value: str) -> str:
    """A Cap'n Proto text literal (JSON string escaping is a subset capnp accepts)."""
    return json.dumps(value)


def _collect_modules(wrapper: Path, executor: Path) -> dict[str, Path]:
    """Module name (path relative to the drivers root) -> source file, wrapper first.

    The wrapper is always named ``workerd/worker.mjs`` and the executor ``executor.mjs``,
    whatever files they come from (tests may pass stand-ins); other modules are found by
    following relative imports and named by their resolved relative path.
    """
    modules: dict[str, Path] = {}
    pending: list[tuple[str, Path]] = [("workerd/worker.mjs", wrapper), ("executor.mjs", executor)]
    while pending:
        name, source = pending.pop(0)
        if name in modules:
            continue
        if not source.is_file():
            raise FileNotFoundError(f"workerd module {name!r}: {source} does not exist")
        modules[name] = source
        text = source.read_text(encoding="utf-8")
        for spec in _RELATIVE_IMPORT.findall(text):
            parts = [*name.split("/")[:-1]]
            for piece in spec.split("/"):
                if piece == "..":
                    if not parts:
                        raise ValueError(f"{source}: import {spec!r} leaves the drivers root")
                    parts.pop()
                elif piece not in ("", "."):
                    parts.append(piece)
            target = "/".join(parts)
            pending.append((target, source.parent / spec))
    return modules


def _module_type(name: str) -> str:
    """The capnp module kind: vocabulary.json is a json module, the rest ES modules."""
    return "json" if name.endswith(".json") else "esModule"


def render(
    modules: Sequence[str],
    *,
    network_allow: Sequence[str] | None = LOOPBACK_ONLY,
    compatibility_date: str = COMPATIBILITY_DATE,
    compatibility_flags: Sequence[str] = COMPATIBILITY_FLAGS,
) -> str:
    """The text of config.capnp for module names laid out next to it (first is main)."""
    module_lines = ",\n".join(
        f"    (name = {_text(m)}, {_module_type(m)} = embed {_text(m)})" for m in modules
    )
    services = [f"    (name = {_text(SERVICE)}, worker = .harnessWorker)"]
    if network_allow is not None:
        allow = ", ".join(_text(a) for a in network_allow)
        services.append(f'    (name = "internet", network = (allow = [{allow}]))')
    sockets = [
        f"    (name = {_text(CONTROL_SOCKET)}, http = (), "
        f"service = (name = {_text(SERVICE)}, entrypoint = {_text('control')}))"
    ]
    for i in range(BRIDGE_SLOTS):
        sockets.append(
            f"    (name = {_text(bridge_socket(i))}, http = (), "
            f"service = (name = {_text(SERVICE)}, entrypoint = {_text(bridge_socket(i))}))"
        )
    flags = ", ".join(_text(f) for f in compatibility_flags)
    return (
        "# Generated by harness/targets/runtime/workerd_config.py; do not edit.\n"
        'using Workerd = import "/workerd/workerd.capnp";\n\n'
        "const config :Workerd.Config = (\n"
        "  services = [\n" + ",\n".join(services) + "\n  ],\n"
        "  sockets = [\n" + ",\n".join(sockets) + "\n  ],\n"
        ");\n\n"
        "const harnessWorker :Workerd.Worker = (\n"
        "  modules = [\n" + module_lines + "\n  ],\n"
        f"  compatibilityDate = {_text(compatibility_date)},\n"
        f"  compatibilityFlags = [{flags}],\n"
        ");\n"
    )


def write_config(
    directory: Path,
    *,
    executor: Path = EXECUTOR,
    wrapper: Path = WRAPPER,
    network_allow: Sequence[str] | None = LOOPBACK_ONLY,
    compatibility_date: str = COMPATIBILITY_DATE,
    compatibility_flags: Sequence[str] = COMPATIBILITY_FLAGS,
) -> Path:
    """Copy the modules into ``directory`` and write ``config.capnp`` there; return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    modules = _collect_modules(wrapper, executor)
    for name, source in modules.items():
        dest = directory / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, dest)
    config = directory / "config.capnp"
    config.write_text(
        render(
            list(modules),
            network_allow=network_allow,
            compatibility_date=compatibility_date,
            compatibility_flags=compatibility_flags,
        ),
        encoding="utf-8",
    )
    return config


def serve_args(binary: str, config: Path, fds: dict[str, int]) -> list[str]:
    """The workerd command line serving ``config`` on inherited listening sockets."""
    args = [binary, "serve", str(config)]
    for name, fd in fds.items():
        args += ["--socket-fd", f"{name}={fd}"]
    return args
