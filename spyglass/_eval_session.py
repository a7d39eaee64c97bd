"""Where an eval run meets the rest of Spyglass: the gateway it calls and the store it writes.

In-process (the default), the gateway is ``create_app(settings)`` with its lifespan running,
called over httpx's ASGI transport. It is built on the first call, so a run answered wholly
from the cache never imports the web framework or starts the gateway. The runner's row spans
go to a tracer provider feeding the store, which the app then shares, so each row's trace lands
in the same store as the gateway's spans. With ``--server URL`` the calls go to that server,
and the row spans are sent to its OTLP intake.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider
    from sqlalchemy import Engine

    from evals import EvalPlan, RowOutcome, RunHandle

    from ._settings import Settings
    from ._tracing import Tracing

__all__ = ["Gateway", "open_gateway", "server_models"]


@dataclass
class Gateway:
    """What the runner calls through."""

    http: httpx.AsyncClient
    tracer_provider: TracerProvider | None


def server_models(url: str) -> set[str]:
    """The model names a running server offers (``GET /v1/models``).

    Raises:
        httpx.HTTPError: the server cannot be reached or answered with an error.
    """
    response = httpx.get(url.rstrip("/") + "/v1/models", timeout=10)
    response.raise_for_status()
    return {str(m["id"]) for m in response.json().get("data", [])}


@asynccontextmanager
async def open_gateway(
    settings: Settings, engine: Engine, *, server: str | None, concurrency: int
) -> AsyncIterator[Gateway]:
    """The gateway, in-process (its lifespan running) or at ``server``."""
    limits = httpx.Limits(max_connections=concurrency * 2, max_keepalive_connections=concurrency)
    if server is not None:
        provider = _otlp_provider(server)
        try:
            async with httpx.AsyncClient(
                base_url=server.rstrip("/"), limits=limits, timeout=None
            ) as http:
                yield Gateway(http, provider)
        finally:
            provider.shutdown()
        return
    from tracing import TraceStore

    from ._tracing import build_tracing

    tracing = (
        build_tracing(settings.tracing, TraceStore(engine), receiver=False)
        if settings.tracing.enabled
        else None
    )
    try:
        async with httpx.AsyncClient(
            transport=_AppOnFirstCall(settings, tracing),
            base_url="http://spyglass.local",
            timeout=None,
        ) as http:
            yield Gateway(http, tracing.provider if tracing is not None else None)
    finally:
        if tracing is not None:
            await asyncio.to_thread(tracing.shutdown)


class _AppOnFirstCall(httpx.AsyncBaseTransport):
    """The in-process app over ASGI, built (and its lifespan entered) on the first request."""

    def __init__(self, settings: Settings, tracing: Tracing | None) -> None:
        self._settings = settings
        self._tracing = tracing
        self._lock = asyncio.Lock()
        self._stack = AsyncExitStack()
        self._asgi: httpx.ASGITransport | None = None

    async def _start(self) -> httpx.ASGITransport:
        async with self._lock:
            if self._asgi is None:
                from ._app import create_app

                app = create_app(self._settings, migrate=False, tracing=self._tracing)
                await self._stack.enter_async_context(app.router.lifespan_context(app))
                self._asgi = httpx.ASGITransport(app=app)
        return self._asgi

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        asgi = self._asgi or await self._start()
        return await asgi.handle_async_request(request)

    async def aclose(self) -> None:
        await self._stack.aclose()


def _otlp_provider(server: str) -> Any:
    """Row spans, sent to the server's OTLP intake so they join the gateway's spans there."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from ._version import __version__

    provider = SdkTracerProvider(
        resource=Resource.create({"service.name": "spyglass-eval", "service.version": __version__}),
        shutdown_on_exit=False,
    )
    exporter = OTLPSpanExporter(endpoint=server.rstrip("/") + "/v1/traces")
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


async def execute_runs(
    settings: Settings,
    engine: Engine,
    plan: EvalPlan,
    runs: Sequence[RunHandle] | Callable[[], Sequence[RunHandle]],
    *,
    server: str | None,
    use_cache: bool,
    on_start: Callable[[int], None] | None = None,
    on_result: Callable[[RowOutcome], None] | None = None,
) -> Sequence[RunHandle]:
    """Run ``runs`` of ``plan`` to completion through the gateway; returns them.

    ``runs`` may be a function creating them: it is called once the gateway is ready, so a
    new run's clock does not include the gateway's start-up.
    """
    from evals import RunStore, execute

    async with open_gateway(
        settings, engine, server=server, concurrency=plan.settings.concurrency
    ) as gateway:
        handles = runs() if callable(runs) else runs
        await execute(
            plan,
            handles,
            RunStore(engine),
            gateway.http,
            tracer_provider=gateway.tracer_provider,
            use_cache=use_cache,
            on_start=on_start,
            on_result=on_result,
        )
    return handles
