"""The dataset registry's JSON API under ``/api/datasets``.

``GET /api/datasets``; ``GET /api/datasets/{name}`` (its versions);
``GET /api/datasets/{name}/rows?version=N`` (a version's rows, ``latest`` by default);
``PUT /api/datasets/{name}`` (make these rows its content: a new version unless unchanged);
``POST /api/datasets/{name}/rows`` (add rows, or examples taken from traces and spans);
``PATCH|DELETE /api/datasets/{name}/rows/{row_id}``; ``GET /api/datasets/{name}/diff``.
Every change is a new version; a caller confined to a project works in its project's datasets.
This module is loaded when the app builds its routes (``evals`` loads names on first use), so
importing FastAPI here costs the CLI nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request

from tracing import ApiError, example_of, project_filter

from ._registry import DatasetStore, NewRow
from .errors import DatasetError, DatasetNotFoundError

if TYPE_CHECKING:
    from tracing import ProjectOf, TraceStore

__all__ = ["dataset_api"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RowIn(_Body):
    input: dict[str, Any] = Field(description="the columns a prompt uses")
    expected: Any = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class FromTrace(_Body):
    """A trace (its first span with messages) or one span, as an example; ``input`` and
    ``expected`` replace what the span says (edited before saving)."""

    trace_id: str = Field(min_length=32, max_length=32)
    span_id: str | None = Field(default=None, min_length=16, max_length=16)
    input: dict[str, Any] | None = None
    expected: Any = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class AddRows(_Body):
    rows: list[RowIn] = Field(default_factory=list, max_length=10_000)
    from_traces: list[FromTrace] = Field(default_factory=list, max_length=1_000)
    message: str | None = Field(default=None, max_length=10_000)


class PutRows(_Body):
    rows: list[RowIn] = Field(min_length=1, max_length=100_000)
    message: str | None = Field(default=None, max_length=10_000)
    description: str | None = Field(default=None, max_length=10_000)


class EditRow(_Body):
    input: dict[str, Any] | None = None
    expected: Any = None
    metadata: dict[str, Any] | None = None
    message: str | None = Field(default=None, max_length=10_000)


def dataset_api(
    store: DatasetStore,
    traces: TraceStore,
    *,
    project_of: ProjectOf | None = None,
    author_of: Callable[[Request], str | None] = lambda request: None,
) -> APIRouter:
    """The routes, bound to a store (and the trace store examples are taken from).

    Args:
        store: the dataset registry.
        traces: the trace store, for ``from_traces``.
        project_of: the project each request is confined to (None: no confinement).
        author_of: who makes a version (the caller's key id), recorded with it.
    """
    from fastapi import APIRouter

    router = APIRouter(prefix="/api/datasets", tags=["datasets"])
    scope = project_filter(project_of)

    async def run(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except DatasetError as error:
            status = 404 if isinstance(error, DatasetNotFoundError) else 400
            raise ApiError(status, str(error), error.where) from None

    @router.get("")
    async def datasets(project: str | None = Depends(scope)) -> dict[str, Any]:
        """The project's datasets, by name, with their newest version and its size."""
        return {"data": await run(store.datasets, project)}

    @router.get("/{name}")
    async def dataset(name: str, project: str | None = Depends(scope)) -> dict[str, Any]:
        """A dataset's versions, newest first."""
        versions = await run(store.versions, name, project)
        return {"name": name, "project": project, "versions": versions}

    @router.get("/{name}/rows")
    async def rows(
        name: str,
        project: str | None = Depends(scope),
        version: str = Query("latest", description="a version number, or latest"),
    ) -> dict[str, Any]:
        """A version's rows, in order."""
        number, found = await run(store.rows, name, _version(version), project)
        return {"name": name, "version": number, "rows": [r.to_dict() for r in found]}

    @router.put("/{name}")
    async def put(
        name: str, body: PutRows, request: Request, project: str | None = Depends(scope)
    ) -> dict[str, Any]:
        """Make these rows the dataset's content (creating it)."""
        new = [NewRow(r.input, r.expected, r.metadata) for r in body.rows]
        version, created = await run(
            store.push,
            name,
            new,
            project=project,
            message=body.message,
            author=author_of(request),
            description=body.description,
        )
        return {"name": name, "created": created, **version}

    @router.post("/{name}/rows", status_code=201)
    async def add(
        name: str, body: AddRows, request: Request, project: str | None = Depends(scope)
    ) -> dict[str, Any]:
        """Add rows, or examples of traces and spans (their input and output), as a version."""
        if not body.rows and not body.from_traces:
            raise ApiError(400, "rows: give rows or from_traces", "rows")
        new = [NewRow(r.input, r.expected, r.metadata) for r in body.rows]
        for index, item in enumerate(body.from_traces):
            example = await asyncio.to_thread(
                example_of, traces, item.trace_id, item.span_id, project
            )
            if example is None:
                if item.input is None:
                    what = f"span {item.span_id} of trace" if item.span_id else "trace"
                    field = "span_id" if item.span_id else "trace_id"
                    raise ApiError(
                        404,
                        f"from_traces[{index}].{field}: no {what} {item.trace_id} with messages "
                        "(or content capture was off): give input",
                        f"from_traces[{index}].{field}",
                    )
                example = {"span_id": item.span_id, "input": {}, "expected": None}
            new.append(
                NewRow(
                    input=item.input if item.input is not None else example["input"],
                    expected=item.expected if item.expected is not None else example["expected"],
                    metadata=item.metadata,
                    source_trace_id=item.trace_id.lower(),
                    source_span_id=example["span_id"],
                )
            )
        version = await run(
            store.add, name, new, project=project, message=body.message, author=author_of(request)
        )
        return {"name": name, **version}

    @router.patch("/{name}/rows/{row_id}")
    async def edit(
        name: str,
        row_id: str,
        body: EditRow,
        request: Request,
        project: str | None = Depends(scope),
    ) -> dict[str, Any]:
        """Change a row's input, expected answer or metadata, as a version."""
        _, current = await run(store.rows, name, None, project)
        found = next((r for r in current if r.row_id == row_id), None)
        if found is None:
            raise ApiError(404, f"row_id: no row {row_id} in dataset {name!r}", "row_id")
        sent = body.model_fields_set
        row = NewRow(
            input=body.input if body.input is not None else found.input,
            expected=body.expected if "expected" in sent else found.expected,
            metadata=body.metadata if body.metadata is not None else found.metadata,
        )
        version = await run(
            store.edit,
            name,
            row_id,
            row,
            project=project,
            message=body.message,
            author=author_of(request),
        )
        return {"name": name, **version}

    @router.delete("/{name}/rows/{row_id}")
    async def remove(
        name: str, row_id: str, request: Request, project: str | None = Depends(scope)
    ) -> dict[str, Any]:
        """Remove a row, as a version (earlier versions keep it)."""
        version = await run(
            store.delete, name, [row_id], project=project, author=author_of(request)
        )
        return {"name": name, **version}

    @router.get("/{name}/diff")
    async def diff(
        name: str,
        project: str | None = Depends(scope),
        before: str = Query(description="a version number"),
        after: str = Query("latest", description="a version number, or latest"),
    ) -> dict[str, Any]:
        """Rows added, removed and changed from one version to another."""
        found: dict[str, Any] = await run(
            store.diff, name, _version(before), _version(after), project
        )
        return found

    def _version(text: str) -> int | str:
        if text == "latest":
            return text
        try:
            return int(text)
        except ValueError:
            raise ApiError(400, "version: expected a number or latest", "version") from None

    return router
