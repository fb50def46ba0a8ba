"""Hypothesis profiles: examples generated per behavior. Used by the pytest plugin and the CLI."""

from __future__ import annotations

EXAMPLES = {"dev": 10, "ci": 25, "thorough": 200}
DEFAULT = "dev"


def register() -> None:
    """Make every profile loadable by name (--hypothesis-profile, `run --profile`)."""
    from hypothesis import settings  # here: `python -m harness lint` needn't import Hypothesis

    for name, n in EXAMPLES.items():
        settings.register_profile(name, max_examples=n, deadline=None)
