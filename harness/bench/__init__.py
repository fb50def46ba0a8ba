"""Benchmarks, one module each, run as ``python -m harness.bench.<name>``: ``stdio`` and
``workerd`` (target start and per-scenario cost), ``wire`` (the origin and raw client),
``reference`` (the reference's cost over the layers it is built on)."""
