"""``spyglass prompts``: push, label, show, diff, render and pull registry prompts.

Prompts can live in git: ``push`` reads a text file (the template) or a YAML/JSON file
(template or messages, model config, tools...); ``pull`` writes the same format back, so a
push of a pulled file is a no-op. Each command uses the same settings and store as the server.
"""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ._cli_common import (
    EXIT_NOT_FOUND,
    ConfigOption,
    err,
    fail,
    load,
    out,
    pairs,
    project_name,
    safe,
)

if TYPE_CHECKING:
    from prompts import PromptStore, PromptVersion

__all__ = ["prompts_app", "read_prompt_file"]

prompts_app = typer.Typer(
    help="Version, label and render prompt templates (the prompt registry).",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (as the API answers).")]
ProjectOption = Annotated[
    str | None,
    typer.Option(
        help="The project whose prompts to use. [default: the prompts of no project]",
        callback=project_name,
    ),
]
_DOCUMENT_KEYS = {
    "template",
    "messages",
    "engine",
    "model_config",
    "tools",
    "response_format",
    "description",
    "tags",
}
_STRUCTURED = (".yaml", ".yml", ".json")


@contextmanager
def _store(config: Path | None, *, write: bool = False) -> Iterator[PromptStore]:
    """The registry in the server's store; writing commands bring its schema up to date."""
    from sqlalchemy import inspect
    from sqlalchemy.exc import SQLAlchemyError

    from prompts import PromptError, PromptStore

    from ._db import create_store_engine, upgrade_store

    url = load(config).database_url_value()
    try:
        engine = create_store_engine(url)
        if write:
            upgrade_store(engine)
        elif not inspect(engine).has_table("prompts"):
            fail("no prompts yet: push one with `spyglass prompts push NAME --file F`", 1)
    except typer.Exit:
        raise
    except Exception as exc:
        fail(f"cannot open the store: {type(exc).__name__}: {safe(exc)}", EXIT_NOT_FOUND)
    try:
        yield PromptStore(engine)
    except PromptError as exc:
        from prompts import PromptNotFoundError

        fail(exc.message, EXIT_NOT_FOUND if isinstance(exc, PromptNotFoundError) else 2)
    except SQLAlchemyError as exc:
        fail(f"cannot use the store: {type(exc).__name__}: {safe(exc)}", EXIT_NOT_FOUND)
    finally:
        engine.dispose()


def read_prompt_file(path: Path, engine: str | None = None) -> dict[str, Any]:
    """The push arguments a prompt file holds; errors name the file and key."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        fail(f"--file: cannot read {path}: {exc.strerror or exc}")
    if path.suffix.lower() not in _STRUCTURED:
        return {"template": text, "engine": engine or "mustache"}
    import yaml

    try:
        document = yaml.safe_load(text)  # YAML is a superset of JSON
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        fail(f"{where}: not valid YAML/JSON: {getattr(exc, 'problem', exc)}")
    if isinstance(document, list):
        document = {"messages": document}
    if not isinstance(document, dict):
        fail(f"{path}: expected a mapping with template or messages (and model_config...)")
    unknown = sorted(set(document) - _DOCUMENT_KEYS)
    if unknown:
        fail(f"{path}: unknown key {unknown[0]!r}; expected {', '.join(sorted(_DOCUMENT_KEYS))}")
    if ("template" in document) == ("messages" in document):
        fail(f"{path}: give exactly one of template (text) or messages (chat)")
    args = dict(document)
    args["template"] = args.pop("template", None) or args.pop("messages", None)
    args.pop("messages", None)
    if engine is not None:
        args["engine"] = engine
    return args


def _to_file(version: PromptVersion, description: str | None, tags: tuple[str, ...]) -> Any:
    document: dict[str, Any] = {}
    if isinstance(version.template, str):
        document["template"] = version.template
    else:
        document["messages"] = version.template
    if version.engine != "mustache":
        document["engine"] = version.engine
    for key in ("model_config", "tools", "response_format"):
        value = getattr(version, key)
        if value:
            document[key] = value
    if description:
        document["description"] = description
    if tags:
        document["tags"] = list(tags)
    return document


def _print_json(value: Any) -> None:
    import orjson

    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")


def _author(given: str | None) -> str | None:
    if given:
        return given
    try:
        return os.environ.get("SPYGLASS_AUTHOR") or getpass.getuser()
    except Exception:
        return None


@prompts_app.command()
def push(
    name: Annotated[str, typer.Argument(help="The prompt's name (letters, digits, - _ . /).")],
    file: Annotated[
        Path,
        typer.Option(
            "--file",
            "-f",
            help="A text file (the template), or YAML/JSON with template or messages, "
            "model_config, tools, response_format, description, tags.",
        ),
    ],
    message: Annotated[
        str | None, typer.Option("--message", "-m", help="What changed (kept with the version).")
    ] = None,
    label: Annotated[
        list[str] | None,
        typer.Option("--label", "-l", help="Point this label at the version (repeatable)."),
    ] = None,
    engine: Annotated[
        str | None,
        typer.Option(help="mustache ({{var}}, the default) or jinja2 (sandboxed)."),
    ] = None,
    author: Annotated[
        str | None, typer.Option(help="Recorded with the version. [default: $USER]")
    ] = None,
    project: ProjectOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Push a new version from a file. Pushing content identical to the latest is a no-op."""
    args = read_prompt_file(file, engine)
    with _store(config, write=True) as store:
        version, created = store.push(
            name,
            labels=label or [],
            message=message,
            author=_author(author),
            project=project,
            **args,
        )
    if as_json:
        _print_json(version.to_dict() | {"created": created})
        return
    labels = ", ".join(lb for lb in version.labels if lb != "latest")
    where = f" ({labels})" if labels else ""
    if created:
        out.print(f"pushed [bold]{version.ref}[/]{where}", highlight=False)
    else:
        out.print(f"unchanged: {version.ref} already has this content{where}", highlight=False)


@prompts_app.command("list")
def list_command(
    search: Annotated[
        str | None, typer.Option("--search", "-s", help="In names and descriptions.")
    ] = None,
    tag: Annotated[str | None, typer.Option(help="Only prompts with this tag.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many.")] = 200,
    project: ProjectOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """List prompts with their latest version and labels."""
    from rich.table import Table

    with _store(config) as store:
        found, _ = store.list_prompts(query=search, tag=tag, limit=limit, project=project)
    if as_json:
        _print_json([s.to_dict() for s in found])
        return
    if not found:
        err.print("no prompts match" if search or tag else "no prompts yet")
        return
    table = Table(box=None, header_style="bold")
    for column in ("name", "latest", "labels", "tags", "updated", "description"):
        table.add_column(column, overflow="fold")
    for s in found:
        table.add_row(
            s.name,
            str(s.latest_version or "-"),
            ", ".join(f"{k}→{v}" for k, v in s.labels.items()),
            ", ".join(s.tags),
            s.updated_at.astimezone().strftime("%Y-%m-%d %H:%M"),
            (s.description or "")[:60],
        )
    out.print(table)


@prompts_app.command()
def show(
    ref: Annotated[str, typer.Argument(help="NAME, NAME@label or NAME/N.")],
    project: ProjectOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one version: its template, variables, labels and model config."""
    from rich.markup import escape
    from rich.panel import Panel

    with _store(config) as store:
        version = store.get(ref, project=project)
    if as_json:
        _print_json(version.to_dict())
        return
    out.print(f"[bold]{escape(version.ref)}[/]  {version.type}, {version.engine}", highlight=False)
    created = (
        version.created_at.astimezone().strftime("%Y-%m-%d %H:%M") if version.created_at else ""
    )
    out.print(
        f"labels: {', '.join(version.labels) or '-'}   created {created} by {version.author or '-'}"
    )
    if version.message:
        out.print(f"message: {escape(version.message)}", highlight=False)
    out.print(f"variables: {', '.join(version.variables) or '-'}", highlight=False)
    if version.model_config:
        settings = ", ".join(f"{k}={v}" for k, v in version.model_config.items())
        out.print(f"model_config: {escape(settings)}", highlight=False)
    if isinstance(version.template, str):
        out.print(Panel(escape(version.template), title="template", title_align="left"))
    else:
        for message in version.template:
            content = message.get("content")
            text = content if isinstance(content, str) else str(content)
            out.print(Panel(escape(text), title=str(message.get("role")), title_align="left"))


@prompts_app.command()
def diff(
    name: Annotated[str, typer.Argument(help="The prompt's name.")],
    a: Annotated[str, typer.Argument(help="A version number or label.")],
    b: Annotated[str, typer.Argument(help="A version number or label.")],
    project: ProjectOption = None,
    config: ConfigOption = None,
) -> None:
    """A coloured unified diff of two versions (template, then engine and model config)."""
    from rich.markup import escape

    with _store(config) as store:
        text = store.diff(name, a, b, project=project)
    if not text:
        out.print(f"{name}: {a} and {b} are identical")
        return
    colours = {"+": "green", "-": "red", "@": "cyan"}
    for line in text.splitlines():
        colour = colours.get(line[:1])
        if line.startswith(("+++", "---")):
            colour = "bold"
        markup = escape(line)
        out.print(f"[{colour}]{markup}[/]" if colour else markup, highlight=False, soft_wrap=True)


@prompts_app.command()
def label(
    name: Annotated[str, typer.Argument(help="The prompt's name.")],
    version: Annotated[int, typer.Argument(help="The version the label should point at.", min=1)],
    label_name: Annotated[str, typer.Argument(metavar="LABEL", help="e.g. production.")],
    actor: Annotated[str | None, typer.Option(help="Who moved it. [default: $USER]")] = None,
    project: ProjectOption = None,
    config: ConfigOption = None,
) -> None:
    """Point LABEL at version N (the move is kept in the label history)."""
    with _store(config, write=True) as store:
        store.set_label(name, label_name, version, actor=_author(actor), project=project)
    out.print(f"{name}@{label_name} → {version}", highlight=False)


@prompts_app.command()
def history(
    name: Annotated[str, typer.Argument(help="The prompt's name.")],
    label_name: Annotated[str | None, typer.Option("--label", help="One label only.")] = None,
    project: ProjectOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Label moves, newest first: who moved which label, when, from and to which version."""
    from datetime import datetime

    from rich.table import Table

    with _store(config) as store:
        events = store.history(name, label_name, project=project)
    if as_json:
        _print_json(events)
        return
    if not events:
        err.print(f"{name}: no label has been set yet")
        return
    table = Table(box=None, header_style="bold")
    for column in ("when", "label", "from", "to", "by"):
        table.add_column(column)
    for e in events:
        when = datetime.fromisoformat(e["at"]).astimezone().strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(
            when,
            e["label"],
            str(e["from_version"] or "-"),
            str(e["to_version"] or "(removed)"),
            e["actor"] or "-",
        )
    out.print(table)


def _variables(given: list[str], file: Path | None) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if file is not None:
        import yaml

        try:
            loaded = yaml.safe_load(file.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            fail(f"--vars-file: cannot read {file}: {exc}")
        if not isinstance(loaded, dict):
            fail(f"--vars-file: {file} must hold a mapping of variable names to values")
        values.update(loaded)
    values.update(pairs(given, "--var", "NAME"))
    return values


@prompts_app.command()
def render(
    ref: Annotated[str, typer.Argument(help="NAME, NAME@label or NAME/N.")],
    var: Annotated[
        list[str] | None, typer.Option("--var", "-v", help="NAME=VALUE (repeatable).")
    ] = None,
    vars_file: Annotated[
        Path | None, typer.Option(help="A YAML/JSON file of variables (--var wins).")
    ] = None,
    project: ProjectOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Render a version with variables: text, or chat messages."""
    from rich.markup import escape

    variables = _variables(var or [], vars_file)
    with _store(config) as store:
        version = store.get(ref, project=project)
        rendered = version.fill(variables)
    for name in rendered.unused:
        err.print(f"[yellow]warning:[/] variable {name!r} is not used by {version.ref}")
    if as_json:
        _print_json({"name": version.name, "version": version.version, "rendered": rendered.value})
    elif isinstance(rendered.value, str):
        sys.stdout.write(rendered.value if rendered.value.endswith("\n") else rendered.value + "\n")
    else:
        for message in rendered.value:
            out.print(f"[bold]{message.get('role')}:[/]", highlight=False)
            content = message.get("content")
            out.print(
                escape(content if isinstance(content, str) else str(content)), highlight=False
            )


@prompts_app.command()
def pull(
    ref: Annotated[str, typer.Argument(help="NAME, NAME@label or NAME/N.")],
    output: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="Where to write: .yaml/.yml/.json for the whole version, else the text.",
        ),
    ],
    project: ProjectOption = None,
    config: ConfigOption = None,
) -> None:
    """Write a version to a file that `prompts push` reads back (a round trip is a no-op)."""
    with _store(config) as store:
        version = store.get(ref, project=project)
        summary = store.summary(version.name, project=project)
    document = _to_file(version, summary.description, summary.tags)
    suffix = output.suffix.lower()
    if suffix == ".json":
        import orjson

        data = orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n"
    elif suffix in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
    elif set(document) - {"description", "tags"} == {"template"}:
        # A text file holds the template only; description and tags belong to the prompt.
        data = str(document["template"])
    else:
        fail(
            f"--out: {version.ref} is a {version.type} prompt with settings a text file cannot "
            "hold; use a .yaml or .json file"
        )
    try:
        output.write_text(data, encoding="utf-8")
    except OSError as exc:
        fail(f"--out: cannot write {output}: {exc.strerror or exc}")
    out.print(f"wrote {version.ref} to {output}", highlight=False)
