"""JUnit XML renderer (matrix.junit.xml): one testcase per cell, for CI dashboards."""

from __future__ import annotations

from xml.etree import ElementTree as ET

from harness.report.matrix import Matrix
from harness.status import STATUS, Kind


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
                if kind is Kind.FINDING:
                    failures += 1
                    ET.SubElement(case, "failure", message=f"{status}: {text[:200]}").text = \
                        "\n".join([text, *rec.get("repro", [])])
                elif kind is Kind.ERROR:
                    errors += 1
                    ET.SubElement(case, "error", message=text[:200]).text = text
                elif kind is Kind.SKIP:
                    skipped += 1
                    ET.SubElement(case, "skipped", message=text[:200])
                elif kind is Kind.DECLARED:
                    ET.SubElement(case, "system-out").text = f"{status}: {text}"
        suite.set("tests", str(n))
        suite.set("failures", str(failures))
        suite.set("errors", str(errors))
        suite.set("skipped", str(skipped))
    return ET.tostring(suites, encoding="unicode") + "\n"
