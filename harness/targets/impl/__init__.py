"""The impl target: the Python reference (harness/reference/) run in-process, with its
executor (executor.py, server.py), its event loop and front end (front.py), and the
faults it can inject (faults.py through the hooks of fault_hooks.py)."""

from harness.targets.impl.target import ImplTarget

__all__ = ["ImplTarget"]
