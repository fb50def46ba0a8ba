"""Targets: one module per target, one registry (registry.py)."""
