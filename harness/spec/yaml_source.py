"""Safe YAML loading that remembers where every node came from.

Specs are data: only yaml.SafeLoader constructs are allowed, duplicate keys are an
error (a silent overwrite would hide half a spec), and every mapping and sequence
remembers its line so that validation errors can name file:line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


class SpecError(Exception):
    """A malformed spec or case file: names the file, the line, the behavior and the fault."""

    def __init__(self, path: Path | str, line: int | None, message: str, behavior: str | None = None):
        self.path = str(path)
        self.line = line
        self.behavior = behavior
        self.message = message
        where = f"{self.path}:{line}" if line else self.path
        who = f" [{behavior}]" if behavior else ""
        super().__init__(f"{where}{who}: {message}")


@dataclass(frozen=True)
class Located:
    """The parsed document plus a way to find the line of any path inside it."""

    path: Path
    data: Any
    root: yaml.Node | None
    text: str = ""

    def line_of(self, keys: list[str | int] | tuple[str | int, ...]) -> int | None:
        """1-based line of the node at keys (the deepest one that exists)."""
        node = self.root
        line = node.start_mark.line + 1 if node is not None else None
        for key in keys:
            child = _child(node, key)
            if child is None:
                break
            node = child
            line = node.start_mark.line + 1
        return line

    def snippet(self, keys: list[str | int] | tuple[str | int, ...]) -> tuple[int, str] | None:
        """The 1-based first line of the node at keys and its YAML text (whole lines, dedented);
        None if there is no such node."""
        node = self.root
        for key in keys:
            node = _child(node, key)
        if node is None:
            return None
        lines = self.text.splitlines()
        first, last = node.start_mark.line, node.end_mark.line
        # A block node ends where the next one starts: that line is not its own.
        if last >= len(lines) or not lines[last][: node.end_mark.column].strip(" -"):
            last -= 1
        chunk = lines[first:last + 1]
        while len(chunk) > 1 and not chunk[-1].strip():
            chunk.pop()
        indent = len(chunk[0]) - len(chunk[0].lstrip())
        return first + 1, "\n".join(line[indent:] if not line[:indent].strip() else line for line in chunk)


def _child(node: yaml.Node | None, key: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if k.value == key or (isinstance(key, int) and k.value == str(key)):
                child: yaml.Node = v
                return child
    if isinstance(node, yaml.SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value):
        item: yaml.Node = node.value[key]
        return item
    return None


# libyaml's parser when PyYAML has it (about 20 times faster; its nodes keep their marks too).
_SafeBase: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_SafeBase):  # type: ignore[misc]
    """SafeLoader that refuses duplicate mapping keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first at line {seen[key]})", key_node.start_mark
                )
            seen[key] = key_node.start_mark.line + 1
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping


def _compose_and_construct(text: str) -> tuple[yaml.Node | None, Any]:
    """One parse: the node tree (for line numbers) and the data constructed from it."""
    loader = _StrictLoader(text)
    try:
        root = loader.get_single_node()
        return root, loader.construct_document(root) if root is not None else None
    finally:
        loader.dispose()


def load_located(path: Path) -> Located:
    """Parse one YAML file; YAML errors become SpecError with the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(path, None, f"cannot read: {exc}") from None
    try:
        root, data = _compose_and_construct(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or str(exc)
        raise SpecError(path, line, f"invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise SpecError(path, None, f"invalid YAML: {exc}") from None
    return Located(path=path, data=data, root=root, text=text)
