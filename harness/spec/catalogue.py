"""Check that every `catalogue:` id names a row of the behavior catalogue.

The catalogue (../shared/node-http-behaviors.md beside a checkout) is a set of Markdown
tables whose first column is the id. It is optional: where it is absent, nothing is
checked.
"""

from __future__ import annotations

import re
from pathlib import Path

from harness.spec.model import Behavior
from harness.spec.yaml_source import SpecError

DEFAULT = Path("..") / "shared" / "node-http-behaviors.md"
_ROW = re.compile(r"^\|\s*([a-z0-9][A-Za-z0-9.-]*[A-Za-z0-9])(?:\s*\([^)]*\))?\s*\|")


def catalogue_ids(path: Path) -> set[str]:
    return {m.group(1) for line in path.read_text(encoding="utf-8").splitlines() if (m := _ROW.match(line))}


def check_catalogue(behaviors: list[Behavior], path: Path) -> None:
    """SpecError at the first behavior citing an id the catalogue does not have."""
    known = catalogue_ids(path)
    for b in behaviors:
        unknown = [c for c in b.catalogue if c not in known]
        if unknown:
            raise SpecError(b.source, b.line, f"catalogue id(s) {unknown} not in {path}", b.id)
