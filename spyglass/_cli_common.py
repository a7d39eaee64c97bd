"""What every ``spyglass`` command shares: consoles, the --config option, errors for a person.

Only typer and rich are imported here, so that help stays instant.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

__all__ = [
    "EXIT_INVALID",
    "EXIT_NOT_FOUND",
    "ConfigOption",
    "err",
    "fail",
    "load",
    "out",
    "pairs",
    "print_json",
    "safe",
]

err = Console(stderr=True)
out = Console()

EXIT_NOT_FOUND = 1
EXIT_INVALID = 2

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Config file (YAML). Default: $SPYGLASS_CONFIG, else ./spyglass.yaml if present.",
        show_default=False,
    ),
]


def project_name(value: str | None) -> str | None:
    """``--project``'s check: a blank name is refused, as the keys API refuses it."""
    if value is not None and not value.strip():
        raise typer.BadParameter("must not be empty (omit --project for no project)")
    return value


def fail(message: str, code: int = EXIT_INVALID) -> NoReturn:
    """Print an error for a person (no traceback) and exit."""
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def load(config: Path | None, **overrides: Any) -> Any:
    """The settings, as ``spyglass serve`` loads them; a bad config ends the command."""
    from gateway import ConfigError

    from ._settings import load_settings

    try:
        settings, warnings = load_settings(config, **overrides)
    except ConfigError as exc:
        fail(exc.message)
    for warning in warnings:
        err.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    return settings


def safe(exc: Exception | str) -> str:
    """An exception's (or a URL's) text without URLs' passwords."""
    return re.sub(r"://([^:/@]+):([^@]+)@", r"://\1:***@", str(exc))[:300]


def pairs(given: list[str], option: str, name: str = "KEY") -> dict[str, str]:
    """``KEY=VALUE`` options as a mapping; a malformed one ends the command naming ``option``."""
    found: dict[str, str] = {}
    for pair in given:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            fail(f"{option}: expected {name}=VALUE, got {pair!r}")
        found[key] = value
    return found


def print_json(value: Any) -> None:
    """One line of JSON on stdout (``--json``), the API's bytes for the API's values."""
    import sys

    import orjson

    sys.stdout.write(orjson.dumps(value, default=str).decode() + "\n")
