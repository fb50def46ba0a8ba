"""JSON renderer (matrix.json): the matrix shape for dashboards, statuses only, and the causes view."""

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
        "causes": {t: [{"id": r.id, "title": r.title, "subject": r.subject, "class": r.cls, "cells": r.cells,
                        "command": r.command} for r in rows] for t, rows in m.causes.items()},
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
