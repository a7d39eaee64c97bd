"""The composition root: ``create_app(settings)`` wires every package into one ASGI app.

It alone builds the upstream transport, the database engine and the tracer provider, and it
opens and closes them in the app's lifespan. Nothing here runs at import time.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import prometheus_client
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from evals import DatasetStore, OnlineEvaluator, RunStore, dataset_api, eval_api
from gateway import (
    Access,
    Endpoints,
    Gateway,
    GatewayError,
    InvalidRequestError,
    KeyStore,
    MemoryLimiter,
    RedisLimiter,
    error_response,
    keys_api,
    v1_openapi_paths,
)
from prompts import PromptApiError, PromptClient, PromptStore, prompt_api
from tracing import (
    ApiError,
    ReviewStore,
    ScoreStore,
    TraceStore,
    review_api,
    score_api,
    trace_api,
)

from ._db import check_store, create_store_engine, upgrade_store
from ._projects import confined_project, key_id, score_author, vouches_for_keys
from ._settings import Settings
from ._tracing import Tracing, build_tracing
from ._ui import install_ui, not_found_page
from ._usage import spend_source, usage_api
from ._version import __version__

log = logging.getLogger("spyglass")

__all__ = ["create_app", "default_transport"]


class SpyglassApp(FastAPI):
    """FastAPI, with the gateway's hot routes answered before the middleware stack.

    FastAPI's middleware (exit stacks, body limits, telemetry hooks, exception wrappers) cost
    about a tenth of a proxied request's CPU. The ``/v1`` endpoints already turn every error
    into a response themselves, so exact-path POSTs to them skip the stack; every other
    request (docs, ``/api``, lifespan, 404s and 405s) takes FastAPI's usual path.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fast_routes: dict[tuple[str, str], Callable[[Request], Awaitable[Response]]] = {}
        self.access: Access | None = None
        self.feedback_origins: frozenset[str] = frozenset()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if scope["path"] == "/api/scores" and self.feedback_origins:
                origin = _feedback_origin(scope, self.feedback_origins)
                if origin is not None:
                    if scope["method"] == "OPTIONS":  # a preflight carries no key
                        await _preflight(origin)(scope, receive, send)
                        return
                    send = _allowing(origin, send)
            access = self.access
            if (
                access is not None
                and (access.required or _presents_virtual_key(scope))
                and scope["path"].startswith(_GUARDED)
            ):
                denied = await self._authenticate(scope)
                if denied is not None:
                    await denied(scope, receive, send)
                    return
            endpoint = self.fast_routes.get((scope["method"], scope["path"]))
            if endpoint is not None:
                response = await endpoint(Request(scope, receive, send))
                await response(scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    async def _authenticate(self, scope: Scope) -> Response | None:
        """Who calls, and may they? Leaves the key in ``scope["state"]["key"]``."""
        access = self.access
        assert access is not None
        path = scope["path"]
        try:
            key = await access.authenticate(Headers(scope=scope))
            access.authorize(key, scope["method"], path)
        except GatewayError as error:
            return error_response(error, anthropic=path == "/v1/messages")
        scope.setdefault("state", {})["key"] = key
        return None


# Everything that serves data or calls models needs a key when a master key is set; the
# health checks (for orchestrators) and the UI's static shell (it holds no data) do not.
_GUARDED = ("/v1/", "/api/", "/metrics", "/chat/")
_KEY_HEADERS = (b"authorization", b"x-api-key", b"api-key")


def _feedback_origin(scope: Scope, allowed: frozenset[str]) -> str | None:
    """The request's Origin when its page may send scores from the browser, else None."""
    for name, value in scope["headers"]:
        if name == b"origin":
            origin = value.decode("latin-1")
            return origin if origin in allowed or "*" in allowed else None
    return None


def _preflight(origin: str) -> Response:
    """The answer to a browser's CORS preflight for ``POST /api/scores``."""
    return Response(
        status_code=204,
        headers={
            "access-control-allow-origin": origin,
            "access-control-allow-methods": "POST",
            "access-control-allow-headers": "authorization, content-type",
            "access-control-max-age": "600",
            "vary": "origin",
        },
    )


def _allowing(origin: str, send: Send) -> Send:
    """``send``, adding the CORS headers that let the page read the answer (or its error)."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            headers += [
                (b"access-control-allow-origin", origin.encode("latin-1")),
                (b"vary", b"origin"),
            ]
            message = {**message, "headers": headers}
        await send(message)

    return sending


def _presents_virtual_key(scope: Scope) -> bool:
    """Does the request carry a Spyglass key? (Without a master key, only those are read:
    the placeholder keys SDKs send cost nothing on the hot path.)"""
    for name, value in scope["headers"]:
        if name in _KEY_HEADERS and b"sk-sg-" in value:
            return True
    return False


def default_transport() -> httpx.AsyncBaseTransport:
    """The fast path's transport: aiohttp under httpx's interface.

    httpx's own pool costs several times aiohttp's per request under concurrency; going through
    httpx's interface keeps the client replaceable (respx, MockTransport) in tests.
    """
    from httpx_aiohttp import AiohttpTransport

    transport: httpx.AsyncBaseTransport = AiohttpTransport(
        limits=httpx.Limits(max_connections=1000, max_keepalive_connections=200),
        trust_env=True,
    )
    return transport


def create_app(
    settings: Settings,
    *,
    upstream_transport: httpx.AsyncBaseTransport | None = None,
    migrate: bool = True,
    router_options: dict[str, Any] | None = None,
    tracing: Tracing | None = None,
) -> FastAPI:
    """Build the Spyglass ASGI app.

    Args:
        settings: the configuration, built once by ``load_settings``.
        upstream_transport: what the gateway's fast path sends through (tests pass respx's
            mock transport); aiohttp by default.
        migrate: apply store migrations at startup (``spyglass serve`` with several workers
            migrates once, before starting them).
        router_options: passed to the router (tests inject a clock, sleep and rng).
        tracing: the caller's tracing, into this store (the eval runner's, which its row
            spans use before any call needs the app); the caller shuts it down. By default
            the app builds its own, with its OTLP receiver and retention.

    Returns:
        A FastAPI app serving ``/v1``, ``/api``, ``/health``, ``/metrics`` on one port.

    Raises:
        gateway.ConfigError: when the configuration is inconsistent (e.g. unknown fallbacks).
    """
    engine = create_store_engine(settings.database_url_value())
    online_rules = _online_rules(settings)
    # The trace feed is written only when online rules read it.
    store = TraceStore(engine, feed=bool(online_rules))
    owns_tracing = tracing is None
    tracing = tracing or (
        build_tracing(
            settings.tracing,
            store,
            project_of=confined_project,
            vouches_for_keys=vouches_for_keys,
        )
        if settings.tracing.enabled
        else None
    )
    transport = upstream_transport or default_transport()
    redis = _redis_client(settings.redis_url_value())
    prompt_store = PromptStore(engine)
    key_store = KeyStore(engine)
    spend = spend_source(engine, key_store)
    limiter = RedisLimiter(redis, spend) if redis is not None else MemoryLimiter(spend)
    alerts_http = httpx.AsyncClient(transport=upstream_transport, trust_env=True)
    access = Access(
        settings.auth,
        master_key=settings.master_key_value(),
        store=key_store,
        limiter=limiter,
        http=alerts_http,
    )
    gateway = Gateway(
        settings.gateway_config(),
        transport=transport,
        tracer_provider=tracing.provider if tracing else None,
        capture_content=settings.tracing.capture_content,
        prompts=PromptClient(store=prompt_store, ttl=settings.prompts.cache_ttl),
        redis=redis,
        access=access,
        **(router_options or {}),
    )
    online = None
    if online_rules:
        online = OnlineEvaluator(engine, store, settings.online_evals, online_rules)
    endpoints = Endpoints(gateway)
    routes = endpoints.routes()
    if tracing is not None and tracing.receiver is not None:
        routes.append(Route("/v1/traces", tracing.receiver, methods=["POST"]))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if migrate:
            await asyncio.to_thread(upgrade_store, engine)
        if tracing is not None and owns_tracing:
            await tracing.start_retention()
        if online is not None:
            online.client = _own_client(settings, app)
            online.start()
        # What start-up built lives as long as the app: moved out of the collector's sight,
        # it is not traversed again by each full collection (~45 ms pauses every few requests
        # when a big trace's spans are read).
        gc.collect()
        gc.freeze()
        # A youngest generation of 700 objects (the default) is collected every few spans a
        # received batch allocates (dicts, lists): ~10% of ingest's CPU. Garbage here is
        # freed by reference counting; cycles are rare and wait a little longer.
        gc.set_threshold(10_000, 20, 20)
        log.info(
            "Spyglass %s ready: %d model group(s): %s",
            __version__,
            len(gateway.router.groups),
            ", ".join(gateway.router.groups) or "none configured",
        )
        try:
            yield
        finally:
            if online is not None:
                await online.stop()
                await online.client.http.aclose()
            await gateway.aclose()
            await transport.aclose()
            await access.aclose()
            await alerts_http.aclose()
            if redis is not None:
                await redis.aclose()
            if tracing is not None and owns_tracing:
                await tracing.stop_retention()
                await asyncio.to_thread(tracing.shutdown)
            engine.dispose()
            gc.unfreeze()

    app = SpyglassApp(
        title="Spyglass",
        version=__version__,
        description="OpenAI-compatible LLM gateway with tracing, prompts and evals.",
        lifespan=lifespan,
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.settings = settings
    app.state.gateway = gateway
    app.state.engine = engine
    app.state.tracing = tracing
    app.state.trace_store = store
    app.state.online_evals = online
    app.router.routes.extend(routes)
    app.state.prompt_store = prompt_store
    app.state.redis = redis
    app.state.access = access
    app.access = access
    app.feedback_origins = frozenset(settings.auth.feedback_origins)
    # A key with a project reads and writes only that project's traces, prompts and runs.
    app.include_router(trace_api(store, project_of=confined_project))
    app.include_router(
        score_api(
            ScoreStore(engine),
            project_of=confined_project,
            caller=score_author,
            target_wait=settings.tracing.score_target_wait_seconds,
        )
    )
    app.include_router(prompt_api(prompt_store, project_of=confined_project))
    app.include_router(keys_api(access))
    app.include_router(usage_api(engine, key_store))
    app.include_router(
        review_api(ReviewStore(engine), store, project_of=confined_project, caller=score_author)
    )
    app.include_router(eval_api(RunStore(engine), project_of=confined_project))
    app.include_router(
        dataset_api(DatasetStore(engine), store, project_of=confined_project, author_of=key_id)
    )
    install_ui(app, store, project_of=confined_project)
    app.fast_routes = {
        (method, route.path): route.endpoint
        for route in routes
        if isinstance(route, Route) and "{" not in route.path
        for method in route.methods or ()
        if method != "HEAD"
    }

    @app.get("/health/live", tags=["health"])
    async def live() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/health/ready", tags=["health"])
    async def ready() -> Response:
        """The process can serve: the store answers."""
        try:
            await asyncio.to_thread(check_store, engine)
        except Exception as exc:
            log.warning("readiness check failed: store unreachable (%s)", type(exc).__name__)
            body = {"status": "unavailable", "store": "unreachable"}
            return Response(orjson.dumps(body), 503, media_type="application/json")
        body = {"status": "ok", "store": "ok", "version": __version__}
        return Response(orjson.dumps(body), media_type="application/json")

    # The app's own registry: request metrics come from spans, so with tracing off it is empty.
    registry = (
        tracing.metrics.registry if tracing is not None else prometheus_client.CollectorRegistry()
    )
    if online is not None:
        from evals import OnlineCollector

        registry.register(OnlineCollector(online))

    @app.get("/metrics", tags=["health"], response_class=Response)
    async def metrics() -> Response:
        """Prometheus metrics: requests, latency, tokens, cost, the span queue and OTLP intake."""
        # Writing the text costs ~10 us a sample: off the event loop, like the other I/O.
        body = await asyncio.to_thread(prometheus_client.generate_latest, registry)
        return Response(body, media_type=prometheus_client.CONTENT_TYPE_LATEST)

    _describe_v1(app)
    _install_error_handlers(app)
    return app


def _describe_v1(app: FastAPI) -> None:
    """Merge the gateway's description of ``/v1`` (plain routes, not FastAPI's) into
    ``/api/openapi.json``, with the bearer key every route takes when a master key is set."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            schema["paths"] = {**v1_openapi_paths(), **schema["paths"]}
            schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
            schemes["bearer"] = {"type": "http", "scheme": "bearer"}
            schema["security"] = [{"bearer": []}, {}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _online_rules(settings: Settings) -> list[Any]:
    """The online-evaluation rules with their scorers built (checked by load_settings)."""
    if not settings.online_evals.rules:
        return []
    from evals import build_rules

    return build_rules(
        settings.online_evals,
        models={entry.model_name for entry in settings.model_list},
        base_dir=settings.config_dir(),
    )


def _own_client(settings: Settings, app: FastAPI) -> Any:
    """The client online judges call the gateway with: this app itself, in-process, each call
    marked as online-eval traffic."""
    from evals import GatewayClient, Throttle

    http = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://spyglass.online-evals",
        timeout=None,
        headers={"authorization": f"Bearer {settings.master_key_value()}"}
        if settings.master_key_value()
        else None,
    )
    limit = settings.online_evals.concurrency
    return GatewayClient(
        http, Throttle(limit), headers={"x-spyglass-online-eval": "online-evals"}, timeout=120
    )


