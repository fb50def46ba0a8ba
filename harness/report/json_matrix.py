"""JSON renderer (matrix.json): the matrix shape for dashboards, statuses only."""

from __future__ import annotations

import json

from harness.report.matrix import Matrix


def render(m: Matrix) -> str:
    doc = {
        "targets": m.targets,
        "meta": m.meta,
        "features": {f: [{"behavior": r.behavior, "level": r.level, "catalogue": r.catalogue,
                          "cells": {t: r.cells[t]["status"] for t in m.targets if t in r.cells}}
                         for r in rows] for f, rows in m.features.items()},
        "counts": m.counts,
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
