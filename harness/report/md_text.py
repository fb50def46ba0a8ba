"""Markdown-safe text for what a report shows from a target or a generated input.

Messages, versions, header values and YAML can hold `|` (a table cell's end), backticks
(a code span's end), `<script>` (raw HTML in most Markdown viewers) and newlines (a table
row's end). `text` escapes them for running text and table cells; `code` makes a code span
that nothing inside can close; `fence` a fenced block that nothing inside can close.
"""

from __future__ import annotations

import re

_SPECIAL = re.compile(r"([\\`|*_\[\]])")


def text(value: object, limit: int = 400) -> str:
    """value on one line, at most limit characters, with Markdown and HTML neutralised."""
    flat = " ".join(str(value).split())
    if len(flat) > limit:
        flat = flat[: limit - 3] + "..."
    flat = flat.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _SPECIAL.sub(r"\\\1", flat)


def code(value: object, table: bool = True) -> str:
    """A code span around value, on one line; in a table (GitHub's) a `|` is escaped, elsewhere
    it stays as it is, so a command can be copied."""
    flat = " ".join(str(value).split())
    flat = flat.replace("|", "\\|") if table else flat
    ticks = "`" * (max((len(run) for run in re.findall(r"`+", flat)), default=0) + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    return f"{ticks}{pad}{flat}{pad}{ticks}"


def fence(body: str, info: str = "", indent: str = "") -> list[str]:
    """The lines of a fenced block holding body, its fence longer than any backtick run in it."""
    ticks = "`" * max(3, max((len(run) for run in re.findall(r"`+", body)), default=0) + 1)
    return [f"{indent}{ticks}{info}", *(f"{indent}{line}" for line in body.splitlines()), f"{indent}{ticks}"]
