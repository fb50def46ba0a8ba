"""Spec loading and validation."""

from harness.spec.loader import load_all, load_case_file, load_spec_file
from harness.spec.model import Behavior, Case, FetchBacked
from harness.spec.yaml_source import SpecError

__all__ = ["Behavior", "Case", "FetchBacked", "SpecError", "load_all", "load_case_file", "load_spec_file"]