def _redis_client(url: str | None) -> Any:
    """A Redis client for state replicas share, or None (in-process state) without a URL."""
    if url is None:
        return None
    import redis.asyncio

    return redis.asyncio.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def _install_error_handlers(app: FastAPI) -> None:
    """OpenAI-shaped errors everywhere under /v1; FastAPI's shape elsewhere."""

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404 and (page := not_found_page(request)) is not None:
            return page
        if not request.url.path.startswith("/v1"):
            return Response(
                orjson.dumps({"detail": exc.detail}),
                exc.status_code,
                exc.headers,
                "application/json",
            )
        codes = {404: "not_found", 405: "method_not_allowed"}
        error = GatewayError(
            f"{request.method} {request.url.path}: {exc.detail}",
            status_code=exc.status_code,
            code=codes.get(exc.status_code),
        )
        error.error_type = "invalid_request_error"
        return error_response(error, anthropic=request.url.path == "/v1/messages")

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        param = ".".join(str(p) for p in first["loc"][1:]) or None
        return error_response(InvalidRequestError(f"{param}: {first['msg']}", param=param))

    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError | PromptApiError)
        kind = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
        body = {
            "error": {"message": str(exc.detail), "type": kind, "param": exc.param, "code": None}
        }
        return Response(orjson.dumps(body), exc.status_code, media_type="application/json")

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(PromptApiError, api_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
