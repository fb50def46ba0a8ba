"""JUnit XML renderer (matrix.junit.xml): one testcase per cell, for CI dashboards.

A finding is a <failure> whose text has its failing lines; its causes are testcase properties
and each suite's <system-out> is the target's causes view. A FLAKY cell passes with a
<flakyFailure> (the element Maven Surefire writes for a test that passed on a rerun).
"""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET

from harness.report import causes as causing
from harness.report.matrix import Matrix
from harness.status import STATUS, Kind


def _text(rec: dict[str, Any]) -> str:
    """The message, each failing entry where it is written, the commands."""
    lines = [rec.get("message") or rec["status"]]
    for f in rec.get("failures") or []:
        lines += [f"{f['spec']} (cause {f['cause']}): {f['message']}", *(f"    {y}" for y in f["yaml"].splitlines())]
    return "\n".join([*lines, *rec.get("repro", [])])


def _causes_view(target: str, m: Matrix) -> str:
    rows = m.causes.get(target, [])
    head = causing.summary(target, rows, m.counts[target]) or f"{target}: no findings"
    return "\n".join([head, *(f"{r.id} [{r.cls}] {len(r.cells)} cells: {r.title}; see it: {r.command}"
                              for r in rows)]) + "\n"


def render(m: Matrix) -> str:
    suites = ET.Element("testsuites", name="node-http-conformance")
    for target in m.targets:
        suite = ET.SubElement(suites, "testsuite", name=target)
        n = failures = skipped = errors = 0
        for feature, rows in m.features.items():
            for r in rows:
                rec = r.cells.get(target)
                if rec is None:
                    continue
                n += 1
                case = ET.SubElement(suite, "testcase", classname=f"{target}.{feature}", name=r.behavior)
                status = rec["status"]
                kind = STATUS[status].kind
                text = rec.get("message") or status
                if rec.get("causes"):
                    props = ET.SubElement(case, "properties")
                    for cause in rec["causes"]:
                        ET.SubElement(props, "property", name="cause", value=cause)
                if kind is Kind.FINDING:
                    failures += 1
                    ET.SubElement(case, "failure", message=f"{status}: {text[:200]}").text = _text(rec)
                elif kind is Kind.FLAKY:
                    ET.SubElement(case, "flakyFailure", message=text[:200]).text = _text(rec)
                elif kind is Kind.ERROR:
                    errors += 1
                    ET.SubElement(case, "error", message=text[:200]).text = text
                elif kind is Kind.SKIP:
                    skipped += 1
                    ET.SubElement(case, "skipped", message=text[:200])
                elif kind is Kind.DECLARED:
                    ET.SubElement(case, "system-out").text = f"{status}: {text}"
        ET.SubElement(suite, "system-out").text = _causes_view(target, m)
        suite.set("tests", str(n))
        suite.set("failures", str(failures))
        suite.set("errors", str(errors))
        suite.set("skipped", str(skipped))
    return ET.tostring(suites, encoding="unicode") + "\n"
