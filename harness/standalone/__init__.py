"""Standalone repro scripts: one scenario of a repro file, runnable with no harness.

`python -m harness repro REPRO.json --script OUT` writes OUT.mjs for the JavaScript targets
(mjs.py: the harness's own executor.mjs bundled with the small origin or raw client the
scenario needs) or OUT.py for impl (py.py: the reference run in-process). Either prints the
scenario's observations as JSON, in the shape the harness records them (SCENARIO.md).
"""
