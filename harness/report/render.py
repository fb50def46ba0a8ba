"""Render every format from a results file. A new format is one module + one line here."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.report import html, json_matrix, junit, markdown
from harness.report.matrix import Matrix, build

RENDERERS: dict[str, tuple[str, Callable[[Matrix], str]]] = {
    "md": ("matrix.md", markdown.render),
    "html": ("matrix.html", html.render),
    "json": ("matrix.json", json_matrix.render),
    "junit": ("matrix.junit.xml", junit.render),
}


def render_all(doc: dict[str, Any], out_dir: Path, formats: list[str] | None = None) -> list[Path]:
    matrix = build(doc)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in formats or list(RENDERERS):
        filename, fn = RENDERERS[fmt]
        path = out_dir / filename
        path.write_text(fn(matrix), encoding="utf-8")
        written.append(path)
    return written
