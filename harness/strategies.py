"""`given` input descriptions -> Hypothesis strategies.

An input is one of:
  {strategy: NAME, ...params}   a named HTTP-aware strategy below
  {schema: {...}}               any JSON Schema, via hypothesis-jsonschema
  {value: X}                    a constant
  {one_of: [X, Y, ...]}         one of the listed values
Named strategies are small compositions of Hypothesis' own; they know what HTTP allows
(tokens, field values, Latin-1) so generated inputs are valid unless a spec asks for
invalid ones on purpose (`invalid_http_token`, `invalid_field_value`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

TCHAR = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
VISIBLE_ASCII = "".join(chr(c) for c in range(0x21, 0x7F))
LATIN1_OBS = "".join(chr(c) for c in range(0xA0, 0x100))

# Names with framing, routing or fetch-forbidden meaning: generated names avoid them.
RESERVED_HEADERS = frozenset({
    "host", "content-length", "transfer-encoding", "connection", "keep-alive", "te", "trailer",
    "upgrade", "expect", "cookie", "set-cookie", "authorization", "proxy-authorization",
    "date", "via", "origin", "referer", "accept-encoding", "accept-charset", "dnt", "cookie2",
    "content-encoding",
})


def _no_source_constants() -> None:
    """Hypothesis (6.131+) mixes string and number literals found in the source of the
    modules loaded (ours included) into what it draws: the inputs of a seed would then
    change with any edit to the harness, and differ between pytest, the CLI and xdist
    workers (each loads other modules). A conformance run must draw the same inputs for
    the same seed, so that pool is kept empty; the global constants stay."""
    try:
        from hypothesis.internal.conjecture import providers
        from hypothesis.internal.constants_ast import Constants
    except ImportError:  # a Hypothesis without the feature
        return
    if hasattr(providers, "_get_local_constants"):
        empty = Constants()
        providers._get_local_constants = lambda: empty


_no_source_constants()
COMMON_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]
BODY_METHODS = ["POST", "PUT", "PATCH"]


def http_token(min_size: int = 1, max_size: int = 16) -> st.SearchStrategy[str]:
    return st.text(alphabet=TCHAR, min_size=min_size, max_size=max_size)


def method(case: str = "upper", pool: str = "common") -> st.SearchStrategy[str]:
    base = st.sampled_from(BODY_METHODS if pool == "body" else COMMON_METHODS)
    if pool == "any":
        base = st.one_of(base, st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=3, max_size=10))
    if case == "lower":
        return base.map(str.lower)
    if case == "mixed":
        return st.tuples(base, st.randoms(use_true_random=False)).map(
            lambda p: "".join(c.lower() if p[1].random() < 0.5 else c for c in p[0]))
    return base


def header_name(prefix: str = "X-", min_size: int = 1, max_size: int = 12,
                exclude: list[str] | None = None) -> st.SearchStrategy[str]:
    """Mixed-case token names; avoid names with special meaning unless excluded explicitly."""
    banned = RESERVED_HEADERS | {e.lower() for e in exclude or []}
    tail = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-",
                   min_size=min_size, max_size=max_size)
    return tail.map(lambda t: prefix + t).filter(
        lambda n: n.lower() not in banned and not n.endswith("-") and "--" not in n)


def field_value(charset: str = "ascii", min_size: int = 1, max_size: int = 24) -> st.SearchStrategy[str]:
    """A header value: visible characters with inner spaces, no leading/trailing whitespace."""
    alphabet = VISIBLE_ASCII + (LATIN1_OBS if charset == "latin1" else "")
    inner = st.text(alphabet=alphabet + " ", min_size=max(0, min_size - 2), max_size=max(0, max_size - 2))
    edge = st.sampled_from(alphabet)
    if min_size <= 1:
        return st.one_of(edge, st.tuples(edge, inner, edge).map("".join))
    return st.tuples(edge, inner, edge).map("".join)


def header_list(min_size: int = 0, max_size: int = 5, charset: str = "ascii",
                duplicates: bool = True) -> st.SearchStrategy[list[list[str]]]:
    """A list of [name, value] pairs, names unique case-insensitively unless duplicates
    are asked for, in which case some names repeat with the same spelling."""
    pair = st.tuples(header_name(), field_value(charset=charset)).map(list)
    pairs = st.lists(pair, min_size=min_size, max_size=max_size,
                     unique_by=lambda p: p[0].lower())
    if not duplicates:
        return pairs

    def add_dups(draw_pairs: list[list[str]], picks: list[int], values: list[str]) -> list[list[str]]:
        out = list(draw_pairs)
        for i, v in zip(picks, values, strict=False):
            if draw_pairs:
                out.append([draw_pairs[i % len(draw_pairs)][0], v])
        return out

    return st.builds(add_dups, pairs, st.lists(st.integers(0, 10), max_size=2),
                     st.lists(field_value(charset=charset), max_size=2))


def body(min_size: int = 0, max_size: int = 1024, large: bool = False) -> st.SearchStrategy[bytes]:
    """Binary bodies; `large: true` also draws sizes up to 1 MiB, built from a repeated
    random seed so generation stays cheap."""
    small = st.binary(min_size=min_size, max_size=min(max_size, 256))
    if not large:
        return st.binary(min_size=min_size, max_size=max_size) if max_size <= 4096 else small
    big = st.tuples(st.binary(min_size=1, max_size=64), st.integers(max(min_size, 1), 1 << 20)).map(
        lambda p: (p[0] * (p[1] // len(p[0]) + 1))[: p[1]])
    return st.one_of(small, big)


def text(alphabet: str = "ascii", min_size: int = 0, max_size: int = 32) -> st.SearchStrategy[str]:
    chars = {"ascii": st.characters(min_codepoint=0x20, max_codepoint=0x7E),
             "latin1": st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
             "unicode": st.characters(exclude_categories=["Cs", "Cc"])}[alphabet]
    return st.text(alphabet=chars, min_size=min_size, max_size=max_size)


def chunks(min_chunks: int = 1, max_chunks: int = 4, max_size: int = 64,
           max_delay_ms: int = 0) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Body chunks with optional delays between them: [{data: bytes, delay_ms: int}]."""
    chunk = st.fixed_dictionaries({"data": st.binary(min_size=1, max_size=max_size),
                                   "delay_ms": st.integers(0, max_delay_ms)})
    return st.lists(chunk, min_size=min_chunks, max_size=max_chunks)


