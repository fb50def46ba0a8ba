"""The deno target: the pinned Deno running the stdio driver with its node:http."""

from __future__ import annotations

from pathlib import Path

from harness.targets.runtime.stdio import DRIVER, StdioTarget


class DenoTarget(StdioTarget):
    name = "deno"

    def argv(self, binary: Path) -> list[str]:
        # -A: Node and Bun have no permission system, so Deno runs unrestricted too;
        # a narrower --allow-net would turn DNS or connection failures into
        # PermissionDenied errors and make Deno fail behaviors for the harness's sake.
        # --no-config/--no-lock: no deno.json or lockfile from the working directory
        # changes how the driver runs.
        return [str(binary), "run", "-A", "--no-config", "--no-lock", "--quiet", str(DRIVER)]

    def extra_env(self) -> dict[str, str]:
        return {"DENO_NO_UPDATE_CHECK": "1", "DENO_NO_PROMPT": "1"}
