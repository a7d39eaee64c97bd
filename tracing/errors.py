"""Errors of the tracing package.

Hierarchy::

    TracingError                 the root: every error of this package
    └── ScoreError               a score or score config cannot be written (``field`` names it)
        ├── InvalidScoreError    a wrong name, type or value: 400
        ├── ScoreTargetNotFound  the trace, span, session or eval row scored is unknown: 404
        ├── ScoreNotFoundError   no score or score config with that id or name: 404
        └── ScoreForbiddenError  the caller may not change it (not its author, not an admin): 403

``QueryError`` (a bad query parameter of the trace list) predates this module and stays in
``tracing._queries``.
"""

from __future__ import annotations

__all__ = [
    "InvalidScoreError",
    "ScoreError",
    "ScoreForbiddenError",
    "ScoreNotFoundError",
    "ScoreTargetNotFound",
    "TracingError",
]


class TracingError(Exception):
    """The root of this package's errors."""


class ScoreError(TracingError):
    """A score or score config cannot be written; ``field`` names the part at fault."""

    status = 400

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.message = message
        self.field = field


class InvalidScoreError(ScoreError):
    """A name no config defines, a value of the wrong type, or one out of range."""


class ScoreTargetNotFound(ScoreError):
    """The trace, span, session or eval result row a score is for does not exist."""

    status = 404


class ScoreNotFoundError(ScoreError):
    """No score (or score config) with that id (or name)."""

    status = 404


class ScoreForbiddenError(ScoreError):
    """Only a score's author or an admin may delete it."""

    status = 403