def credentials(non_ascii: bool = True, reserved: bool = True) -> st.SearchStrategy[dict[str, str]]:
    """{user, password}: user has no ':' (Basic auth splits on the first one)."""
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~"
    if reserved:
        alphabet += "@/%?#&=+$! ;"
    pw_alphabet = alphabet + ":"
    extra = "äöüéñß€中" if non_ascii else ""
    user = st.text(alphabet=alphabet + extra, min_size=1, max_size=12)
    password = st.text(alphabet=pw_alphabet + extra, min_size=0, max_size=12)
    return st.fixed_dictionaries({"user": user, "password": password})


def status_code(min_value: int = 200, max_value: int = 599,
                exclude: list[int] | None = None) -> st.SearchStrategy[int]:
    banned = set(exclude or [])
    return st.integers(min_value, max_value).filter(lambda c: c not in banned)


def reason_phrase(min_size: int = 1, max_size: int = 24) -> st.SearchStrategy[str]:
    word = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!'-",
                   min_size=1, max_size=8)
    return st.lists(word, min_size=1, max_size=4).map(" ".join).filter(
        lambda s: min_size <= len(s) <= max_size)


def url_path(min_segments: int = 0, max_segments: int = 4, query: bool = True) -> st.SearchStrategy[str]:
    seg = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~%!$&'()*+,;=:@",
                  min_size=1, max_size=8).filter(lambda s: s not in (".", ".."))
    path = st.lists(seg, min_size=min_segments, max_size=max_segments).map(lambda s: "/" + "/".join(s))
    if not query:
        return path
    q = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789=&-._~", min_size=1, max_size=12)
    return st.tuples(path, st.one_of(st.just(""), q.map(lambda x: "?" + x))).map("".join)


def invalid_http_token() -> st.SearchStrategy[str]:
    """A string that is not a token: a token with one separator, space or control inside."""
    bad = st.sampled_from(list(' "(),/:;<=>?@[\\]{}\t') + ["\x00", "\x7f", "é"])
    return st.tuples(http_token(0, 6), bad, http_token(0, 6)).map("".join)


def invalid_field_value() -> st.SearchStrategy[str]:
    """A header value with CR, LF, NUL or a character above U+00FF inside."""
    bad = st.sampled_from(["\r", "\n", "\x00", "€", "中", "\r\nX-Injected: 1"])
    return st.tuples(field_value(min_size=0, max_size=8), bad, field_value(min_size=0, max_size=8)).map("".join)


def integers(min_value: int = 0, max_value: int = 100) -> st.SearchStrategy[int]:
    return st.integers(min_value, max_value)


def booleans() -> st.SearchStrategy[bool]:
    return st.booleans()


NAMED: dict[str, Callable[..., st.SearchStrategy[Any]]] = {
    f.__name__: f for f in (
        http_token, method, header_name, field_value, header_list, body, text, chunks,
        credentials, status_code, reason_phrase, url_path, invalid_http_token,
        invalid_field_value, integers, booleans,
    )
}


def check_input(spec: dict[str, Any]) -> str | None:
    """Why this input description is invalid, or None (used by the spec linter)."""
    if "strategy" in spec:
        name = spec["strategy"]
        fn = NAMED.get(name)
        if fn is None:
            return f"unknown strategy {name!r}; known: {', '.join(sorted(NAMED))}"
        params = {k: v for k, v in spec.items() if k != "strategy"}
        accepted = set(inspect.signature(fn).parameters)
        unknown = set(params) - accepted
        if unknown:
            return f"strategy {name!r} takes {sorted(accepted) or 'no parameters'}, not {sorted(unknown)}"
        try:
            fn(**params)
        except (TypeError, ValueError) as exc:
            return f"strategy {name!r}: {exc}"
        return None
    if "schema" in spec:
        try:
            from_schema(spec["schema"])
        except Exception as exc:  # hypothesis-jsonschema raises several types for bad schemas
            return f"schema: {exc}"
    return None


def compile_input(spec: dict[str, Any]) -> st.SearchStrategy[Any]:
    if "strategy" in spec:
        return NAMED[spec["strategy"]](**{k: v for k, v in spec.items() if k != "strategy"})
    if "schema" in spec:
        return from_schema(spec["schema"])
    if "value" in spec:
        return st.just(spec["value"])
    return st.sampled_from(spec["one_of"])


def compile_given(given: dict[str, dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """The strategy for a behavior's whole `given` block: a dict of named inputs."""
    return st.fixed_dictionaries({name: compile_input(spec) for name, spec in given.items()})
