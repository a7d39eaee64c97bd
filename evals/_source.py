"""An eval file's text, parsed, with the line of every key so errors can point at it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import EvalConfigError

__all__ = ["EvalSource", "key_path"]

Path_ = tuple[str | int, ...]


def key_path(path: Path_) -> str:
    """``('variants', 1, 'model')`` as ``variants[1].model``."""
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


@dataclass
class EvalSource:
    """The values of an eval file (or of a stored run's spec) and where each key sits.

    ``lines`` maps key paths to 1-based lines; it is empty for a spec that did not come from a
    file (``eval rerun``), and ``where`` then names the key alone.
    """

    name: str
    values: dict[str, Any]
    lines: dict[Path_, int] = field(default_factory=dict)
    directory: Path = field(default_factory=Path.cwd)

    @classmethod
    def read(cls, path: Path) -> EvalSource:
        """Parse ``path``.

        Raises:
            EvalConfigError: the file cannot be read, is not YAML, or is not a mapping.
        """
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise EvalConfigError(f"cannot read the eval file: {exc}", where=str(path)) from None
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
            values = yaml.safe_load(text)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark
            where = f"{path}:{mark.line + 1}" if mark else str(path)
            raise EvalConfigError(f"invalid YAML: {exc.problem}", where=where) from None
        except yaml.YAMLError as exc:
            raise EvalConfigError(f"invalid YAML: {exc}", where=str(path)) from None
        if not isinstance(values, dict):
            raise EvalConfigError("an eval file is a mapping of keys", where=f"{path}:1")
        lines: dict[Path_, int] = {}
        _collect(root, (), lines)
        return cls(str(path), values, lines, path.parent)

    def where(self, path: Path_) -> str:
        """``file:line: key`` for the deepest key along ``path`` the file has."""
        line = None
        for depth in range(len(path), 0, -1):
            line = self.lines.get(path[:depth])
            if line is not None:
                break
        place = f"{self.name}:{line}" if line is not None else self.name
        key = key_path(path)
        return f"{place}: {key}" if key else place


def _collect(node: yaml.Node | None, path: Path_, lines: dict[Path_, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*path, str(key.value))
            lines[child] = key.start_mark.line + 1
            _collect(value, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, value in enumerate(node.value):
            child = (*path, index)
            lines[child] = value.start_mark.line + 1
            _collect(value, child, lines)
