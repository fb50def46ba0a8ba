"""Expressions and assertion checks: pure functions, every operator and check."""

from __future__ import annotations

import pytest

from harness.spec.assertions import CHECKS, check
from harness.spec.expr import ExprError, evaluate, references

GIVEN = {"m": "patch", "creds": {"user": "ü", "password": "p"}, "pairs": [["X-A", "1"], ["x-a", "2"]]}


@pytest.mark.parametrize(("expr", "value"), [
    ({"$upper": {"$given": "m"}}, "PATCH"),
    ({"$b64": {"$concat": [{"$given": "creds.user"}, ":", {"$given": "creds.password"}]}}, "w7w6cA=="),
    ({"$bytes_len": "é€"}, 5),
    ({"$utf8": "é"}, b"\xc3\xa9"),
    ({"$latin1": "é"}, b"\xe9"),
    ({"$decode_latin1": {"$utf8": "é"}}, "Ã©"),
    ({"$object": [["X-A", "1"]]}, {"X-A": "1"}),
    ({"$where": [{"$given": "pairs"}, "X-a"]}, ["1", "2"]),
    ({"$flat": {"$given": "pairs"}}, ["X-A", "1", "x-a", "2"]),
    ({"$pct_userinfo": "us@er:p"}, "us%40er%3Ap"),
    ({"$if": [{"$eq": [1, 1]}, "a", "b"]}, "a"),
    ({"$sub": [5, 2]}, 3),
    ({"$bytes": "aGk="}, b"hi"),
    ({"$literal": {"$given": "m"}}, {"$given": "m"}),
    ({"$undefined": True}, {"$undefined": True}),
    ([{"$lower": "A"}, {"k": {"$str": 5}}], ["a", {"k": "5"}]),
])
def test_evaluate(expr: object, value: object) -> None:
    assert evaluate(expr, GIVEN) == value


def test_paths_reach_dotted_keys() -> None:
    props = {"props": {"req.socket.encrypted": None, "req.method": "GET", "req": {"x": 1}}}
    assert evaluate({"$obs": "props.req.method"}, {}, props) == "GET"
    assert evaluate({"$obs": "props.req.x"}, {}, props) == 1
    assert evaluate({"$obs": "props.req.socket.encrypted"}, {}, props) is None


def test_obs_reference_and_missing_given() -> None:
    assert evaluate({"$obs": "a.0.b"}, {}, {"a": [{"b": 7}]}) == 7
    assert evaluate({"$obs": "a.9"}, {}, {"a": []}) is None
    with pytest.raises(ExprError):
        evaluate({"$given": "nope"}, GIVEN)
    with pytest.raises(ExprError):
        evaluate({"$eval": "1+1"}, GIVEN)


def test_references_for_the_linter() -> None:
    names, unknown = references({"a": [{"$given": "x.y"}, {"$frob": 1}, {"$literal": {"$given": "z"}}]})
    assert names == {"x"} and unknown == {"$frob"}


@pytest.mark.parametrize(("name", "actual", "expected", "ok"), [
    ("equals", [1, "a"], [1, "a"], True), ("equals", True, 1, False), ("equals", b"x", b"y", False),
    ("not_equals", 1, 2, True), ("one_of", "b", ["a", "b"], True), ("one_of", "c", ["a"], False),
    ("contains", ["X-A", "1"], "1", True), ("contains", [["a", "1"]], ["a", "1"], True),
    ("contains", "hello", "ell", True), ("contains", {"k": 1}, "k", True), ("contains", None, "k", False),
    ("not_contains", ["a"], "a", False), ("contains_all", [1, 2, 3], [3, 1], True),
    ("subsequence", ["a", "x", "b", "c"], ["a", "b", "c"], True),
    ("subsequence", ["b", "a"], ["a", "b"], False), ("starts_with", "Basic x", "Basic ", True),
    ("starts_with", b"ab", "a", False), ("matches", "abc123", r"\d+$", True),
    ("length", [1, 2], 2, True), ("type", 5, "number", True), ("type", True, "number", False),
    ("gte", 5, 5, True), ("gt", 5, 5, False), ("lte", 1, 2, True), ("lt", None, 2, False),
    ("absent", None, True, True), ("absent", [], True, True), ("absent", "x", True, False),
    ("present", "x", True, True), ("truthy", 0, True, False),
])
def test_checks(name: str, actual: object, expected: object, ok: bool) -> None:
    assert CHECKS[name](actual, expected) is ok


def test_check_message_and_when() -> None:
    out = check({"at": "a.b", "equals": {"$upper": {"$given": "m"}}}, GIVEN, {"a": {"b": "patch"}})
    assert not out.ok and out.message == "a.b equals 'PATCH': observed 'patch'"
    assert check({"at": "a", "equals": 1, "when": False}, GIVEN, {"a": 2}).ok
    assert check({"value": {"$sub": [{"$obs": "t2"}, {"$obs": "t1"}]}, "gte": 100}, {}, {"t1": 1, "t2": 150}).ok


def test_wrong_shaped_observation_fails_not_errors() -> None:
    out = check({"value": {"$len": {"$obs": "missing"}}, "equals": 2}, {}, {})
    assert not out.ok and "cannot evaluate" in out.message
    with pytest.raises(ExprError):
        check({"at": "a", "equals": {"$given": "nope"}}, {}, {"a": 1})
