"""A small WHATWG URL parser, enough for what fetch and node:http do with http(s) URLs.

Node parses URL strings with WHATWG URL and fetch does too, so both layers share this:
the host is lower-cased (IDNA for non-ASCII), dot segments are resolved, the fragment is
kept apart, and the path, query and userinfo are percent-encoded with the WHATWG sets.
Relative URLs are not supported: every caller here has an absolute URL.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

SPECIAL_PORTS: dict[str, int | None] = {
    "http": 80,
    "https": 443,
    "ws": 80,
    "wss": 443,
    "ftp": 21,
    "file": None,
}

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
_C0_OR_SPACE = "".join(chr(i) for i in range(0x21))
_FORBIDDEN_HOST = set("\x00\t\n\r #/:<>?@[\\]^|%\x7f") | {chr(i) for i in range(0x20)}

# Percent-encode sets (WHATWG URL, section 1.3), as the extra ASCII characters beyond C0.
_FRAGMENT_SET = set(' "<>`')
_QUERY_SET = set(' "#<>')
_SPECIAL_QUERY_SET = _QUERY_SET | {"'"}
_PATH_SET = _QUERY_SET | set("?`{}^")
_USERINFO_SET = _PATH_SET | set("/:;=@[\\]|")


class InvalidURL(ValueError):
    """The input is not a valid absolute URL."""


@dataclass
class URL:
    """A parsed URL; fields follow the WHATWG URL API (already serialised strings)."""

    scheme: str
    username: str = ""
    password: str = ""
    hostname: str = ""  # IPv6 keeps its brackets, as WHATWG url.hostname does
    port: str = ""  # "" when absent or the scheme's default
    pathname: str = "/"
    query: str | None = None
    fragment: str | None = None
    # Own properties a caller added to a URL object (`url.headers = {...}`): Node's
    # urlToHttpOptions spreads them into the request options.
    own: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def protocol(self) -> str:
        return self.scheme + ":"

    @property
    def host(self) -> str:
        return f"{self.hostname}:{self.port}" if self.port else self.hostname

    @property
    def search(self) -> str:
        return f"?{self.query}" if self.query else ""

    @property
    def hash(self) -> str:
        return f"#{self.fragment}" if self.fragment else ""

    @property
    def special(self) -> bool:
        return self.scheme in SPECIAL_PORTS

    @property
    def effective_port(self) -> int | None:
        return int(self.port) if self.port else SPECIAL_PORTS.get(self.scheme)

    @property
    def target(self) -> str:
        """The request target: path plus query (no fragment)."""
        return self.pathname + ("" if self.query is None else "?" + self.query)

    @property
    def href(self) -> str:
        out = self.scheme + ":"
        if self.special or self.hostname:
            out += "//"
            if self.username or self.password:
                out += self.username
                if self.password:
                    out += ":" + self.password
                out += "@"
            out += self.host
        out += self.target
        if self.fragment is not None:
            out += "#" + self.fragment
        return out

    def __str__(self) -> str:
        return self.href


def _encode(text: str, extra: set[str]) -> str:
    out = []
    for ch in text:
        if ch < " " or ch > "~" or ch in extra:
            out.append("".join(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass")))
        else:
            out.append(ch)
    return "".join(out)


def _percent_decode_bytes(text: str) -> bytes:
    raw = text.encode("utf-8", "surrogatepass")
    out = bytearray()
    i = 0
    while i < len(raw):
        if raw[i] == 0x25 and _is_hex(raw[i + 1 : i + 3]):
            out.append(int(raw[i + 1 : i + 3], 16))
            i += 3
        else:
            out.append(raw[i])
            i += 1
    return bytes(out)


def _is_hex(two: bytes) -> bool:
    return len(two) == 2 and all(c in b"0123456789abcdefABCDEF" for c in two)


def _parse_ipv4_number(part: str) -> int | None:
    if part == "":
        return None
    base = 10
    if len(part) >= 2 and part[:2].lower() == "0x":
        part, base = part[2:], 16
    elif len(part) >= 2 and part[0] == "0":
        part, base = part[1:], 8
    if part == "":
        return 0
    try:
        return int(part, base)
    except ValueError:
        return None


def _ends_in_number(host: str) -> bool:
    parts = host.split(".")
    if parts[-1] == "" and len(parts) > 1:
        parts.pop()
    last = parts[-1]
    if last and all(c in "0123456789" for c in last):
        return True
    return _parse_ipv4_number(last) is not None and last[:2].lower() == "0x"


def _parse_ipv4(host: str) -> str:
    parts = host.split(".")
    if parts[-1] == "" and len(parts) > 1:
        parts.pop()
    if len(parts) > 4:
        raise InvalidURL("IPv4 address with too many parts")
    numbers = []
    for part in parts:
        n = _parse_ipv4_number(part)
        if n is None:
            raise InvalidURL("bad IPv4 part")
        numbers.append(n)
    if any(n > 255 for n in numbers[:-1]) or numbers[-1] >= 256 ** (5 - len(numbers)):
        raise InvalidURL("IPv4 part out of range")
    value = numbers[-1]
    for i, n in enumerate(numbers[:-1]):
        value += n * 256 ** (3 - i)
    return ".".join(str((value >> shift) & 0xFF) for shift in (24, 16, 8, 0))


def _parse_host(text: str, special: bool) -> str:
    if text.startswith("["):
        if not text.endswith("]"):
            raise InvalidURL("unterminated IPv6 address")
        try:
            return f"[{ipaddress.IPv6Address(text[1:-1]).compressed}]"
        except ValueError as exc:
            raise InvalidURL("bad IPv6 address") from exc
    if not special:
        return _encode(text, set())
    domain = _percent_decode_bytes(text).decode("utf-8", "replace")
    if domain == "":
        raise InvalidURL("empty host")
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise InvalidURL("bad international domain") from exc
    domain = domain.lower()
    if any(ch in _FORBIDDEN_HOST for ch in domain):
        raise InvalidURL("forbidden host code point")
    if _ends_in_number(domain):
        return _parse_ipv4(domain)
    return domain


def _normalise_path(path: str, special: bool) -> str:
    segments = path.split("/")[1:] if path.startswith("/") else path.split("/")
    out: list[str] = []
    for i, seg in enumerate(segments):
        last = i == len(segments) - 1
        low = seg.lower()
        if low in ("..", ".%2e", "%2e.", "%2e%2e"):
            if out:
                out.pop()
            if last:
                out.append("")
        elif low in (".", "%2e"):
            if last:
                out.append("")
        else:
            out.append(_encode(seg, _PATH_SET))
    return "/" + "/".join(out) if special or path.startswith("/") else "/".join(out)


def parse(text: str) -> URL:
    """Parse an absolute URL string the WHATWG way; raise InvalidURL when it is not one."""
    text = text.strip(_C0_OR_SPACE)
    text = text.replace("\t", "").replace("\n", "").replace("\r", "")
    match = _SCHEME.match(text)
    if not match:
        raise InvalidURL("no scheme")
    scheme = match.group(1).lower()
    rest = text[match.end() :]
    special = scheme in SPECIAL_PORTS

    fragment = None
    if "#" in rest:
        rest, fragment = rest.split("#", 1)
        fragment = _encode(fragment, _FRAGMENT_SET)

    if special:
        rest = rest.replace("\\", "/")
        rest = rest.lstrip("/")
        has_authority = True
    else:
        has_authority = rest.startswith("//")
        if has_authority:
            rest = rest[2:]

    url = URL(scheme=scheme, fragment=fragment)
    if has_authority:
        end = len(rest)
        for sep in "/?":
            pos = rest.find(sep)
            if pos != -1:
                end = min(end, pos)
        authority, rest = rest[:end], rest[end:]
        if "@" in authority:
            userinfo, authority = authority.rsplit("@", 1)
            user, _, password = userinfo.partition(":")
            url.username = _encode(user, _USERINFO_SET)
            url.password = _encode(password, _USERINFO_SET)
        host, port = _split_port(authority)
        url.hostname = _parse_host(host, special) if host or special else ""
        if port:
            if not port.isdigit() or not port.isascii() or int(port) > 65535:
                raise InvalidURL("bad port")
            if int(port) != SPECIAL_PORTS.get(scheme, -1):
                url.port = str(int(port))

    if "?" in rest:
        rest, query = rest.split("?", 1)
        url.query = _encode(query, _SPECIAL_QUERY_SET if special else _QUERY_SET)
    if special or has_authority:
        url.pathname = _normalise_path(rest, special) if rest or special else ""
    else:
        url.pathname = _encode(rest, set())  # opaque path
    return url


def _split_port(authority: str) -> tuple[str, str]:
    if authority.startswith("["):
        close = authority.find("]")
        if close == -1:
            raise InvalidURL("unterminated IPv6 address")
        host, tail = authority[: close + 1], authority[close + 1 :]
        if tail and not tail.startswith(":"):
            raise InvalidURL("junk after IPv6 address")
        return host, tail[1:]
    host, _, port = authority.partition(":")
    return host, port


def decode_uri_component(text: str) -> str:
    """JavaScript's decodeURIComponent: every %XX run must be valid UTF-8.

    Raises ValueError('URI malformed') like JS raises URIError.
    """
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] != "%":
            out.append(text[i])
            i += 1
            continue
        run = bytearray()
        while i < len(text) and text[i] == "%":
            pair = text[i + 1 : i + 3]
            if len(pair) != 2 or not _is_hex(pair.encode("latin-1", "replace")):
                raise ValueError("URI malformed")
            run.append(int(pair, 16))
            i += 3
        try:
            out.append(run.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise ValueError("URI malformed") from exc
    return "".join(out)
