"""The ``spyglass`` command: a thin layer over library calls.

Heavy modules (the web stack, database drivers, litellm) are imported inside the commands
that need them, so ``spyglass --help`` is instant.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Annotated, Any

import typer

from ._cli_common import ConfigOption, err, fail, load, out, safe
from ._cli_datasets import datasets_app
from ._cli_eval import eval_app
from ._cli_keys import keys_app
from ._cli_online import online_app
from ._cli_prompts import prompts_app
from ._cli_scores import scores_app
from ._cli_traces import traces_app
from ._version import __version__

app = typer.Typer(
    name="spyglass",
    help="Spyglass: an OpenAI-compatible LLM gateway with tracing, a prompt registry and evals.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Manage the store's schema (migrations).", no_args_is_help=True)
app.add_typer(prompts_app, name="prompts")
app.add_typer(eval_app, name="eval")
app.add_typer(datasets_app, name="datasets")
app.add_typer(traces_app, name="traces")
app.add_typer(scores_app, name="scores")
app.add_typer(online_app, name="online-evals")
app.add_typer(keys_app, name="keys")
app.add_typer(db_app, name="db")


def _version(value: bool) -> None:
    if value:
        out.print(f"spyglass {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Spyglass: see, control and improve your LLM calls."""


@app.command()
def serve(
    config: ConfigOption = None,
    host: Annotated[str | None, typer.Option(help="Address to bind. [default: 127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on. [default: 4000]")] = None,
    workers: Annotated[
        int | None, typer.Option(help="Worker processes. [default: 1]", min=1, max=64)
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Validate the configuration and exit without serving.")
    ] = False,
    log_level: Annotated[
        str | None, typer.Option(help="debug, info, warning or error. [default: info]")
    ] = None,
    access_log: Annotated[
        bool | None, typer.Option("--access-log/--no-access-log", help="Log every request.")
    ] = None,
) -> None:
    """Serve the gateway (/v1), the API (/api) and health checks on one port."""
    server: dict[str, Any] = {
        k: v
        for k, v in {
            "host": host,
            "port": port,
            "workers": workers,
            "log_level": log_level,
            "access_log": access_log,
        }.items()
        if v is not None
    }
    # CLI flags beat everything: they travel as environment variables, which also reach
    # worker processes started by uvicorn.
    for key, value in server.items():
        os.environ[f"SPYGLASS_SERVER__{key.upper()}"] = (
            str(value).lower() if isinstance(value, bool) else str(value)
        )
    if config is not None:
        os.environ["SPYGLASS_CONFIG"] = str(config.resolve())
    settings = load(config)
    if check:
        _check(settings)
        return
    _serve(settings)


def _check(settings: Any) -> None:
    from rich.table import Table

    from gateway import ConfigError, Gateway, uses_passthrough

    table = Table(title="Model groups", show_lines=False)
    for column in ("model_name", "provider model", "path", "api_base"):
        table.add_column(column)
    for entry in settings.model_list:
        params = entry.litellm_params
        provider = params.model.partition("/")[0]
        path = (
            "mock"
            if provider == "mock"
            else "passthrough"
            if uses_passthrough(params)
            else "litellm"
        )
        table.add_row(entry.model_name, params.model, path, params.api_base or "-")
    import httpx

    try:
        Gateway(settings.gateway_config(), transport=httpx.AsyncHTTPTransport())
    except ConfigError as exc:
        fail(exc.message)
    out.print(table)
    out.print(f"[green]configuration OK[/] ({len(settings.model_list)} deployment(s))")


def _serve(settings: Any) -> None:
    import uvicorn

    from gateway import ConfigError

    from ._db import create_store_engine, upgrade_store

    server = settings.server
    _configure_logging(server.log_level)
    if settings.master_key_value() is None and not _loopback(server.host):
        fail(
            f"refusing to listen on {server.host} without a master key: anyone who can reach "
            "it could call your models and read your traces. Set master_key in the config "
            "(or SPYGLASS_MASTER_KEY), or bind to 127.0.0.1."
        )
    common: dict[str, Any] = {
        "host": server.host,
        "port": server.port,
        "log_level": server.log_level,
        "access_log": server.access_log,
        "loop": "uvloop" if sys.platform != "win32" else "asyncio",
        "http": "httptools",
        "timeout_graceful_shutdown": 30,
        "server_header": False,
    }
    try:
        engine = create_store_engine(settings.database_url_value())
        upgrade_store(engine)  # once, before any worker starts
        engine.dispose()
    except Exception as exc:
        fail(f"cannot open the store: {type(exc).__name__}: {safe(exc)}")
    if server.workers > 1:
        _banner(server.host, server.port)
        uvicorn.run("spyglass._cli:worker_app", factory=True, workers=server.workers, **common)
        return
    from ._app import create_app

    try:
        application = create_app(settings, migrate=False)
    except ConfigError as exc:
        fail(exc.message)
    _banner(server.host, server.port)
    uvicorn.run(application, **common)


def _banner(host: str, port: int) -> None:
    base = f"http://{host}:{port}"
    err.print(
        f"[bold]Spyglass {__version__}[/] serving on {base}\n"
        f"  web UI:          {base}/\n"
        f"  OpenAI base URL: {base}/v1   (Anthropic: {base})\n"
        f"  OTLP traces:     {base}/v1/traces",
        highlight=False,
        soft_wrap=True,
    )


def _loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def worker_app() -> Any:
    """App factory for worker processes: settings come from the environment set by ``serve``."""
    from ._app import create_app
    from ._settings import load_settings

    settings, _ = load_settings(None)
    return create_app(settings, migrate=False)


def _configure_logging(level: str) -> None:
    import logging

    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # litellm logs request details (and, at debug, headers) on its own loggers.
    for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "httpx", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


@db_app.command("upgrade")
def db_upgrade(config: ConfigOption = None) -> None:
    """Apply the store's migrations up to the newest."""
    from ._db import create_store_engine, current_revision, upgrade_store

    settings = load(config)
    try:
        engine = create_store_engine(settings.database_url_value())
        upgrade_store(engine)
        revision = current_revision(engine)
    except Exception as exc:
        fail(f"cannot migrate the store: {type(exc).__name__}: {safe(exc)}")
    out.print(f"store at revision [bold]{revision}[/]")


@db_app.command("current")
def db_current(
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show the store's URL (password hidden) and its schema revision."""
    from sqlalchemy.engine import make_url

    from ._db import create_store_engine, current_revision, head_revision

    settings = load(config)
    url = settings.database_url_value()
    try:
        revision = current_revision(create_store_engine(url))
    except Exception as exc:
        fail(f"cannot open the store: {type(exc).__name__}: {safe(exc)}")
    shown = make_url(url).render_as_string(hide_password=True)
    info = {"url": shown, "revision": revision, "head": head_revision()}
    if as_json:
        print(json.dumps(info))
        return
    for key, value in info.items():
        out.print(f"{key}: {value}", highlight=False)


def main() -> None:
    """Console-script entry point."""
    app()
