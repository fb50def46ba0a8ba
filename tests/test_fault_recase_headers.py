"""One concern per behavior: a target that only re-cases request header names on the
wire (the recase-request-headers fault) fails the header-case behaviors and nothing else.

Fast on purpose: it runs the header-case behaviors and the behaviors that used to fail
on a header name's case without it being their subject (auth, framing, accessors, ...),
not the whole suite; the full comparison is `pytest --target=impl --fault
recase-request-headers` against a healthy run.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import settings

from harness.fault_coverage import HEALTHY
from harness.runner import Session
from harness.spec import load_all

ROOT = Path(__file__).resolve().parents[1]

# The behaviors whose subject is the case of request header names on the wire.
HEADER_CASE = frozenset({
    "client.headers.case-preserved-on-wire",
    "client.headers.raw-array",
    "client.headers.object-case-collision",
})
# Behaviors that send headers and read them back, but about something else.
OTHER_SUBJECTS = frozenset({
    "auth.option",
    "auth.header-wins",
    "body.explicit-framing.content-length",
    "client.headers.accessors",
    "client.headers.array-value",
    "client.headers.array-value.cookie",
    "client.headers.value-coercion.number",
    "client.headers.invalid-value.latin1-allowed",
    "client.req.default-headers",
    "client.req.url-plus-options",
    "agent.connection-close-header",
})


def test_recased_header_names_fail_only_the_header_case_behaviors() -> None:
    behaviors = [b for b in load_all(ROOT / "specs", ROOT / "cases") if b.id in HEADER_CASE | OTHER_SUBJECTS]
    assert {b.id for b in behaviors} == HEADER_CASE | OTHER_SUBJECTS, "a behavior id here no longer exists"
    session = Session(["impl"], session_seed=20261126, fault="recase-request-headers",
                      base_settings=settings(max_examples=3, deadline=None))
    try:
        cells = {b.id: session.run_cell(b, "impl") for b in behaviors}
    finally:
        session.close()
    errors = {bid: c.message for bid, c in cells.items() if c.status == "ERROR"}
    assert not errors, errors
    broken = {bid for bid, c in cells.items() if c.status not in HEALTHY}
    details = {bid: cells[bid].message for bid in broken ^ HEADER_CASE}
    assert broken == HEADER_CASE, details
