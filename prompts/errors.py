"""Errors the prompt registry raises.

Hierarchy::

    PromptError                     root
    ├── InvalidPromptError          a name, reference, template or model config is malformed
    │   └── TemplateSyntaxError     a template does not parse (unclosed ``{{``, bad Jinja2)
    ├── RenderError                 a template could not be rendered with the given variables
    │   ├── MissingVariableError    a variable the template needs was not given (names it)
    │   ├── SandboxViolation        a Jinja2 template tried something the sandbox forbids
    │   └── RenderLimitError        a Jinja2 render passed a bound (output, iterations, time)
    ├── PromptNotFoundError         no such prompt, version or label
    ├── PromptExistsError           creating a prompt whose name is taken
    └── RegistryUnavailableError    the registry server cannot be reached and no copy is cached

``UnknownVariableWarning`` is a warning, not an error: a variable given that the template
does not use.

Messages are written for the user: they name the prompt, variable or field at fault.
"""

from __future__ import annotations

__all__ = [
    "InvalidPromptError",
    "MissingVariableError",
    "PromptError",
    "PromptExistsError",
    "PromptNotFoundError",
    "RegistryUnavailableError",
    "RenderError",
    "RenderLimitError",
    "SandboxViolation",
    "TemplateSyntaxError",
    "UnknownVariableWarning",
]


class PromptError(Exception):
    """Root of the prompt registry's errors."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidPromptError(PromptError):
    """A name, reference, template or model config is malformed."""


class TemplateSyntaxError(InvalidPromptError):
    """A template does not parse."""


class RenderError(PromptError):
    """A template could not be rendered."""


class MissingVariableError(RenderError):
    """A variable the template needs was not given."""

    def __init__(self, missing: list[str], *, where: str = "template") -> None:
        names = ", ".join(missing)
        plural = "s" if len(missing) > 1 else ""
        super().__init__(f"missing variable{plural} {names} for {where}", field=missing[0])
        self.missing = missing


class SandboxViolation(RenderError):
    """A Jinja2 template tried to reach something the sandbox forbids."""


class RenderLimitError(RenderError):
    """A Jinja2 render passed one of its bounds; ``limit`` names it (output, iterations, time)."""

    def __init__(self, message: str, *, limit: str) -> None:
        super().__init__(message, field=limit)
        self.limit = limit


class PromptNotFoundError(PromptError):
    """No such prompt, version or label."""


class PromptExistsError(PromptError):
    """A prompt of that name exists already."""


class RegistryUnavailableError(PromptError):
    """The registry could not be reached and no copy of the prompt is cached."""


class UnknownVariableWarning(UserWarning):
    """A variable was given that the template does not use."""
