"""Targets: the Target protocol (base.py), the registry (registry.py), one module per
target (node, bun, deno, workerd) or package (impl/), and runtime/, what the runtime
targets share."""
