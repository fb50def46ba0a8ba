"""The .mjs of a repro: executor.mjs and vocabulary.mjs bundled into one file, with the
scenario, the vocabulary and the wire's bytes (composed here by harness/wire) as data."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

from harness.wire.client_request import plan_request
from harness.wire.codec import to_bytes
from harness.wire.origin_writer import final_parts, interim_heads, response_keeps

DRIVERS = Path(__file__).parent.parent / "drivers"
WIRE = Path(__file__).parent / "wire.mjs"
# Every import of the bundled modules and of wire.mjs, hoisted to the top once.
IMPORTS = ("import * as http from 'node:http';\nimport net from 'node:net';\nimport process from 'node:process';\n"
           "import { Buffer } from 'node:buffer';\nimport events from 'node:events';\n"
           "import { Readable, finished as streamFinished } from 'node:stream';\n")
_IMPORT = re.compile(r"^import [^;]*;\n", re.M)
_EXPORT = re.compile(r"^export (?=(async )?function |const |let |class )", re.M)
_EXPORTED = re.compile(r"^export (?:async )?(?:function\*? |const |let |class )(\w+)", re.M)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _module(name: str) -> str:
    """One ES module as a scope: its imports dropped (hoisted or bundled), its exports returned."""
    source = (DRIVERS / name).read_text(encoding="utf-8")
    for imported in _IMPORT.findall(source):
        if "'./" in imported and "vocabulary.mjs" not in imported:
            raise ValueError(f"{name} imports {imported.strip()}: teach harness/standalone/mjs.py to bundle it")
        if "'node:" not in imported and "'./" not in imported:
            raise ValueError(f"{name} imports {imported.strip()}: not a node: module")
    names = ", ".join(_EXPORTED.findall(source))
    body = _EXPORT.sub("", _IMPORT.sub("", source))
    return (f"// ---- {name}, bundled from harness/drivers/{name}\n"
            f"const {{ {names} }} = (() => {{\n{body}\nreturn {{ {names} }};\n}})();\n")


def _origin_plan(spec: dict[str, Any]) -> dict[str, Any]:
    def final(method: str) -> dict[str, Any]:
        parts, closes = final_parts(spec, method)
        return {"parts": [[delay * 1000, _b64(data)] for delay, data in parts], "closes": closes}

    action = spec.get("action", "respond")
    return {"action": action, "read_body": spec.get("read_body", True),
            "interim": [_b64(h) for h in interim_heads(spec)] if action == "respond" else [],
            "raw": _b64(to_bytes(spec.get("raw"))), "keeps": response_keeps(spec),
            "head": final("HEAD"), "other": final("GET")}


def _request_plan(req: dict[str, Any]) -> dict[str, Any]:
    plan = plan_request(req)
    return {"server": req.get("server", 0), "conn": req.get("conn"), "method": plan.method, "head": _b64(plan.head),
            "parts": [[delay * 1000, _b64(data)] for delay, data in plan.parts],
            "close_after_head": plan.close_after_head, "half_close": plan.half_close}


def plan(scenario: dict[str, Any]) -> dict[str, Any]:
    if scenario["kind"] == "client":
        return {"responses": [_origin_plan(r) for r in scenario["origin"]["responses"]]}
    return {"requests": [_request_plan(r) for r in scenario["requests"]]}


def script(repro: dict[str, Any], command: str) -> str:
    scenario = repro["scenario"]
    data = (f"const VOCABULARY = {(DRIVERS / 'vocabulary.json').read_text(encoding='utf-8').strip()};\n"
            f"const SCENARIO = {json.dumps(scenario, ensure_ascii=False)};\n"
            f"const PLAN = {json.dumps(plan(scenario))};\n")
    head = (f"// {repro['behavior']} ({repro.get('spec')}), the example the harness recorded as {repro.get('status')} "
            f"on {repro.get('target')}.\n// Made by: {command}\n// Run: node|bun|deno run -A this.mjs "
            "(prints the observations as JSON, SCENARIO.md)\n")
    return (head + IMPORTS + _module("vocabulary.mjs") + _module("executor.mjs") + data
            + WIRE.read_text(encoding="utf-8"))
