"""What the registry holds: prompts, their immutable versions, and references to them."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import orjson

from ._template import Engine, Rendered, Template, TemplateBody
from .errors import InvalidPromptError

__all__ = [
    "PromptRef",
    "PromptSummary",
    "PromptVersion",
    "check_name",
    "content_hash",
    "parse_ref",
]

_NAME = re.compile(r"[A-Za-z0-9_.\-/]+")
# The API addresses a prompt's actions as ``/api/prompts/{name}/{action}``, and a version as
# ``name/N``: so a name's last segment may be neither a number nor an action.
RESERVED = frozenset({"versions", "labels", "history", "diff", "render"})
_LABEL = re.compile(r"[A-Za-z0-9_.\-]+")
MAX_NAME = 200
LATEST = "latest"


def check_name(name: object, field: str = "name") -> str:
    """``name`` if it is a valid prompt name; else an error saying what is wrong."""
    if not isinstance(name, str) or not name:
        raise InvalidPromptError(f"{field}: a prompt name is required", field=field)
    if len(name) > MAX_NAME:
        raise InvalidPromptError(f"{field}: longer than {MAX_NAME} characters", field=field)
    if not _NAME.fullmatch(name):
        raise InvalidPromptError(
            f"{field}: {name!r} may hold only letters, digits and - _ . /", field=field
        )
    segments = name.split("/")
    if any(s in ("", ".", "..") for s in segments):
        raise InvalidPromptError(
            f"{field}: {name!r} has an empty, '.' or '..' path segment", field=field
        )
    if segments[-1].isdigit() or segments[-1] in RESERVED:
        raise InvalidPromptError(
            f"{field}: {name!r} may not end in a number or in one of "
            f"{', '.join(sorted(RESERVED))} (they would read as a version or an action)",
            field=field,
        )
    return name


def check_label(label: object, field: str = "label") -> str:
    if not isinstance(label, str) or not _LABEL.fullmatch(label) or len(label) > 64:
        raise InvalidPromptError(
            f"{field}: {label!r} is not a label (letters, digits and - _ ., up to 64)",
            field=field,
        )
    if label.isdigit():
        raise InvalidPromptError(f"{field}: a label cannot be a number", field=field)
    return label


@dataclass(frozen=True)
class PromptRef:
    """``name``, ``name@label`` or ``name/N``; a bare name means the ``latest`` version."""

    name: str
    label: str | None = None
    version: int | None = None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}/{self.version}"
        if self.label is not None:
            return f"{self.name}@{self.label}"
        return self.name


def parse_ref(ref: str, field: str = "prompt") -> PromptRef:
    """Read a reference: ``summarize``, ``summarize@production`` or ``summarize/3``.

    Raises:
        InvalidPromptError: the reference is malformed, naming ``field``.
    """
    if not isinstance(ref, str):
        raise InvalidPromptError(f"{field}: expected a prompt reference string", field=field)
    name, at, label = ref.partition("@")
    if at:
        return PromptRef(check_name(name, field), label=check_label(label, field))
    head, slash, tail = ref.rpartition("/")
    if slash and tail.isascii() and tail.isdigit():
        version = int(tail)
        if version < 1:
            raise InvalidPromptError(f"{field}: versions start at 1", field=field)
        return PromptRef(check_name(head, field), version=version)
    return PromptRef(check_name(ref, field))


def content_hash(
    template: TemplateBody,
    engine: str,
    model_config: Mapping[str, Any],
    tools: Any,
    response_format: Any,
) -> str:
    """What makes two versions the same prompt: pushing an identical one is a no-op.

    Raises:
        InvalidPromptError: a value JSON cannot hold exactly (an integer beyond 64 bits).
    """
    try:
        canonical = orjson.dumps(
            {
                "template": template,
                "engine": engine,
                "model_config": model_config,
                "tools": tools,
                "response_format": response_format,
            },
            option=orjson.OPT_SORT_KEYS,
        )
    except TypeError as exc:  # orjson refuses integers beyond 64 bits
        raise InvalidPromptError(f"prompt content cannot be stored: {exc}") from None
    return hashlib.sha256(canonical).hexdigest()


@dataclass(frozen=True)
class PromptVersion:
    """One immutable version of a prompt, ready to render.

    ``render(**variables)`` returns a string for a text prompt, or a list of OpenAI chat
    messages for a chat prompt. ``model_config`` holds the model and its parameters
    (``model``, ``temperature``, ``max_tokens``...) the version was written for.
    """

    name: str
    version: int
    template: TemplateBody
    engine: Engine = "mustache"
    model_config: dict[str, Any] = field(default_factory=dict)
    tools: list[dict[str, Any]] | None = None
    response_format: dict[str, Any] | None = None
    message: str | None = None
    author: str | None = None
    created_at: datetime | None = None
    labels: tuple[str, ...] = ()
    _template: Template = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_template", Template(self.template, self.engine))

    @property
    def type(self) -> Literal["text", "chat"]:
        return self._template.kind

    @property
    def variables(self) -> tuple[str, ...]:
        return self._template.variables

    @property
    def ref(self) -> str:
        return f"{self.name}/{self.version}"

    def render(self, **variables: Any) -> TemplateBody:
        """Fill the template.

        Raises:
            MissingVariableError: a variable the template needs is missing (named).

        A variable the template does not use gives an ``UnknownVariableWarning``.
        """
        return self._template.render_strict(variables)

    def fill(self, variables: Mapping[str, Any]) -> Rendered:
        """Render without warnings: the result, and the variables the template did not use.

        Raises:
            MissingVariableError: a variable the template needs is missing (named).
        """
        return self._template.render(variables, where=f"prompt {self.ref}")

    def to_dict(self) -> dict[str, Any]:
        """The JSON form the API serves and the client caches."""
        return {
            "name": self.name,
            "version": self.version,
            "type": self.type,
            "engine": self.engine,
            "template": self.template,
            "variables": list(self.variables),
            "model_config": self.model_config,
            "tools": self.tools,
            "response_format": self.response_format,
            "message": self.message,
            "author": self.author,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "labels": list(self.labels),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PromptVersion:
        created = data.get("created_at")
        return cls(
            name=data["name"],
            version=int(data["version"]),
            template=data["template"],
            engine=data.get("engine") or "mustache",
            model_config=dict(data.get("model_config") or {}),
            tools=data.get("tools"),
            response_format=data.get("response_format"),
            message=data.get("message"),
            author=data.get("author"),
            created_at=datetime.fromisoformat(created) if created else None,
            labels=tuple(data.get("labels") or ()),
        )


@dataclass(frozen=True)
class PromptSummary:
    """A prompt in a listing: its latest version and where its labels point."""

    name: str
    description: str | None
    tags: tuple[str, ...]
    latest_version: int | None
    labels: dict[str, int]
    created_at: datetime
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "tags": list(self.tags),
            "latest_version": self.latest_version,
            "labels": self.labels,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }
