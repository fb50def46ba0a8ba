"""Reading node:http request options: Node's checks, in Node's order, with Node's errors."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from . import urls
from .errors import (
    UNDEFINED,
    invalid_arg_type,
    invalid_http_token,
    invalid_protocol,
    js_string,
    out_of_range,
    unescaped_characters,
    uri_malformed,
)
from .process import process
from .signals import is_signal
from .validation import has_invalid_path_char, is_http_token, valid_port

# Options that only matter for TLS or for sockets: accepted and ignored.
IGNORED_OPTIONS = frozenset(
    {
        "ca", "cert", "key", "pfx", "passphrase", "reject_unauthorized", "servername",
        "check_server_identity", "ciphers", "ecdh_curve", "honor_cipher_order", "min_version",
        "max_version", "secure_options", "secure_protocol", "session", "alpn_protocols",
        "crl", "dhparam", "sigalgs", "family", "hints", "lookup", "local_address",
        "local_port", "socket_path", "create_connection", "auto_select_family",
    }
)  # fmt: skip


def url_to_options(url: urls.URL) -> dict[str, Any]:
    """Node's urlToHttpOptions: userinfo is percent-decoded into `auth`; own properties
    added to the URL object come first, the URL's own fields override them."""
    hostname = url.hostname
    options: dict[str, Any] = {
        **url.own,
        "protocol": url.protocol,
        "hostname": hostname[1:-1] if hostname.startswith("[") else hostname,
        "hash": url.hash,
        "search": url.search,
        "pathname": url.pathname,
        "path": url.pathname + url.search,
        "href": url.href,
    }
    if url.port:
        options["port"] = int(url.port)
    if url.username or url.password:
        try:
            user = urls.decode_uri_component(url.username)
            password = urls.decode_uri_component(url.password)
        except ValueError as exc:
            raise uri_malformed() from exc
        options["auth"] = f"{user}:{password}"
    return options


def validate_host(value: Any, name: str) -> Any:
    if value is not None and value is not UNDEFINED and not isinstance(value, str):
        raise invalid_arg_type(f"options.{name}", ["string", "undefined", "null"], value)
    return value


# The largest delay a Node timer takes (2**31 - 1 ms); a larger one is cut down to it.
TIMEOUT_MAX = 2**31 - 1


def timer_duration(value: Any, name: str) -> float:
    """Node's getTimerDuration: a number, non-negative and finite; above TIMEOUT_MAX it is
    truncated to it, with a TimeoutOverflowWarning emitted at the call."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise invalid_arg_type(name, "number", value)
    if value < 0 or math.isnan(value) or math.isinf(value):
        raise out_of_range(name, "a non-negative finite number", value)
    if value > TIMEOUT_MAX:
        process.emit_warning(f"{js_string(value)} does not fit into a 32-bit signed integer.\n"
                             f"Timer duration was truncated to {TIMEOUT_MAX}.", "TimeoutOverflowWarning")
        return float(TIMEOUT_MAX)
    return float(value)


def given(value: Any) -> bool:
    return value is not None and value is not UNDEFINED


@dataclass
class CheckedOptions:
    """Request options after Node's synchronous checks."""

    options: dict[str, Any]
    agent: Any
    protocol: str
    host: str
    port: int
    default_port: int
    set_host: bool
    method: str
    path: str
    timeout: float | None
    unique_headers: set[str]
    signal: Any


def check_options(opts: dict[str, Any], global_agent: Any) -> CheckedOptions:
    """Validate snake_case request options in Node's order; raise Node's errors."""
    default_agent = opts.get("_default_agent") or global_agent

    agent = opts.get("agent", UNDEFINED)
    if agent is False:
        agent = type(default_agent)()
    elif agent is None or agent is UNDEFINED:
        agent = default_agent
    elif not callable(getattr(agent, "add_request", None)):
        raise invalid_arg_type("options.agent", ["Agent-like Object", "undefined", "false"], agent)

    protocol = opts.get("protocol") or default_agent.protocol
    expected = getattr(agent, "protocol", None) or default_agent.protocol
    if opts.get("path"):
        if has_invalid_path_char(js_string(opts["path"])):
            raise unescaped_characters("Request path")
    if protocol != expected:
        raise invalid_protocol(js_string(protocol), expected)

    default_port: int = opts.get("default_port") or getattr(agent, "default_port", 80) or 80
    port = valid_port(opts.get("port") or default_port or 80)
    host = (
        validate_host(opts.get("hostname"), "hostname")
        or validate_host(opts.get("host"), "host")
        or "localhost"
    )
    set_host = opts.get("set_host", UNDEFINED)
    set_host = True if set_host is UNDEFINED else bool(set_host)

    timeout: float | None = None
    if given(opts.get("timeout", UNDEFINED)):
        timeout = timer_duration(opts["timeout"], "timeout")

    method = opts.get("method", UNDEFINED)
    if given(method) and not isinstance(method, str):
        raise invalid_arg_type("options.method", "string", method)
    if method:
        if not is_http_token(method):
            raise invalid_http_token("Method", method)
        method = method.upper()
    else:
        method = "GET"
    path = js_string(opts["path"]) if opts.get("path") else "/"

    max_header_size = opts.get("max_header_size", UNDEFINED)
    if max_header_size is not UNDEFINED:
        if isinstance(max_header_size, bool) or not isinstance(max_header_size, (int, float)):
            raise invalid_arg_type("maxHeaderSize", "number", max_header_size)
        if not float(max_header_size).is_integer():
            raise out_of_range("maxHeaderSize", "an integer", max_header_size)
        if max_header_size < 0:
            raise out_of_range("maxHeaderSize", ">= 0 && <= 9007199254740991", max_header_size)
    for key, label in (
        ("insecure_http_parser", "options.insecureHTTPParser"),
        ("join_duplicate_headers", "options.joinDuplicateHeaders"),
    ):
        value = opts.get(key, UNDEFINED)
        if value is not UNDEFINED and not isinstance(value, bool):
            raise invalid_arg_type(label, "boolean", value)
    listed = opts.get("unique_headers")
    unique = {str(u).lower() for u in listed} if isinstance(listed, (list, tuple)) else set()

    signal = opts.get("signal", UNDEFINED)
    if given(signal) and not is_signal(signal):
        raise invalid_arg_type("options.signal", "AbortSignal", signal)

    return CheckedOptions(
        options=opts,
        agent=agent,
        protocol=protocol,
        host=host,
        port=port,
        default_port=default_port,
        set_host=set_host,
        method=method,
        path=path,
        timeout=timeout,
        unique_headers=unique,
        signal=signal if given(signal) else None,
    )
