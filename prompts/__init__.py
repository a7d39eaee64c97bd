"""The prompt registry: versioned, labelled templates loaded by name.

Templates use ``{{variable}}`` (or sandboxed Jinja2); versions are immutable and numbered;
labels (``production``, ``staging``...) point at a version and move. ``PromptStore`` is the SQL
registry, ``prompt_api`` its JSON API, and ``load_prompt`` / ``PromptClient`` the client apps
use, against the local store or a server, with a cache that outlives a registry outage.
"""

from ._model import PromptRef, PromptSummary, PromptVersion, check_name, parse_ref
from ._records import LabelEventRecord, LabelRecord, PromptRecord, PromptVersionRecord
from ._store import PromptStore, describe
from ._template import Engine, Rendered, Template, TemplateBody, variables_of
from .errors import (
    InvalidPromptError,
    MissingVariableError,
    PromptError,
    PromptExistsError,
    PromptNotFoundError,
    RegistryUnavailableError,
    RenderError,
    SandboxViolation,
    TemplateSyntaxError,
    UnknownVariableWarning,
)

__all__ = [
    "Engine",
    "InvalidPromptError",
    "LabelEventRecord",
    "LabelRecord",
    "MissingVariableError",
    "PromptError",
    "PromptExistsError",
    "PromptNotFoundError",
    "PromptRecord",
    "PromptRef",
    "PromptStore",
    "PromptSummary",
    "PromptVersion",
    "PromptVersionRecord",
    "RegistryUnavailableError",
    "RenderError",
    "Rendered",
    "SandboxViolation",
    "Template",
    "TemplateBody",
    "TemplateSyntaxError",
    "UnknownVariableWarning",
    "check_name",
    "describe",
    "parse_ref",
    "variables_of",
]
