"""Reports of finished runs: JSON, CSV, a self-contained HTML page, and JUnit XML for CI.

Each takes the runs (as ``RunStore.runs`` returns them) and their results; JUnit makes one
test suite per run and one test case per row, failed when the row errored or a scorer's
verdict was a fail.
"""

from __future__ import annotations

import csv
import html
import io
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from .errors import EvalConfigError

__all__ = ["FORMATS", "render_report", "write_report"]

FORMATS = {".json": "json", ".csv": "csv", ".html": "html", ".htm": "html", ".xml": "junit"}

Runs = Sequence[Mapping[str, Any]]
Results = Mapping[str, Sequence[Mapping[str, Any]]]


def _json(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def _scorer_names(runs: Runs) -> list[str]:
    names: dict[str, None] = {}
    for run in runs:
        for name in (run.get("metrics") or {}).get("scores") or {}:
            names.setdefault(name)
    return list(names)


def render_report(kind: str, runs: Runs, results: Results) -> str:
    """The report's text. ``kind``: json, csv, html or junit."""
    if kind == "json":
        body = [{**run, "results": list(results.get(run["id"], ()))} for run in runs]
        return orjson.dumps({"runs": body}, default=str, option=orjson.OPT_INDENT_2).decode()
    if kind == "csv":
        return _csv(runs, results)
    if kind == "html":
        return _html(runs, results)
    if kind == "junit":
        return _junit(runs, results)
    raise EvalConfigError(f"unknown report format {kind!r}", where="--output")


def write_report(path: Path, runs: Runs, results: Results) -> str:
    """Write the report whose format ``path``'s suffix names; returns the format.

    Raises:
        EvalConfigError: the suffix is not .json, .csv, .html or .xml.
    """
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise EvalConfigError(
            f"cannot tell the format of {path.name}: use .json, .csv, .html or .xml (JUnit)",
            where="--output",
        )
    path.write_text(render_report(kind, runs, results), encoding="utf-8")
    return kind


def _csv(runs: Runs, results: Results) -> str:
    scorers = _scorer_names(runs)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    header = ["run_id", "variant", "row", "repeat", "inputs", "output", "expected"]
    for name in scorers:
        header += [f"{name}.value", f"{name}.passed", f"{name}.explanation"]
    header += ["error", "latency_ms", "cost_usd", "trace_id", "cached"]
    writer.writerow(header)
    for run in runs:
        for result in results.get(run["id"], ()):
            line = [
                run["id"],
                run["variant"],
                result["row_index"],
                result["repeat"],
                _json(result["inputs"]),
                result["output"] or "",
                "" if result["expected"] is None else _json(result["expected"]),
            ]
            for name in scorers:
                score = (result.get("scores") or {}).get(name) or {}
                line += [
                    "" if score.get("value") is None else score["value"],
                    "" if score.get("passed") is None else str(score["passed"]).lower(),
                    score.get("explanation") or score.get("error") or "",
                ]
            line += [
                result["error"] or "",
                "" if result["latency_ms"] is None else f"{result['latency_ms']:.1f}",
                "" if result["cost_usd"] is None else result["cost_usd"],
                result["trace_id"] or "",
                str(bool(result["cached"])).lower(),
            ]
            writer.writerow(line)
    return buffer.getvalue()


def _failures(result: Mapping[str, Any]) -> list[str]:
    found = []
    if result.get("error"):
        found.append(f"error: {result['error']}")
    for name, score in (result.get("scores") or {}).items():
        if score.get("passed") is False:
            found.append(f"{name}: failed ({score.get('explanation') or score.get('value')})")
        elif score.get("error"):
            found.append(f"{name}: {score['error']}")
    return found


def _junit(runs: Runs, results: Results) -> str:
    suites = ET.Element("testsuites", name="spyglass eval")
    total = failed = 0
    for run in runs:
        rows = results.get(run["id"], ())
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=f"{run['experiment']} / {run['variant']}",
            id=run["id"],
            tests=str(len(rows)),
        )
        suite_failures = 0
        seconds = 0.0
        for result in rows:
            case_name = f"row {result['row_index']}" + (
                f" (repeat {result['repeat']})" if result["repeat"] else ""
            )
            elapsed = (result["latency_ms"] or 0.0) / 1000
            seconds += elapsed
            case = ET.SubElement(
                suite,
                "testcase",
                classname=f"{run['experiment']}.{run['variant']}",
                name=case_name,
                time=f"{elapsed:.3f}",
            )
            problems = _failures(result)
            if problems:
                suite_failures += 1
                failure = ET.SubElement(case, "failure", message=problems[0][:200])
                failure.text = "\n".join(problems)
            output = ET.SubElement(case, "system-out")
            output.text = result["output"] or ""
        suite.set("failures", str(suite_failures))
        suite.set("errors", "0")
        suite.set("time", f"{seconds:.3f}")
        total += len(rows)
        failed += suite_failures
    suites.set("tests", str(total))
    suites.set("failures", str(failed))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, "unicode") + "\n"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, dict | list):
        return html.escape(_json(value))
    return html.escape(str(value))


def _html(runs: Runs, results: Results) -> str:
    scorers = _scorer_names(runs)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Spyglass eval</title>",
        "<style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse;"
        "margin-bottom:2em}td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top;"
        "text-align:left;max-width:40em;white-space:pre-wrap}.fail{background:#fde2e2}"
        ".pass{background:#e3f6e3}</style></head><body><h1>Spyglass eval</h1>",
        "<h2>Summary</h2><table><tr><th>scorer</th>",
    ]
    parts += [
        f"<th>{_cell(run['variant'])}<br><small>{_cell(run['id'])}</small></th>" for run in runs
    ]
    parts.append("</tr>")
    for name in scorers:
        parts.append(f"<tr><th>{_cell(name)}</th>")
        for run in runs:
            entry = ((run.get("metrics") or {}).get("scores") or {}).get(name) or {}
            mean, ci = entry.get("mean"), entry.get("ci")
            text = "" if mean is None else f"{mean:.3f}"
            if ci:
                text += f" ± {(ci[1] - ci[0]) / 2:.3f}"
            if entry.get("pass_rate") is not None:
                text += f" (pass {entry['pass_rate']:.0%})"
            parts.append(f"<td>{html.escape(text)}</td>")
        parts.append("</tr>")
    parts.append("</table>")
    for run in runs:
        parts.append(
            f"<h2>{_cell(run['experiment'])} / {_cell(run['variant'])} "
            f"<small>{_cell(run['id'])}</small></h2><table><tr><th>row</th><th>inputs</th>"
            "<th>output</th><th>expected</th>"
        )
        parts += [f"<th>{_cell(name)}</th>" for name in scorers]
        parts.append("<th>error</th></tr>")
        for result in results.get(run["id"], ()):
            parts.append(
                f"<tr><td>{result['row_index']}</td><td>{_cell(result['inputs'])}</td>"
                f"<td>{_cell(result['output'])}</td><td>{_cell(result['expected'])}</td>"
            )
            for name in scorers:
                score = (result.get("scores") or {}).get(name) or {}
                passed = score.get("passed")
                css = "" if passed is None else ("pass" if passed else "fail")
                title = html.escape(score.get("explanation") or score.get("error") or "", True)
                parts.append(
                    f"<td class='{css}' title=\"{title}\">{_cell(score.get('value'))}</td>"
                )
            parts.append(f"<td>{_cell(result['error'])}</td></tr>")
        parts.append("</table>")
    parts.append("</body></html>\n")
    return "".join(parts)
