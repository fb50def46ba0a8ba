"""Behaviors and cases as loaded from YAML."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

LEVELS = ("required", "optional", "informational")


@dataclass(frozen=True)
class Written:
    """Where an `expect` entry is written: file, line and its YAML text, shown when it fails."""

    source: str
    line: int | None
    text: str

    @property
    def location(self) -> str:
        return f"{self.source}:{self.line}" if self.line else self.source


@dataclass(frozen=True)
class FetchBacked:
    """The variant a fetch-backed target is held to, for a documented limitation only."""

    limitation: str
    status: str  # UNSUPPORTED or NOOP
    because: str
    expect: list[dict[str, Any]]
    expect_written: tuple[Written, ...] = ()  # one per expect entry


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
    expect_written: tuple[Written, ...] = ()  # one per expect entry

    @property
    def location(self) -> str:
        return f"{self.source}:{self.line}" if self.line else self.source

    @property
    def kind(self) -> str:
        return str(self.scenario["kind"])

    def examples(self, profile_examples: int) -> int:
        """How many examples Hypothesis draws for this behavior under a profile's count: the
        spec's `max_examples` caps it (a slow, timing-based behavior), never raises it."""
        return min(self.max_examples, profile_examples) if self.max_examples else profile_examples

    @property
    def requires(self) -> list[str]:
        return list(self.scenario.get("requires", []))

    def expect_entries(self) -> list[tuple[dict[str, Any], Written]]:
        """`expect`, then `fetch_backed.expect`, each entry with where it is written (do not
        change the list: it is built once, the verdict asks for it on every example)."""
        return self._expect_entries

    @cached_property
    def _expect_entries(self) -> list[tuple[dict[str, Any], Written]]:
        unknown = Written(self.source, self.line, "")  # a Behavior built in code has no written entries
        pairs = list(zip(self.expect, self.expect_written or [unknown] * len(self.expect), strict=True))
        if self.fetch_backed is not None:
            fb = self.fetch_backed
            pairs += zip(fb.expect, fb.expect_written or [unknown] * len(fb.expect), strict=True)
        return pairs
