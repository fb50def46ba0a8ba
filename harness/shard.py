"""`--shard K/N`: a deterministic 1/N of the cells, so N machines can split one run.

A cell (behavior, target) belongs to shard K when a stable hash of its behavior id and
target name is K-1 modulo N: the split does not depend on collection order, on which
other behaviors or targets are selected, or on the Python process (no `hash()`), so the N
shards of a run hold every cell exactly once and `python -m harness merge` joins them.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from harness.errors import BadInput

_FORM = re.compile(r"^(\d+)/(\d+)$")


class BadShard(BadInput):
    pass


@dataclass(frozen=True)
class Shard:
    index: int  # K, from 1
    count: int  # N

    @classmethod
    def parse(cls, text: str) -> Shard:
        m = _FORM.match(text.strip())
        if m is None or not 1 <= int(m.group(1)) <= int(m.group(2)):
            raise BadShard(f"--shard {text!r}: expected K/N with 1 <= K <= N (e.g. --shard 2/4)")
        return cls(int(m.group(1)), int(m.group(2)))

    def holds(self, behavior_id: str, target: str) -> bool:
        digest = hashlib.sha256(f"{behavior_id}\n{target}".encode()).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index - 1

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"
