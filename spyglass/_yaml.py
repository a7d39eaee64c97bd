"""A YAML config file that remembers where each key is, so errors can name the line."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gateway import ConfigError

ENV_PREFIX = "os.environ/"


@dataclass
class YamlDocument:
    """The parsed values of a config file and its node tree (for line numbers)."""

    path: Path
    values: dict[str, Any]
    root: yaml.Node | None

    @classmethod
    def load(cls, path: Path) -> YamlDocument:
        """Parse ``path``; a syntax error becomes a ConfigError with its line and column."""
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read config file {path}: {exc}") from None
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
            values = yaml.safe_load(text)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark
            where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
            raise ConfigError(f"{where}: invalid YAML: {exc.problem}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: invalid YAML: {exc}") from None
        if values is None:
            values = {}
        if not isinstance(values, dict):
            raise ConfigError(f"{path}:1: the config must be a mapping of keys to values")
        return cls(path, values, root)

    def line_of(self, path: tuple[str | int, ...]) -> int | None:
        """The 1-based line of the deepest node found along ``path``."""
        node = self.root
        line = None
        for part in path:
            if isinstance(node, yaml.MappingNode):
                found = next(
                    ((k, v) for k, v in node.value if getattr(k, "value", None) == str(part)),
                    None,
                )
                if found is None:
                    break
                line = found[0].start_mark.line + 1
                node = found[1]
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                if not 0 <= part < len(node.value):
                    break
                node = node.value[part]
                line = node.start_mark.line + 1
            else:
                break
        return line

    def resolve_env(self) -> dict[str, Any]:
        """The values with every ``os.environ/VAR`` string replaced by the variable's value.

        Raises:
            ConfigError: naming the key and line of a reference to an unset variable.
        """

        def walk(value: Any, path: tuple[str | int, ...]) -> Any:
            if isinstance(value, dict):
                return {k: walk(v, (*path, str(k))) for k, v in value.items()}
            if isinstance(value, list):
                return [walk(v, (*path, i)) for i, v in enumerate(value)]
            if isinstance(value, str) and value.startswith(ENV_PREFIX):
                name = value[len(ENV_PREFIX) :]
                if name not in os.environ:
                    key = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
                    line = self.line_of(path)
                    raise ConfigError(
                        f"{self.path}:{line}: {key.lstrip('.')}: environment variable "
                        f"{name} is not set"
                    )
                return os.environ[name]
            return value

        resolved = walk(self.values, ())
        assert isinstance(resolved, dict)
        return resolved
