"""Behaviors and cases as loaded from YAML."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

LEVELS = ("required", "optional", "informational")


@dataclass(frozen=True)
class FetchBacked:
    """The variant a fetch-backed target is held to, for a documented limitation only."""

    limitation: str
    status: str  # UNSUPPORTED or NOOP
    because: str
    expect: list[dict[str, Any]]


@dataclass(frozen=True)
class Case:
    """A named concrete example of a behavior's inputs (run before generated ones)."""

    behavior: str
    name: str
    given: dict[str, Any]
    source: str
    line: int | None


@dataclass(frozen=True)
class Behavior:
    id: str
    title: str
    feature: str
    level: str
    catalogue: list[str]
    node: dict[str, Any]
    given: dict[str, dict[str, Any]]
    scenario: dict[str, Any]
    expect: list[dict[str, Any]]
    fetch_backed: FetchBacked | None
    source: str
    line: int | None
    max_examples: int | None = None
    notes: str = ""
    cases: list[Case] = field(default_factory=list)

    @property
    def location(self) -> str:
        return f"{self.source}:{self.line}" if self.line else self.source

    @property
    def kind(self) -> str:
        return str(self.scenario["kind"])

    @property
    def requires(self) -> list[str]:
        return list(self.scenario.get("requires", []))
