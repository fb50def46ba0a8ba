"""Assertions: what a spec says must be observed, checked by pure functions.

An assertion is a mapping with a subject and one check:
  subject  `at: <dotted path into the observation views>` or `value: <expression>`
  check    one of CHECKS below, whose argument is an expression (may use $given/$obs)
  optional `when: <expression>` (the assertion applies only if it is truthy), `because: text`
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from harness.spec.expr import MAPPING, SCALARS, ExprError, evaluate, get_path, is_missing, regex

_ABSENT_VALUES: tuple[Any, ...] = (None, [], {}, "", b"")


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, SCALARS) or isinstance(b, SCALARS):
        return bool(a == b)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, MAPPING) and isinstance(b, MAPPING):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


def _contains(container: Any, item: Any) -> bool:
    if isinstance(container, str) and isinstance(item, str):
        return item in container
    if isinstance(container, bytes) and isinstance(item, bytes):
        return item in container
    if isinstance(container, MAPPING):
        return item in container
    if isinstance(container, list | tuple):
        return any(_same(x, item) for x in container)
    return False


def _subsequence(seq: Any, wanted: Any) -> bool:
    if not isinstance(seq, list | tuple) or not isinstance(wanted, list | tuple):
        return False
    it = iter(seq)
    return all(any(_same(x, w) for x in it) for w in wanted)


def _type_name(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int | float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, bytes):
        return "bytes"
    if isinstance(v, list | tuple):
        return "array"
    return "object"


def _num(v: Any) -> float | None:
    return v if isinstance(v, int | float) and not isinstance(v, bool) else None


def _cmp(op: Callable[[float, float], bool]) -> Callable[[Any, Any], bool]:
    def check(actual: Any, expected: Any) -> bool:
        a, e = _num(actual), _num(expected)
        return a is not None and e is not None and op(a, e)

    return check


CHECKS: dict[str, Callable[[Any, Any], bool]] = {
    "equals": _same,
    "not_equals": lambda a, e: not _same(a, e),
    "one_of": lambda a, e: any(_same(a, x) for x in e),
    "contains": _contains,
    "not_contains": lambda a, e: not _contains(a, e),
    "contains_all": lambda a, e: all(_contains(a, x) for x in e),
    "subsequence": _subsequence,
    "starts_with": lambda a, e: (isinstance(a, str) and isinstance(e, str) and a.startswith(e))
    or (isinstance(a, bytes) and isinstance(e, bytes) and a.startswith(e)),
    "matches": lambda a, e: isinstance(a, str) and regex(e).search(a) is not None,
    "length": lambda a, e: hasattr(a, "__len__") and len(a) == e,
    "type": lambda a, e: _type_name(a) == e,
    "gte": _cmp(lambda a, e: a >= e),
    "gt": _cmp(lambda a, e: a > e),
    "lte": _cmp(lambda a, e: a <= e),
    "lt": _cmp(lambda a, e: a < e),
    "absent": lambda a, e: (a in _ABSENT_VALUES) == bool(e),
    "present": lambda a, e: (a not in _ABSENT_VALUES) == bool(e),
    "truthy": lambda a, e: bool(a) == bool(e),
}


@dataclass(frozen=True)
class Outcome:
    ok: bool
    message: str  # empty when ok
    observed: Any = None  # what a failing check saw (its shape names an automatic cause)


OBSERVED = ": observed "  # splits a failing check's message into what was expected and what was seen


def expected_observed(message: str) -> tuple[str, str]:
    """A failure message (check below) as (expected, observed); ("", message) for any other text."""
    expected, sep, observed = message.partition(OBSERVED)
    return (expected, observed) if sep else ("", message)


def short(value: Any, limit: int = 300) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check(assertion: Mapping[str, Any], given: Mapping[str, Any], views: Any) -> Outcome:
    """Evaluate one assertion against the observation views."""
    subject = str(assertion["at"]) if "at" in assertion else "value"
    name = next(k for k in assertion if k in CHECKS)
    try:
        if "when" in assertion and not evaluate(assertion["when"], given, views):
            return Outcome(True, "")
        if "at" in assertion:
            actual = get_path(views, subject)
            if is_missing(actual):
                actual = None
        else:
            actual = evaluate(assertion["value"], given, views)
        expected = evaluate(assertion[name], given, views)
    except ExprError:
        raise  # the spec itself is wrong (unknown input or operator): ERROR, not FAIL
    except Exception as exc:  # an observation of the wrong shape (null where data was due)
        return Outcome(False, f"{subject} {name}: cannot evaluate on what was observed "
                              f"({type(exc).__name__}: {exc})")
    if CHECKS[name](actual, expected):
        return Outcome(True, "")
    because = f" ({assertion['because']})" if "because" in assertion else ""
    return Outcome(False, f"{subject} {name} {short(expected)}{OBSERVED}{short(actual)}{because}", actual)
