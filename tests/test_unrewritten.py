"""harness/unrewritten.py: the harness's and Hypothesis' modules load past pytest's assertion
rewriting (~1.2 s of CPU at the start of each pytest process that rewrites), the tests do not."""

from __future__ import annotations

import sys

import pytest


def _rewritten(module_name: str) -> bool:
    return type(sys.modules[module_name].__loader__).__name__ == "AssertionRewritingHook"


def test_the_harness_and_hypothesis_load_past_assertion_rewriting(request: pytest.FixtureRequest) -> None:
    if request.config.getoption("assertmode") != "rewrite":
        pytest.skip("this pytest process does not rewrite assertions (--assert=plain)")
    import hypothesis.strategies  # noqa: F401

    import harness.runner  # noqa: F401 - loaded for its loader

    assert [name for name in ("harness.runner", "hypothesis", "hypothesis.strategies") if _rewritten(name)] == []
    assert _rewritten(__name__)  # the tests' own asserts still are
