"""The strategy compiler: generated inputs are what HTTP allows (or, on purpose, not)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from harness import strategies as S
from harness.strategies import check_input, compile_given

TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


@settings(max_examples=50)
@given(compile_given({"name": {"strategy": "header_name"}, "value": {"strategy": "field_value", "charset": "latin1"},
                      "method": {"strategy": "method", "case": "lower"}, "tok": {"strategy": "http_token"}}))
def test_valid_http_pieces(inputs: dict) -> None:
    assert TOKEN.match(inputs["name"]) and inputs["name"].lower() not in S.RESERVED_HEADERS
    value = inputs["value"]
    assert value == value.strip(" \t") and all(0x20 <= ord(c) <= 0xFF and c != "\x7f" for c in value)
    assert inputs["method"] == inputs["method"].lower()
    assert TOKEN.match(inputs["tok"])


@settings(max_examples=50)
@given(S.invalid_http_token(), S.invalid_field_value())
def test_invalid_pieces_are_invalid(token: str, value: str) -> None:
    assert not TOKEN.match(token)
    assert any(c in "\r\n\x00" or ord(c) > 0xFF for c in value)


@settings(max_examples=30)
@given(S.header_list(min_size=1, max_size=4))
def test_header_list_pairs(pairs: list) -> None:
    assert all(isinstance(p, list) and len(p) == 2 for p in pairs)


@settings(max_examples=20)
@given(S.body(max_size=10, large=True))
def test_body_sizes(data: bytes) -> None:
    assert isinstance(data, bytes) and len(data) <= 1 << 20


@settings(max_examples=30)
@given(S.credentials(), S.chunks(max_delay_ms=5), S.status_code(200, 599, exclude=[204]), S.reason_phrase())
def test_composites(creds: dict, chunks: list, status: int, reason: str) -> None:
    assert ":" not in creds["user"]
    assert all(isinstance(c["data"], bytes) and 0 <= c["delay_ms"] <= 5 for c in chunks)
    assert 200 <= status <= 599 and status != 204
    assert reason == reason.strip()


@settings(max_examples=20)
@given(compile_given({"s": {"schema": {"type": "integer", "minimum": 3, "maximum": 5}},
                      "v": {"value": 7}, "o": {"one_of": ["a", "b"]}}))
def test_schema_value_one_of(inputs: dict) -> None:
    assert 3 <= inputs["s"] <= 5 and inputs["v"] == 7 and inputs["o"] in ("a", "b")


def test_check_input_reports_problems() -> None:
    assert check_input({"strategy": "header_name"}) is None
    assert "unknown strategy" in (check_input({"strategy": "nope"}) or "")
    assert "not ['x']" in (check_input({"strategy": "body", "x": 1}) or "")
    assert check_input({"schema": {"type": "integer"}}) is None


def test_every_named_strategy_draws() -> None:
    for name, fn in S.NAMED.items():
        assert isinstance(fn(), st.SearchStrategy), name


def test_a_seed_draws_the_same_inputs_whatever_modules_are_loaded(tmp_path: Path, monkeypatch: Any) -> None:
    """Literals in loaded source (an edit to the harness, a module only xdist loads) must
    not leak into what a seed draws: the gate compares runs of one seed."""
    from hypothesis import Phase, given, seed, settings

    from harness.strategies import compile_given

    strategy = compile_given({"path": {"strategy": "url_path"}, "name": {"strategy": "header_name"}, "t": {"strategy": "text"}})

    def draws() -> list[Any]:
        out: list[Any] = []

        @settings(max_examples=40, database=None, phases=[Phase.generate], deadline=None)
        @seed(20261126)
        @given(strategy)
        def collect(inputs: dict[str, Any]) -> None:
            out.append(inputs)

        collect()
        return out

    before = draws()
    literals = [f"/x{i}-literal" for i in range(300)] + [f"X-Literal-{i}" for i in range(300)]
    (tmp_path / "literals_here.py").write_text(f"LITERALS = {literals!r}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.import_module("literals_here")
    assert draws() == before
