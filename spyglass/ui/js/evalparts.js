// Pieces the eval pages share: loading runs and results, scores as numbers and verdicts,
// pairing two runs' rows, and the small cells that show them.

import { api } from "./api.js";
import { h } from "./dom.js";
import { fmtPct } from "./format.js";

const PAGE = 1000;
export const RESULTS_CAP = 20000;

/** A run's results, page by page (the API serves at most 1,000 a call). */
export async function loadResults(runId) {
  const all = [];
  for (let offset = 0; offset < RESULTS_CAP; offset += PAGE) {
    const page = await api.get(`/api/runs/${encodeURIComponent(runId)}/results`, { limit: PAGE, offset });
    all.push(...page.results);
    if (page.results.length < PAGE) break;
  }
  return all;
}

/** The scorers of some runs, in the order they first appear. */
export function scorerNames(runs) {
  const names = [];
  for (const run of runs) for (const name of Object.keys(run.metrics?.scores || {})) if (!names.includes(name)) names.push(name);
  if (!names.length) for (const run of runs) for (const name of run.params?.scorers || []) if (!names.includes(name)) names.push(name);
  return names;
}

export function fmtScore(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return "—";
  const abs = Math.abs(value);
  if (abs >= 1000) return Math.round(value).toLocaleString();
  if (abs >= 100 || (abs >= 10 && Number.isInteger(value))) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  return value.toFixed(3);
}

export function fmtDelta(value) {
  if (value === null || value === undefined) return "—";
  return `${value > 0 ? "+" : value < 0 ? "−" : "±"}${fmtScore(Math.abs(value))}`;
}

export function fmtP(p) {
  if (p === null || p === undefined) return "";
  return p < 0.001 ? "p<0.001" : `p=${p < 0.01 ? p.toFixed(3) : p.toFixed(2)}`;
}

/** "pass", "fail", "error" or null (a plain number with no threshold). */
export function verdict(score) {
  if (!score) return null;
  if (score.error) return "error";
  if (score.passed === true) return "pass";
  if (score.passed === false) return "fail";
  return null;
}

/** Whether a result failed: a call error, a failed or errored score. */
export function failed(result) {
  if (result.error) return true;
  return Object.values(result.scores || {}).some((s) => s && (s.error || s.passed === false));
}

/** Stable JSON (sorted keys): pairs rows by their inputs when two runs saw different data. */
function stable(value) {
  if (Array.isArray(value)) return `[${value.map(stable).join(",")}]`;
  if (value && typeof value === "object") return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${stable(value[k])}`).join(",")}}`;
  return JSON.stringify(value ?? null);
}

/** A key that pairs a result with its counterpart in another run (as the API's comparison does). */
export function pairKey(result, byInputs) {
  return byInputs ? `${stable(result.inputs)}#${result.repeat}` : `${result.row_index}#${result.repeat}`;
}

/** The scorers whose verdict differs between two results: [{name, before, after}]. */
export function verdictChanges(before, after) {
  if (!before || !after) return [];
  const changes = [];
  for (const [name, score] of Object.entries(after.scores || {})) {
    const was = before.scores?.[name];
    if (typeof was?.passed === "boolean" && typeof score?.passed === "boolean" && was.passed !== score.passed) {
      changes.push({ name, before: was.passed, after: score.passed });
    }
  }
  return changes;
}

/** A run's name as people say it: its variant and short id. */
export function runLabel(run) {
  return `${run.variant} · ${run.id.slice(0, 8)}`;
}

export function statusBadge(status) {
  const kind = { finished: "ok", running: "warn", failed: "error", interrupted: "warn" }[status] || "";
  return h("span", { class: `badge ${kind}` }, status);
}

/** A pass/fail check (value 1 or 0): its verdict says it all. */
function binary(score) {
  return typeof score.passed === "boolean" && (score.value === 0 || score.value === 1);
}

/** One score in a results table: the value, coloured by its verdict, with its explanation. */
export function scoreCell(score, { was = null } = {}) {
  const v = verdict(score);
  if (!score) return h("td", { class: "num faint" }, "—");
  const mark = v === "pass" ? "✓" : v === "fail" ? "✗" : "";
  const title = [score.error || score.explanation, was ? `was ${was}` : null].filter(Boolean).join(" · ");
  return h("td", { class: `num score ${v || ""}${was ? " flipped" : ""}`, title: title || null, dataset: { verdict: v || "value" } },
    v === "error" ? "error" : binary(score) ? h("span", { class: "mark" }, `${mark} ${v}`) : [fmtScore(score.value), mark ? h("span", { class: "mark" }, mark) : null],
    was ? h("span", { class: "was" }, `was ${was === "pass" ? "✓" : "✗"}`) : null);
}

/** A scorer's summary in a run's metrics: mean, interval, pass rate. */
export function summaryText(metric) {
  if (!metric) return { mean: "—", ci: "", pass: "" };
  const ci = metric.ci ? `${fmtScore(metric.ci[0])} – ${fmtScore(metric.ci[1])}` : "";
  const pass = metric.pass_rate === null || metric.pass_rate === undefined ? "" : `${fmtPct(metric.pass_rate)} pass`;
  return { mean: fmtScore(metric.mean), ci, pass };
}

/** Inputs on one line: `question: Where is…  ·  lang: en`. */
export function inputsText(inputs) {
  return Object.entries(inputs || {}).map(([k, v]) => `${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`).join("  ·  ");
}

export function valueText(value) {
  if (value === null || value === undefined) return "";
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** The guide shown when nothing has been recorded (or the eval API is not there). */
export function evalsGuide(note) {
  return h("div", { class: "empty", dataset: { empty: "evals" } }, h("h2", null, "No eval runs yet"),
    h("p", null, "Score prompt variants against a dataset from the command line; every run is recorded and shows up here:"),
    h("pre", { class: "snippet" }, "spyglass eval run examples/evals/capitals.yaml --config examples/demo.yaml"),
    h("p", null, "An eval file names a dataset, the variants to try (prompt, model, params) and the scorers. See docs/evals.md for its format; compare runs here or with spyglass eval compare."),
    note ? h("p", { class: "faint" }, note) : null);
}
