"""The registry's JSON API under ``/api/prompts``.

A prompt's name may hold ``/`` (``team/summarize``), so its actions are suffixes
(``/api/prompts/team/summarize/versions``) and a version is read as ``GET
/api/prompts/{name}``, ``{name}@{label}`` or ``{name}/{N}``. Names never end in a number or
an action word, so the routes cannot be confused.

Each route works in one project's prompts: a key with a project always in its own; any other
caller in the prompts of no project, or in the project it names with ``?project=``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from ._model import PromptVersion
from ._store import PromptStore
from ._template import Template
from .errors import (
    InvalidPromptError,
    PromptError,
    PromptExistsError,
    PromptNotFoundError,
)

__all__ = ["PromptApiError", "prompt_api"]

T = TypeVar("T")


class PromptApiError(HTTPException):
    """A 4xx whose detail names the field at fault."""

    def __init__(self, status: int, message: str, param: str | None = None) -> None:
        super().__init__(status, detail=message)
        self.param = param


def _http(error: PromptError) -> PromptApiError:
    status = 400
    if isinstance(error, PromptNotFoundError):
        status = 404
    elif isinstance(error, PromptExistsError):
        status = 409
    return PromptApiError(status, error.message, error.field)


async def _run(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """A blocking store call, in a worker thread, with registry errors as HTTP errors."""
    try:
        return await asyncio.to_thread(fn, *args, **kwargs)
    except PromptError as error:
        raise _http(error) from None


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class CreatePrompt(_Body):
    name: str
    description: str | None = None
    tags: list[str] = Field(default_factory=list)


class UpdatePrompt(_Body):
    description: str | None = None
    tags: list[str] | None = None


class PushVersion(_Body):
    template: str | list[dict[str, Any]]
    engine: Literal["mustache", "jinja2"] = "mustache"
    config: dict[str, Any] | None = Field(default=None, alias="model_config")
    tools: list[dict[str, Any]] | None = None
    response_format: dict[str, Any] | None = None
    message: str | None = Field(default=None, max_length=10_000)
    author: str | None = Field(default=None, max_length=200)
    labels: list[str] = Field(default_factory=list)
    description: str | None = None
    tags: list[str] | None = None


class MoveLabel(_Body):
    version: int = Field(ge=1)
    actor: str | None = Field(default=None, max_length=200)


class RenderRequest(_Body):
    label: str | None = None
    version: int | None = Field(default=None, ge=1)
    variables: dict[str, Any] = Field(default_factory=dict)


class RenderTemplate(_Body):
    template: str | list[dict[str, Any]]
    engine: Literal["mustache", "jinja2"] = "mustache"
    variables: dict[str, Any] = Field(default_factory=dict)


def _rendered(version: PromptVersion | None, template: Template, variables: dict[str, Any]) -> Any:
    try:
        result = template.render(variables)
    except PromptError as error:
        raise _http(error) from None
    warnings = [f"variable not used by the template: {name}" for name in result.unused]
    body: dict[str, Any] = {"type": template.kind, "rendered": result.value, "warnings": warnings}
    if version is not None:
        body |= {"name": version.name, "version": version.version}
        body["model_config"] = version.model_config
    return body


def _namespace(project_of: Callable[[Request], str | None] | None) -> Callable[..., str | None]:
    """A FastAPI dependency: the project whose prompts a request works on (None: no project's).

    A caller confined to a project works in it (``project=`` naming another is a 403); any
    other caller works in the prompts of no project unless it names one.
    """

    def namespace(
        request: Request,
        project: Annotated[
            str | None,
            Query(description="the project's prompts (default: the key's, else no project's)"),
        ] = None,
    ) -> str | None:
        if project and not project.strip():
            raise PromptApiError(400, "project: must not be blank", "project")
        asked = project or None
        confined = project_of(request) if project_of is not None else None
        if confined is None:
            return asked
        if asked is not None and asked != confined:
            raise PromptApiError(403, f"this key may only use project {confined!r}", "project")
        return confined

    return namespace


def prompt_api(
    store: PromptStore, *, project_of: Callable[[Request], str | None] | None = None
) -> APIRouter:
    """The routes, bound to a store. Blocking calls run in worker threads.

    Args:
        store: the registry.
        project_of: the project each request is confined to (None: no confinement).
    """
    router = APIRouter(prefix="/api/prompts", tags=["prompts"])
    scope = _namespace(project_of)

    @router.get("")
    async def list_prompts(
        project: str | None = Depends(scope),
        q: Annotated[str | None, Query(description="search in names and descriptions")] = None,
        tag: Annotated[str | None, Query(description="only prompts with this tag")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    ) -> dict[str, Any]:
        """Prompts by name, with their latest version and labels."""
        found, after = await _run(
            store.list_prompts, query=q, tag=tag, limit=limit, after=cursor, project=project
        )
        return {"data": [s.to_dict() for s in found], "next_cursor": after}

    @router.post("", status_code=201)
    async def create_prompt(
        body: CreatePrompt, project: str | None = Depends(scope)
    ) -> dict[str, Any]:
        """Create an empty prompt (pushing a first version also creates it)."""
        summary = await _run(
            store.create, body.name, description=body.description, tags=body.tags, project=project
        )
        return summary.to_dict()

    @router.post("/render")
    async def render_template(body: RenderTemplate) -> Any:
        """Render a template that is not in the registry (a preview before pushing)."""
        try:
            template = Template(body.template, body.engine)
        except InvalidPromptError as error:
            raise _http(error) from None
        # Off the event loop: a Jinja2 render may run up to its time bound.
        return await asyncio.to_thread(_rendered, None, template, body.variables)

    @router.post("/{name:path}/versions", status_code=201)
    async def push_version(
        name: str, body: PushVersion, response: Response, project: str | None = Depends(scope)
    ) -> dict[str, Any]:
        """Push a version; an identical template returns the latest with 200, not a new one."""
        version, created = await _run(
            store.push,
            name,
            body.template,
            engine=body.engine,
            model_config=body.config,
            tools=body.tools,
            response_format=body.response_format,
            message=body.message,
            author=body.author,
            labels=body.labels,
            description=body.description,
            tags=body.tags,
            project=project,
        )
        if not created:
            response.status_code = 200
        return version.to_dict() | {"created": created}

    @router.get("/{name:path}/versions")
    async def list_versions(name: str, project: str | None = Depends(scope)) -> dict[str, Any]:
        """Every version, newest first."""
        versions = await _run(store.versions, name, project=project)
        return {"data": [v.to_dict() for v in versions]}

    @router.get("/{name:path}/history")
    async def label_history(
        name: str,
        project: str | None = Depends(scope),
        label: Annotated[str | None, Query(description="one label only")] = None,
    ) -> dict[str, Any]:
        """Label moves, newest first: who moved which label from which version to which."""
        return {"data": await _run(store.history, name, label, project=project)}

    @router.get("/{name:path}/diff")
    async def diff(
        name: str,
        a: Annotated[str, Query(description="a version number or label")],
        b: Annotated[str, Query(description="a version number or label")],
        project: str | None = Depends(scope),
    ) -> dict[str, Any]:
        """A unified diff of two versions: template, then engine and model config."""
        text = await _run(store.diff, name, a, b, project=project)
        return {"name": name, "a": a, "b": b, "diff": text}

    @router.post("/{name:path}/render")
    async def render(name: str, body: RenderRequest, project: str | None = Depends(scope)) -> Any:
        """Render a version (``latest`` unless a label or version is given) with variables."""
        if body.label is not None and body.version is not None:
            raise PromptApiError(400, "give a label or a version, not both", "version")
        ref = name
        if body.version is not None:
            ref = f"{name}/{body.version}"
        elif body.label is not None:
            ref = f"{name}@{body.label}"
        version = await _run(store.get, ref, project=project)
        template = Template(version.template, version.engine)
        return await asyncio.to_thread(_rendered, version, template, body.variables)

    @router.put("/{name:path}/labels/{label}")
    async def move_label(
        name: str, label: str, body: MoveLabel, project: str | None = Depends(scope)
    ) -> dict[str, Any]:
        """Point a label at a version (kept in the label history)."""
        await _run(store.set_label, name, label, body.version, actor=body.actor, project=project)
        return {"name": name, "label": label, "version": body.version}

    @router.delete("/{name:path}/labels/{label}", status_code=204)
    async def delete_label(name: str, label: str, project: str | None = Depends(scope)) -> Response:
        """Remove a label (kept in the label history)."""
        await _run(store.delete_label, name, label, project=project)
        return Response(status_code=204)

    @router.patch("/{name:path}")
    async def update_prompt(
        name: str, body: UpdatePrompt, project: str | None = Depends(scope)
    ) -> dict[str, Any]:
        """Change a prompt's description or tags."""
        summary = await _run(
            store.update, name, description=body.description, tags=body.tags, project=project
        )
        return summary.to_dict()

    @router.get("/{ref:path}")
    async def get_version(ref: str, project: str | None = Depends(scope)) -> dict[str, Any]:
        """A version by ``name`` (latest), ``name@label`` or ``name/N``."""
        version = await _run(store.get, ref, project=project)
        return version.to_dict()

    return router
