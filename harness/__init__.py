"""Conformance harness for node:http on fetch-backed runtimes."""

__version__ = "0.1.0"
