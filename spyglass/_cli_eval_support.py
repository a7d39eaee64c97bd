"""What ``spyglass eval``'s commands share: the store, errors for a person, model names, JSON.

Only typer is imported at module level; the store and the eval modules inside the helpers.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._cli_common import EXIT_INVALID, EXIT_NOT_FOUND, err, fail, load, safe

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from evals import RunStore

__all__ = [
    "check_mlflow",
    "log_mlflow",
    "models_of",
    "open_store",
    "print_json",
    "public",
    "reporting_errors",
    "stored_source",
    "thresholds_of",
]


@contextmanager
def open_store(config: Path | None, *, migrate: bool) -> Iterator[tuple[Any, Engine, RunStore]]:
    """The settings, the store's engine (migrated when asked) and the run store."""
    from evals import RunStore

    from ._db import create_store_engine, upgrade_store

    settings = load(config)
    try:
        engine = create_store_engine(settings.database_url_value())
        if migrate:
            upgrade_store(engine)
    except Exception as exc:
        fail(f"cannot open the store: {type(exc).__name__}: {safe(exc)}", EXIT_NOT_FOUND)
    try:
        yield settings, engine, RunStore(engine)
    finally:
        engine.dispose()


@contextmanager
def reporting_errors() -> Iterator[None]:
    """Eval errors end the command with their message, no traceback."""
    from sqlalchemy.exc import SQLAlchemyError

    from evals import EvalConfigError, EvalError, RunNotFoundError

    try:
        yield
    except EvalConfigError as exc:
        fail(str(exc), EXIT_INVALID)
    except RunNotFoundError as exc:
        fail(str(exc), EXIT_NOT_FOUND)
    except EvalError as exc:
        fail(str(exc), EXIT_INVALID)
    except SQLAlchemyError as exc:
        fail(f"cannot read the store: {type(exc).__name__}: {safe(exc)}", EXIT_NOT_FOUND)


def thresholds_of(pairs: Sequence[str]) -> dict[str, float]:
    found = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        try:
            found[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            fail(f"--fail-under: expected SCORER=VALUE, e.g. exact=0.8 (got {pair!r})")
    return found


def models_of(settings: Any, server: str | None) -> set[str]:
    if server is None:
        return {entry.model_name for entry in settings.model_list}
    import httpx

    from ._eval_session import server_models

    try:
        return server_models(server)
    except (httpx.HTTPError, ValueError) as exc:
        fail(f"--server: cannot list the models of {server}: {type(exc).__name__}: {exc}")


def public(run: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in run.items() if k != "spec"}


def print_json(value: Any) -> None:
    import sys

    import orjson

    sys.stdout.write(orjson.dumps(value, default=str).decode() + "\n")


def stored_source(runs: Sequence[dict[str, Any]]) -> Any:
    """An eval source rebuilt from stored runs' specs (their variants, pinned)."""
    from evals import EvalSource

    spec = runs[0]["spec"]
    values = {
        key: spec[key]
        for key in ("name", "description", "dataset", "scorers", "settings")
        if spec.get(key) is not None
    }
    values["variants"] = [r["spec"]["variants"][0] for r in runs]
    return EvalSource(spec.get("file", "stored run"), values, {}, Path(spec["directory"]))


def check_mlflow(uri: str | None) -> None:
    """With ``--mlflow-uri``, end the command (exit 2) before any call if mlflow is missing."""
    if uri is None:
        return
    from evals import EvalConfigError, require_mlflow

    try:
        require_mlflow()
    except EvalConfigError as exc:
        fail(str(exc), EXIT_INVALID)


def log_mlflow(uri: str, store: RunStore, runs: Sequence[dict[str, Any]]) -> None:
    """Copy the finished runs to MLflow; a failure is a warning (the runs are stored already)."""
    from rich.markup import escape

    from evals import log_to_mlflow

    results = {run["id"]: store.results(run["id"]) for run in runs}
    try:
        ids = log_to_mlflow(uri, runs, results)
    except Exception as exc:
        err.print(
            f"[yellow]warning:[/] could not log to MLflow at {escape(safe(uri))}: "
            f"{type(exc).__name__}: {escape(safe(exc))}; the runs are kept in Spyglass "
            f"({', '.join(run['id'] for run in runs)})",
            highlight=False,
            soft_wrap=True,
        )
        return
    err.print(f"logged to MLflow at {escape(safe(uri))}: {', '.join(ids)}", highlight=False)
