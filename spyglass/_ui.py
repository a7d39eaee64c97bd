"""The web UI: static ES modules and CSS from ``spyglass/ui``, served at ``/``.

The browser routes with the history API, so each UI path answers with the same
``index.html``; the paths are listed one by one (no catch-all) so that ``/api``, ``/v1``,
``/health`` and ``/metrics`` are never shadowed and unknown paths still 404.

Every UI response carries a strict Content-Security-Policy: scripts and styles only from this
origin, no inline script, no inline style attribute from markup, no frames, no outside
requests. The pages render every stored value as text (``textContent``), never as markup.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from tracing import ProjectOf, TraceStore

from ._ui_api import ui_api

__all__ = ["CSP", "PageGuard", "install_ui", "not_found_page"]

UI_DIR = Path(__file__).parent / "ui"

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    # Revalidated on each load (cheap: ETag), so an upgrade never mixes old and new modules.
    "Cache-Control": "no-cache",
}

# The client-side routes (see ui/js/main.js); each serves index.html.
_PAGES = (
    "/",
    "/traces",
    "/traces/{trace_id}",
    "/sessions",
    "/sessions/{session_id:path}",
    "/dashboard",
    "/prompts",
    "/prompts/{name:path}",
    "/evals",
    "/evals/{rest:path}",
    "/datasets",
    "/datasets/{name}",
    "/reviews",
    "/reviews/{queue_id}",
    "/keys",
    "/signin",
)

# Paths a browser never navigates to as pages: their 404s stay JSON.
_NOT_PAGES = ("/api", "/v1", "/health", "/metrics", "/ui/")


def not_found_page(request: Request) -> Response | None:
    """An HTML "page not found" for a browser that asked for a page no route serves (a typo,
    an old link), instead of FastAPI's JSON; None for API paths and non-browser clients."""
    path = request.url.path
    if request.method not in ("GET", "HEAD") or path.startswith(_NOT_PAGES):
        return None
    if "text/html" not in request.headers.get("accept", ""):
        return None
    return FileResponse(
        UI_DIR / "404.html",
        status_code=404,
        headers=_HEADERS,
        media_type="text/html; charset=utf-8",
    )


PageGuard = Callable[[Request], Awaitable[Response | None]]
"""Asked before a page is served: a response (say, a redirect to a login page) to send
instead, or ``None`` to serve the page. The master-key login (issue 7) plugs in here; the JSON
API is guarded on its own routes."""


class _Assets(StaticFiles):
    """The UI's files, with the same security headers as its pages."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers.update(_HEADERS)
        return response

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code == 404:
            response.headers.update(_HEADERS)
        return response


def install_ui(
    app: FastAPI,
    store: TraceStore,
    *,
    guard: PageGuard | None = None,
    project_of: ProjectOf | None = None,
) -> None:
    """Serve the UI's pages at ``/``, its files at ``/ui`` and its extra JSON at ``/api/ui``.

    Args:
        app: the Spyglass app.
        store: the trace store the UI's own queries read.
        guard: checked before each page is served (a login, once there is one).
        project_of: the project each request's data is confined to (see ``ui_api``).
    """
    index = UI_DIR / "index.html"

    async def page(request: Request) -> Response:
        if guard is not None:
            refused = await guard(request)
            if refused is not None:
                return refused
        return FileResponse(index, headers=_HEADERS, media_type="text/html; charset=utf-8")

    app.include_router(ui_api(store, project_of=project_of))
    app.router.routes.extend(Route(path, page, methods=["GET", "HEAD"]) for path in _PAGES)
    app.router.routes.append(Mount("/ui", _Assets(directory=UI_DIR), name="ui"))
