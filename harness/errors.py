"""Bad input: what the user gave cannot be used. The CLI prints the message as one
paragraph on stderr and exits 2 (no traceback); pytest stops with the same words.

Every refusal the harness makes before running subclasses :class:`BadInput`, so each
command (including ones added later) inherits the treatment from harness/cli.py.
"""

from __future__ import annotations


class BadInput(Exception):
    """The message names what was wrong and what to do."""


def paragraph(text: str) -> str:
    """One paragraph: the lines of a message joined, runs of blanks collapsed."""
    return " ".join(str(text).split())
