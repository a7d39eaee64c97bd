"""The prompt registry: versioned, labelled templates loaded by name.

Templates use ``{{variable}}`` (or sandboxed Jinja2); versions are immutable and numbered;
labels (``production``, ``staging``...) point at a version and move. ``PromptStore`` is the SQL
registry, ``prompt_api`` its JSON API, and ``load_prompt`` / ``PromptClient`` the client apps
use, against the local store or a server, with a cache that outlives a registry outage.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._client import PromptClient, load_prompt
from ._config import PromptsConfig
from ._model import PromptRef, PromptSummary, PromptVersion, check_name, parse_ref
from ._records import LabelEventRecord, LabelRecord, PromptRecord, PromptVersionRecord
from ._store import ProjectPrompts, PromptStore, describe
from ._template import Engine, Rendered, Template, TemplateBody, variables_of
from .errors import (
    InvalidPromptError,
    MissingVariableError,
    PromptError,
    PromptExistsError,
    PromptNotFoundError,
    RegistryUnavailableError,
    RenderError,
    RenderLimitError,
    SandboxViolation,
    TemplateSyntaxError,
    UnknownVariableWarning,
)

if TYPE_CHECKING:
    from ._api import PromptApiError, prompt_api

# The API's names load on first use: an app that only loads prompts does not import FastAPI.
_LAZY = {"PromptApiError": "._api", "prompt_api": "._api"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'prompts' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "Engine",
    "InvalidPromptError",
    "LabelEventRecord",
    "LabelRecord",
    "MissingVariableError",
    "ProjectPrompts",
    "PromptApiError",
    "PromptClient",
    "PromptError",
    "PromptExistsError",
    "PromptNotFoundError",
    "PromptRecord",
    "PromptRef",
    "PromptStore",
    "PromptSummary",
    "PromptVersion",
    "PromptVersionRecord",
    "PromptsConfig",
    "RegistryUnavailableError",
    "RenderError",
    "RenderLimitError",
    "Rendered",
    "SandboxViolation",
    "Template",
    "TemplateBody",
    "TemplateSyntaxError",
    "UnknownVariableWarning",
    "check_name",
    "describe",
    "load_prompt",
    "parse_ref",
    "prompt_api",
    "variables_of",
]
