"""``spyglass eval``: run eval files, and list, show, compare, resume and rerun tracked runs.

Exit codes (for CI): 0 when everything holds; 3 (``EXIT_GATE``) when a ``--fail-under``
threshold fails or a significant regression against ``--baseline`` is found; 2 for invalid
input (the eval file, an option); 1 when the store cannot be read or a run is not found.
The eval modules (datasets, the app, the statistics) are imported inside the commands.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ._cli_common import ConfigOption, err, fail, out, project_name
from ._cli_eval_support import (
    check_mlflow,
    log_mlflow,
    models_of,
    open_store,
    print_json,
    public,
    reporting_errors,
    stored_source,
    thresholds_of,
)

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from evals import EvalPlan, RunHandle, RunStore

__all__ = ["EXIT_GATE", "eval_app"]

EXIT_GATE = 3

eval_app = typer.Typer(
    help="Score prompt variants against datasets; every result is kept as a tracked run.",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (as the API answers).")]
ServerOption = Annotated[
    str | None,
    typer.Option(help="Call a running Spyglass server at this URL instead of in-process."),
]
NoCacheOption = Annotated[
    bool, typer.Option("--no-cache", help="Call the models even when an answer is cached.")
]
MlflowOption = Annotated[
    str | None,
    typer.Option(
        "--mlflow-uri",
        metavar="URI",
        help="Also log the runs to this MLflow tracking server (needs the mlflow extra).",
    ),
]
OutputOption = Annotated[
    Path | None,
    typer.Option("--output", "-o", help="Write a report: .json, .csv, .html or .xml (JUnit)."),
]


@eval_app.command("run")
def run_command(
    file: Annotated[Path, typer.Argument(help="The eval file (YAML).", show_default=False)],
    config: ConfigOption = None,
    concurrency: Annotated[
        int | None, typer.Option(min=1, max=1024, help="Calls in flight (overrides the file).")
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Evaluate the first N rows.")] = None,
    variant: Annotated[
        list[str] | None, typer.Option("--variant", help="Run only this variant; repeatable.")
    ] = None,
    output: OutputOption = None,
    fail_under: Annotated[
        list[str] | None,
        typer.Option(
            "--fail-under",
            metavar="SCORER=VALUE",
            help=f"Exit {EXIT_GATE} when a variant's mean score is below VALUE; repeatable.",
        ),
    ] = None,
    baseline: Annotated[
        str | None,
        typer.Option(
            metavar="RUN_ID",
            help=f"Compare with this run; a significant regression exits {EXIT_GATE}.",
        ),
    ] = None,
    no_cache: NoCacheOption = False,
    server: ServerOption = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", help="Tag the runs; repeatable.")
    ] = None,
    mlflow_uri: MlflowOption = None,
    project: Annotated[
        str | None,
        typer.Option(
            help="Record the runs in this project, and read registry prompts from it. "
            "[default: no project]",
            callback=project_name,
        ),
    ] = None,
) -> None:
    """Run an eval file: every variant over every row, scored and tracked."""
    check_mlflow(mlflow_uri)
    from evals import DatasetStore, EvalSource, build_plan
    from prompts import PromptStore

    thresholds = thresholds_of(fail_under or [])
    with reporting_errors():
        source = EvalSource.read(file)
        if concurrency is not None:
            source.values.setdefault("settings", {})
            if isinstance(source.values["settings"], dict):
                source.values["settings"]["concurrency"] = concurrency
    with open_store(config, migrate=True) as (settings, engine, store), reporting_errors():
        if baseline is not None:
            baseline = store.resolve(baseline)
        models = models_of(settings, server)
        plan = build_plan(
            source,
            prompts=PromptStore(engine).in_project(project),
            models=models,
            limit=limit,
            only=variant or (),
            isolated=True,
            datasets=DatasetStore(engine).reader(project),
        )
        for name in thresholds:
            if name not in {s.name for s in plan.scorers}:
                fail(f"--fail-under: no scorer named {name!r} in {file}")
        from evals import start_runs

        from ._version import __version__

        def create() -> Sequence[RunHandle]:
            return start_runs(
                plan, store, tool_version=__version__, tags=tag or (), project=project
            )

        code = _run_and_report(
            settings,
            engine,
            store,
            plan,
            create,
            server,
            not no_cache,
            output,
            thresholds,
            baseline,
            mlflow_uri,
        )
    raise typer.Exit(code)


def _run_and_report(
    settings: Any,
    engine: Engine,
    store: RunStore,
    plan: EvalPlan,
    runs: Sequence[RunHandle] | Callable[[], Sequence[RunHandle]],
    server: str | None,
    use_cache: bool,
    output: Path | None,
    thresholds: dict[str, float],
    baseline: str | None,
    mlflow_uri: str | None = None,
) -> int:
    from ._cli_eval_render import RunProgress, comparison_table
    from ._eval_session import execute_runs

    label = f"{plan.name}: {len(plan.variants)} variant(s) x {len(plan.dataset.rows)} row(s)"
    started: list[RunHandle] = []

    def announce() -> Sequence[RunHandle]:
        handles = runs() if callable(runs) else runs
        started.extend(handles)
        err.print(f"[dim]runs: {', '.join(r.id for r in handles)}[/]", highlight=False)
        return handles

    with RunProgress(label) as progress:
        try:
            asyncio.run(
                execute_runs(
                    settings,
                    engine,
                    plan,
                    announce,
                    server=server,
                    use_cache=use_cache,
                    on_start=progress.start,
                    on_result=progress.advance,
                )
            )
        except KeyboardInterrupt:
            ids = " ".join(r.id for r in started)
            first = started[0].id if started else "RUN_ID"
            fail(f"interrupted: finish with `spyglass eval resume {first}` ({ids})", 130)
    runs = started
    finished = store.runs(ids=[r.id for r in runs])
    order = {r.id: i for i, r in enumerate(runs)}
    finished.sort(key=lambda r: order[r["id"]])
    out.print(comparison_table(finished, title=plan.name))
    code = 0
    if len(finished) == 2 or baseline is not None:
        code = max(code, _significance(store, finished, baseline))
    for run in finished:
        scores = (run.get("metrics") or {}).get("scores") or {}
        for name, minimum in thresholds.items():
            mean = (scores.get(name) or {}).get("mean")
            if mean is None or mean < minimum:
                shown = "no score" if mean is None else f"{mean:.3f}"
                err.print(
                    f"[bold red]fail-under:[/] {run['variant']}: {name} {shown} < {minimum:g}",
                    highlight=False,
                )
                code = EXIT_GATE
    if output is not None:
        from evals import write_report

        results = {run["id"]: store.results(run["id"]) for run in finished}
        kind = write_report(output, finished, results)
        err.print(f"wrote {kind} report to {output}", highlight=False)
    if mlflow_uri is not None:
        log_mlflow(mlflow_uri, store, finished)
    return code


def _significance(store: RunStore, runs: Sequence[dict[str, Any]], baseline: str | None) -> int:
    """Paired tests per scorer: between the two runs, or each run against the baseline."""
    from evals import compare_runs

    from ._cli_eval_render import significance_table

    pairs: list[tuple[dict[str, Any], dict[str, Any]]]
    if baseline is not None:
        base = store.run(baseline)
        pairs = [(base, run) for run in runs]
    else:
        pairs = [(runs[0], runs[1])]
    code = 0
    for a, b in pairs:
        comparison = compare_runs(a, store.results(a["id"]), b, store.results(b["id"]))
        out.print(significance_table(comparison))
        if baseline is not None and comparison.regressions:
            names = ", ".join(c.scorer for c in comparison.regressions)
            err.print(
                f"[bold red]regression:[/] {b['variant']} is significantly worse than "
                f"baseline {a['id']} on {names}",
                highlight=False,
            )
            code = EXIT_GATE
    return code


@eval_app.command("list")
def list_command(
    config: ConfigOption = None,
    experiment: Annotated[str | None, typer.Option(help="Only this experiment's runs.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many runs.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """List tracked runs, newest first."""
    with open_store(config, migrate=False) as (_settings, engine, store), reporting_errors():
        from sqlalchemy import inspect

        if not inspect(engine).has_table("eval_runs"):
            runs: list[dict[str, Any]] = []
        else:
            runs = store.runs(experiment=experiment, limit=limit)
    if as_json:
        print_json({"runs": [public(run) for run in runs]})
        return
    if not runs:
        out.print("no eval runs yet: try `spyglass eval run FILE`")
        return
    from ._cli_eval_render import runs_table

    out.print(runs_table(runs))


@eval_app.command("show")
def show_command(
    run_id: Annotated[str, typer.Argument(metavar="RUN_ID", help="A run id (or its start).")],
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a run: its params, metrics and results."""
    with open_store(config, migrate=True) as (_settings, _engine, store), reporting_errors():
        run = store.run(run_id)
        results = store.results(run["id"])
    if as_json:
        print_json({**public(run), "results": results})
        return
    from ._cli_eval_render import show_run

    for part in show_run(run, results):
        out.print(part)


