"""What the runtime targets (node, bun, deno, workerd) share: the process base, the stdio
transport, workerd's config, and the install of the pinned runtimes from npm."""

from pathlib import Path

# The JavaScript side of every runtime target: the shared executor and its wrappers.
DRIVERS = Path(__file__).resolve().parents[2] / "drivers"
