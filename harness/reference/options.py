"""Option dicts accept Node's camelCase keys and Python's snake_case alike."""

from __future__ import annotations

import re
from typing import Any

_WORD = re.compile(r"(.)([A-Z][a-z]+)")
_LOWER_UPPER = re.compile(r"([a-z0-9])([A-Z])")


def snake_case(name: str) -> str:
    """`rejectUnauthorized` -> `reject_unauthorized`, `insecureHTTPParser` -> `insecure_http_parser`."""
    return _LOWER_UPPER.sub(r"\1_\2", _WORD.sub(r"\1_\2", name)).lower()


def normalise_options(options: dict[str, Any]) -> dict[str, Any]:
    """A copy with snake_case keys; when both spellings are present the later one wins."""
    return {
        snake_case(key) if isinstance(key, str) else key: value for key, value in options.items()
    }
