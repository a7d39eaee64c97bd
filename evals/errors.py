"""Errors the eval runner raises.

Hierarchy::

    EvalError                   root
    ├── EvalConfigError         the eval file (or a CLI option) is invalid: names the place
    ├── DatasetError            a dataset cannot be loaded, or lacks a column it needs
    │   └── DatasetNotFoundError  no registry dataset (or version, or row) of that name
    └── RunNotFoundError        no tracked run or experiment with that id

Messages are written for the user and name the key, column, variable or run at fault.
"""

from __future__ import annotations

__all__ = [
    "DatasetError",
    "DatasetNotFoundError",
    "EvalConfigError",
    "EvalError",
    "RunNotFoundError",
]


class EvalError(Exception):
    """Root of the eval runner's errors."""

    def __init__(self, message: str, *, where: str | None = None) -> None:
        super().__init__(f"{where}: {message}" if where else message)
        self.message = message
        self.where = where


class EvalConfigError(EvalError):
    """The eval file or an option is invalid; ``where`` is its path (``scorers[2].threshold``)."""


class DatasetError(EvalError):
    """A dataset cannot be loaded or lacks a column it needs."""


class DatasetNotFoundError(DatasetError):
    """No registry dataset with that name (or no such version or row of it)."""


class RunNotFoundError(EvalError):
    """No tracked run or experiment with that id."""