@eval_app.command("compare")
def compare_command(
    run_ids: Annotated[list[str], typer.Argument(metavar="RUN_ID...", help="Two or more runs.")],
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Compare runs side by side; for two, paired significance per scorer."""
    if len(run_ids) < 2:
        fail("compare: give at least two run ids")
    from evals import compare_runs

    with open_store(config, migrate=True) as (_settings, _engine, store), reporting_errors():
        runs = [store.run(run_id) for run_id in run_ids]
        comparison = None
        if len(runs) == 2:
            comparison = compare_runs(
                runs[0], store.results(runs[0]["id"]), runs[1], store.results(runs[1]["id"])
            )
    if as_json:
        print_json(
            {
                "runs": [public(r) for r in runs],
                "comparison": comparison.to_dict() if comparison else None,
            }
        )
        return
    from ._cli_eval_render import comparison_table, significance_table

    out.print(comparison_table(runs))
    if comparison is not None:
        out.print(significance_table(comparison))


@eval_app.command("resume")
def resume_command(
    run_id: Annotated[str, typer.Argument(metavar="RUN_ID", help="A run of the interrupted eval.")],
    config: ConfigOption = None,
    server: ServerOption = None,
    output: OutputOption = None,
    mlflow_uri: MlflowOption = None,
) -> None:
    """Finish an interrupted eval: rows already written are not run again."""
    check_mlflow(mlflow_uri)
    from evals import DatasetStore, RunHandle, build_plan
    from prompts import PromptStore

    with open_store(config, migrate=True) as (settings, engine, store), reporting_errors():
        run = store.run(run_id)
        siblings = [
            r for r in store.runs(invocation=run["invocation"]) if r["status"] != "finished"
        ]
        if not siblings:
            out.print(f"run {run['id']} is finished: nothing to resume")
            return
        source = stored_source(siblings)
        plan = build_plan(
            source,
            prompts=PromptStore(engine).in_project(run["project"]),
            models=models_of(settings, server),
            isolated=True,
            datasets=DatasetStore(engine).reader(run["project"]),
        )
        if plan.dataset.content_hash != run["dataset_hash"]:
            fail(
                "the dataset changed since the run started: it cannot be resumed "
                f"(use `spyglass eval rerun {run['id']}` to run it again)"
            )
        by_name = {v.name: v for v in plan.variants}
        handles = [RunHandle(r["id"], by_name[r["variant"]]) for r in siblings]
        code = _run_and_report(
            settings, engine, store, plan, handles, server, True, output, {}, None, mlflow_uri
        )
    raise typer.Exit(code)


@eval_app.command("rerun")
def rerun_command(
    run_id: Annotated[str, typer.Argument(metavar="RUN_ID", help="The run to reproduce.")],
    config: ConfigOption = None,
    server: ServerOption = None,
    no_cache: NoCacheOption = False,
    output: OutputOption = None,
    mlflow_uri: MlflowOption = None,
) -> None:
    """Run a run again exactly: same dataset, prompt version, model, params and scorers."""
    check_mlflow(mlflow_uri)
    from evals import DatasetStore, build_plan, start_runs
    from prompts import PromptStore

    from ._version import __version__

    with open_store(config, migrate=True) as (settings, engine, store), reporting_errors():
        run = store.run(run_id)
        plan = build_plan(
            stored_source([run]),
            prompts=PromptStore(engine).in_project(run["project"]),
            models=models_of(settings, server),
            isolated=True,
            datasets=DatasetStore(engine).reader(run["project"]),
        )
        if plan.dataset.content_hash != run["dataset_hash"]:
            err.print(
                f"[yellow]warning:[/] the dataset changed since run {run['id']} "
                f"({run['dataset_hash'][:12]} then, {plan.dataset.content_hash[:12]} now)",
                highlight=False,
            )
        else:
            err.print(f"same dataset as run {run['id']} ({run['dataset_hash'][:12]})")
        runs = start_runs(
            plan,
            store,
            tool_version=__version__,
            tags=[f"rerun:{run['id']}"],
            project=run["project"],
        )
        code = _run_and_report(
            settings,
            engine,
            store,
            plan,
            runs,
            server,
            not no_cache,
            output,
            {},
            run["id"],
            mlflow_uri,
        )
    raise typer.Exit(code)


@eval_app.command("tag")
def tag_command(
    run_id: Annotated[str, typer.Argument(metavar="RUN_ID")],
    tags: Annotated[list[str] | None, typer.Argument(help="Tags to set (replacing).")] = None,
    notes: Annotated[str | None, typer.Option(help="Set the run's notes.")] = None,
    config: ConfigOption = None,
) -> None:
    """Set a run's tags and notes (the only things a finished run lets change)."""
    with open_store(config, migrate=True) as (_settings, _engine, store), reporting_errors():
        full = store.resolve(run_id)
        store.annotate(full, tags=tags, notes=notes)
    out.print(f"run {full} updated")
