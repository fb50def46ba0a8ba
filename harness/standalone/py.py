"""The .py of a repro for impl: the scenario run on the reference (harness/reference/,
through the impl target and the harness's wire), without specs, Hypothesis or a verdict."""

from __future__ import annotations

import json
from typing import Any

TEMPLATE = '''#!/usr/bin/env python3
"""{title}

Made by: {command}
Run from the project's root: python {name}  (prints the observations as JSON, SCENARIO.md)
"""

import json
import os
import sys

sys.path.insert(0, os.getcwd())  # the project's root: the reference and the wire live there
from harness.runner import Session  # noqa: E402

SCENARIO = json.loads({scenario!r})
FAULT = {fault!r}

session = Session(["impl"], session_seed=0, fault=FAULT)
try:
    observations = session.run_scenario(session.target("impl"), SCENARIO)
finally:
    session.close()
print(json.dumps(observations, indent=2, ensure_ascii=False, default=str))
'''


def script(repro: dict[str, Any], command: str, name: str) -> str:
    title = (f"{repro['behavior']} ({repro.get('spec')}), the example the harness recorded as "
             f"{repro.get('status')} on {repro.get('target')}.")
    return TEMPLATE.format(title=title, command=command, name=name, fault=repro.get("fault"),
                           scenario=json.dumps(repro["scenario"], ensure_ascii=False))
