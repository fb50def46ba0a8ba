"""The explorer (matrix.html) in a real headless Chromium: load, filter, open a cell, and check
that a target's `<script>` stays text. Leaves matrix.html and a screenshot under
<--report-dir>/explorer/ (reports/latest/explorer/ by default)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import webdriver

from harness.report.render import render_all
from harness.report.results import SCHEMA

HOSTILE = "<script>window.pwned = 1</script>"
YAML = ("- at: request.headers\n  contains: [{$given: name}, {$given: value}]\n"
        "  because: the name keeps its case and the value is sent unchanged\n  cause: request-header-names-lowercased")
FAILURE = {"spec": "specs/headers.yaml:23", "yaml": YAML, "cause": "request-header-names-lowercased",
           "message": f"request.headers contains ['X-CamelCase', '{HOSTILE}']: observed "
                      f"[['host', '127.0.0.1:46487'], ['x-camelcase', '{HOSTILE}-x']] "
                      "(the name keeps its case and the value is sent unchanged)"}


def rec(behavior: str, target: str, status: str, feature: str = "headers") -> dict[str, Any]:
    failing = status == "FAIL"
    repro = f"reports/latest/repro/{target}/{behavior}.json"
    return {"behavior": behavior, "title": f"the title of {behavior}", "catalogue": [behavior], "feature": feature,
            "level": "required", "target": target, "profile": "fetch-backed" if target == "impl" else "node",
            "status": status, "declared": False, "message": FAILURE["message"] if failing else "",
            "example": {"label": "case:camel-case", "inputs": {"name": "X-CamelCase", "value": HOSTILE}},
            "repro": [f"python -m harness replay {repro}",
                      f"pytest --target={target} --fault alter-header-values -k {behavior} --hypothesis-seed=7"]
            if failing else [], "repro_file": repro if failing else None, "examples_run": 3,
            "statuses": {status: 1, "PASS": 2} if failing else {status: 3}, "spec": "specs/headers.yaml:3",
            "seed": 1, "wall_s": 0.2, "differences": [], "causes": [FAILURE["cause"]] if failing else [],
            "failures": [FAILURE] if failing else [], "reruns": ["FAIL", "FAIL"] if failing else [], "notes": []}


DOC = {"schema": SCHEMA, "harness_version": "0.1.0", "started": "s", "finished": "2026-12-02T07:40:15+00:00",
       "wall_s": 1, "session_seed": 7, "hypothesis_profile": "ci", "fault": "alter-header-values", "oracle": None,
       "targets": {"impl": {"kind": "reference", "profile": "fetch-backed", "version": "0.1.0"},
                   "node": {"kind": "runtime", "profile": "node", "version": "24.21.0"}},
       "apps": None,
       "causes": {"request-header-names-lowercased": {"title": "request header names go out lower-cased",
                                                      "subject": "client.headers.case-preserved-on-wire"}},
       "results": [rec("client.headers.case-preserved-on-wire", "impl", "FAIL"),
                   rec("client.headers.case-preserved-on-wire", "node", "PASS"),
                   rec("client.headers.order", "impl", "PASS"), rec("client.headers.order", "node", "PASS"),
                   rec("server.status.custom-message", "impl", "UNSUPPORTED", "server"),
                   rec("server.status.custom-message", "node", "PASS", "server")]}


@pytest.fixture(scope="module")
def browser() -> Any:
    why = webdriver.missing()
    if why:
        pytest.skip(f"the explorer's browser test needs Chromium: {why}")
    b = webdriver.Browser()
    yield b
    b.close()


def test_filter_open_a_cell_and_escape(browser: webdriver.Browser, pytestconfig: pytest.Config) -> None:
    out = Path(pytestconfig.rootpath) / pytestconfig.getoption("report_dir") / "explorer"
    out.mkdir(parents=True, exist_ok=True)
    render_all(DOC, out, ["html"])
    browser.open((out / "matrix.html").resolve().as_uri())

    summary = browser.text(browser.find("#summary"))
    assert "impl 1 1 0 0 1 0 0 0 0 1" in summary.replace("\n", " ")  # PASS UNSUPPORTED ... and 1 cause
    assert browser.text(browser.find("#f-count")) == "3 of 3 behaviors shown"

    browser.click(browser.find('#filters input[value="PASS"]'))  # only rows with something else remain
    assert browser.text(browser.find("#f-count")) == "2 of 3 behaviors shown"
    browser.type(browser.find("#f-text"), "lower-cased")  # a cause's title
    assert browser.text(browser.find("#f-count")) == "1 of 3 behaviors shown"
    visible = [r for r in browser.find_all("#matrix tr.b") if browser.displayed(r)]
    assert len(visible) == 1 and "case-preserved-on-wire" in browser.text(visible[0])

    cell = browser.find('#matrix tr.b[data-behavior="client.headers.case-preserved-on-wire"] td[data-target="impl"] button')
    assert browser.text(cell) == "FAIL"  # the status by label, not colour alone
    browser.click(cell)
    detail = browser.find("#detail")
    assert browser.displayed(detail)
    text = browser.text(detail)
    for shown in ("client.headers.case-preserved-on-wire on impl", "case:camel-case; 3 examples run",
                  "specs/headers.yaml:23 cause request-header-names-lowercased", "expected (the spec)",
                  "request.headers contains ['X-CamelCase',", "observed on impl",
                  "request header names go out lower-cased (class fetch)",
                  "python -m harness replay reports/latest/repro/impl/client.headers.case-preserved-on-wire.json",
                  "python -m harness repro reports/latest/repro/impl/client.headers.case-preserved-on-wire.json "
                  "--script client.headers.case-preserved-on-wire.py",
                  f"'x-camelcase', '{HOSTILE}-x'"):
        assert shown in text, shown
    assert browser.text(browser.find("#detail .expected")).startswith("expected (the spec)\n- at: request.headers")
    # The target's <script> is text: no element made of it, nothing ran.
    assert browser.script("return document.querySelectorAll('#detail script').length") == 0
    assert browser.script("return window.pwned === undefined") is True
    browser.screenshot(out / "explorer.png")
    assert (out / "explorer.png").stat().st_size > 10_000
