// One eval run: its settings and summary, then its rows (inputs, output, scores, trace) with
// two filters: failed only, and changed only (a verdict that differs from another run's).

import { api } from "./api.js";
import { h, mount } from "./dom.js";
import { fmtCost, fmtFullTime, fmtInt, fmtMs, fmtPct } from "./format.js";
import { jsonBlock, longText } from "./chat.js";
import { listNav } from "./keys.js";
import {
  failed, fmtScore, inputsText, loadResults, pairKey, runLabel, scoreCell, scorerNames,
  statusBadge, valueText, verdict, verdictChanges,
} from "./evalparts.js";

const SHOWN = 300;

/** The run a run is best compared with: the same variant's previous run, else a sibling. */
function defaultBaseline(run, runs) {
  const older = runs.filter((r) => r.id !== run.id && r.created_at <= run.created_at);
  const sibling = (r) => r.id !== run.id && r.invocation === run.invocation;
  return older.find((r) => r.variant === run.variant && r.invocation !== run.invocation)
    || older.find(sibling) || runs.find(sibling) || older[0] || null;
}

function stat(key, value) {
  return h("div", { class: "stat" }, h("span", { class: "k" }, key), h("span", { class: "v" }, value));
}

function summaryTable(run, names) {
  const scores = run.metrics?.scores || {};
  return h("table", { class: "grid compact summary", dataset: { summary: "" } },
    h("thead", null, h("tr", null, ["Scorer", "Mean", "95% CI", "Pass rate", "95% CI", "Scored", "Errors"].map((c, i) => h("th", { class: i ? "num" : null }, c)))),
    h("tbody", null, names.map((name) => {
      const m = scores[name] || {};
      return h("tr", null, h("td", { class: "name" }, name, m.direction === "lower" ? h("span", { class: "faint" }, " ↓") : null),
        h("td", { class: "num strong" }, fmtScore(m.mean)),
        h("td", { class: "num muted" }, m.ci ? `${fmtScore(m.ci[0])} – ${fmtScore(m.ci[1])}` : "—"),
        h("td", { class: "num" }, m.pass_rate === null || m.pass_rate === undefined ? "—" : fmtPct(m.pass_rate)),
        h("td", { class: "num muted" }, m.pass_ci ? `${fmtPct(m.pass_ci[0])} – ${fmtPct(m.pass_ci[1])}` : "—"),
        h("td", { class: "num" }, fmtInt(m.n)),
        h("td", { class: "num" }, m.errors ? h("span", { class: "badge error" }, fmtInt(m.errors)) : h("span", { class: "faint" }, "0")));
    })));
}

function detailRow(result, before, names, span) {
  const scores = h("table", { class: "grid compact" }, h("tbody", null, names.map((name) => {
    const score = result.scores?.[name];
    const was = before?.scores?.[name];
    return h("tr", null, h("td", { class: "name" }, name), scoreCell(score),
      before ? h("td", { class: "muted nowrap" }, `baseline ${verdict(was) || fmtScore(was?.value)}`) : null,
      h("td", { class: "muted wide" }, score?.error || score?.explanation || ""));
  })));
  return h("tr", { class: "detail-row" }, h("td", { colspan: span },
    h("div", { class: "row-detail" },
      h("div", null, h("h3", null, "Inputs"), jsonBlock(result.inputs)),
      h("div", null, h("h3", null, "Output"), result.error ? h("div", { class: "section-err" }, result.error) : longText(result.output ?? "", { mono: false }),
        result.expected !== null && result.expected !== undefined ? [h("h3", null, "Expected"), longText(valueText(result.expected))] : null,
        before ? [h("h3", null, "Baseline output"), longText(before.output ?? before.error ?? "")] : null),
      h("div", null, h("h3", null, "Scores"), scores,
        h("div", { class: "muted row-meta" }, `${fmtMs(result.latency_ms)} · ${fmtInt((result.prompt_tokens || 0) + (result.completion_tokens || 0))} tokens · ${fmtCost(result.cost_usd)}${result.cached ? " · cached" : ""}`)))));
}

export async function render(root, ctx, runId) {
  let run;
  try {
    run = await api.get(`/api/runs/${encodeURIComponent(runId)}`);
  } catch (error) {
    if (error.status === 401) throw error;
    mount(root, h("div", { class: "empty" }, h("h2", null, "Run not found"), h("p", null, error.message), h("a", { href: "/evals" }, "All experiments")));
    return null;
  }
  const [siblings, results] = await Promise.all([api.get("/api/runs", { experiment: run.experiment, limit: 200 }).then((r) => r.runs), loadResults(run.id)]);
  if (!ctx.alive()) return null;
  const names = scorerNames([run]);
  const state = {
    failed: ctx.query.get("failed") === "1",
    changed: ctx.query.get("changed") === "1",
    baseline: ctx.query.get("baseline") || defaultBaseline(run, siblings)?.id || "",
    all: false,
  };
  let before = new Map();
  let changedRows = new Set();
  let byInputs = false;

  const m = run.metrics || {};
  const p = run.params || {};
  const took = run.finished_at ? new Date(run.finished_at) - new Date(run.created_at) : null;
  const failedBox = h("input", { type: "checkbox", checked: state.failed, dataset: { filter: "failed" } });
  const changedBox = h("input", { type: "checkbox", checked: state.changed, dataset: { filter: "changed" } });
  const others = siblings.filter((r) => r.id !== run.id);
  const baselinePick = h("select", { "aria-label": "Baseline run", dataset: { baseline: "" } },
    h("option", { value: "" }, "no baseline"),
    others.map((r) => h("option", { value: r.id, selected: r.id === state.baseline }, `${runLabel(r)}`)));
  const count = h("span", { class: "muted" });
  const tbody = h("tbody");
  const span = 5 + names.length;
  const table = h("table", { class: "grid results", dataset: { list: "results" } },
    h("thead", null, h("tr", null, h("th", { class: "num" }, "#"), h("th", null, "Inputs"), h("th", null, "Output"),
      names.map((n) => h("th", { class: "num scorer-head", title: n }, n)), h("th", { class: "num" }, "Latency"), h("th", null, "Trace"))), tbody);
  const foot = h("div", { class: "list-foot" });

  const compareLink = h("a", { dataset: { compareLink: "" } }, "Compare side by side →");
  function sync() {
    ctx.setQuery({ failed: state.failed ? "1" : "", changed: state.changed ? "1" : "", baseline: state.baseline });
    compareLink.hidden = !state.baseline;
    compareLink.setAttribute("href", state.baseline ? `/evals/compare?runs=${state.baseline},${run.id}` : "#");
  }

  function draw() {
    const shown = results.filter((r) => (!state.failed || failed(r)) && (!state.changed || changedRows.has(r.row_index)));
    const rows = state.all ? shown : shown.slice(0, SHOWN);
    count.textContent = `${fmtInt(shown.length)} of ${fmtInt(results.length)} rows`;
    mount(tbody, rows.map((result) => {
      const was = before.get(pairKey(result, byInputs));
      const flips = new Map(verdictChanges(was, result).map((c) => [c.name, c.before ? "pass" : "fail"]));
      const row = h("tr", { class: `${failed(result) ? "failed" : ""}${flips.size ? " changed" : ""}`, dataset: { row: String(result.row_index) } },
        h("td", { class: "num muted" }, `${result.row_index + 1}${result.repeat ? `.${result.repeat}` : ""}`),
        h("td", { class: "ellipsis cell-text", title: inputsText(result.inputs) }, inputsText(result.inputs)),
        h("td", { class: "ellipsis cell-text", title: result.error || result.output || "" }, result.error ? h("span", { class: "fail" }, result.error) : result.output ?? ""),
        names.map((n) => scoreCell(result.scores?.[n], { was: flips.get(n) || null })),
        h("td", { class: "num muted" }, fmtMs(result.latency_ms)),
        h("td", { class: "nowrap" }, result.trace_id ? h("a", { href: `/traces/${result.trace_id}`, dataset: { trace: result.trace_id } }, "Trace →") : h("span", { class: "faint" }, "—")));
      row.addEventListener("click", (event) => {
        if (event.target.closest("a")) return;
        const open = row.nextSibling?.classList?.contains("detail-row");
        if (open) row.nextSibling.remove();
        else row.after(detailRow(result, was, names, span));
      });
      return row;
    }));
    mount(foot, shown.length > rows.length ? h("button", { type: "button", on: { click: () => { state.all = true; draw(); } } }, `Show all ${fmtInt(shown.length)} rows`) : null,
      !shown.length ? h("span", null, state.changed && !state.baseline ? "Choose a baseline run to see the rows whose verdict changed." : "No rows match these filters.") : null);
    nav.refresh();
  }

  async function loadBaseline() {
    before = new Map();
    changedRows = new Set();
    if (!state.baseline) return;
    const other = siblings.find((r) => r.id === state.baseline) || await api.get(`/api/runs/${encodeURIComponent(state.baseline)}`);
    const [comparison, theirs] = await Promise.all([api.get("/api/compare", { runs: `${other.id},${run.id}` }), loadResults(other.id)]);
    const found = comparison.comparisons[0];
    byInputs = found.paired_by === "inputs";
    theirs.forEach((r) => before.set(pairKey(r, byInputs), r));
    found.scorers.forEach((s) => s.changed_rows.forEach((i) => changedRows.add(i)));
  }

  failedBox.addEventListener("change", () => { state.failed = failedBox.checked; sync(); draw(); });
  changedBox.addEventListener("change", () => { state.changed = changedBox.checked; sync(); draw(); });
  baselinePick.addEventListener("change", async () => {
    state.baseline = baselinePick.value;
    sync();
    await loadBaseline();
    if (ctx.alive()) draw();
  });
  const nav = listNav({
    items: () => [...tbody.querySelectorAll("tr[data-row]")],
    onOpen: (row) => row.click(),
  });

  mount(root,
    h("div", { class: "trace-head" }, h("a", { href: "/evals", class: "muted" }, "Evals"), h("span", { class: "faint" }, "/"),
      h("a", { href: `/evals/experiments/${encodeURIComponent(run.experiment)}`, class: "muted" }, run.experiment), h("span", { class: "faint" }, "/"),
      h("h1", null, run.variant), h("span", { class: "mono muted" }, run.id), statusBadge(run.status),
      (run.tags || []).map((t) => h("span", { class: "badge" }, t))),
    h("div", { class: "stats" },
      stat("Rows", run.done >= run.total ? fmtInt(run.total) : `${fmtInt(run.done)} / ${fmtInt(run.total)}`),
      stat("Errors", m.errors === undefined ? "—" : fmtInt(m.errors)),
      stat("Model", p.model || "—"),
      p.prompt ? stat("Prompt", `${p.prompt}${p.prompt_version ? `/${p.prompt_version}` : ""}`) : null,
      stat("Dataset", `${p.dataset || "—"}${p.repeats > 1 ? ` × ${p.repeats}` : ""}`),
      stat("Latency p50 / p95", m.latency_ms ? `${fmtMs(m.latency_ms.p50)} / ${fmtMs(m.latency_ms.p95)}` : "—"),
      stat("Tokens", fmtInt(m.tokens?.total)),
      stat("Cost", fmtCost(m.cost_usd)),
      stat("Started", fmtFullTime(run.created_at)),
      stat("Took", took === null ? "—" : fmtMs(took))),
    run.notes ? h("div", { class: "muted notes" }, run.notes) : null,
    summaryTable(run, names),
    h("div", { class: "page-head toolbar" },
      h("h2", null, "Rows"),
      h("label", { class: "toggle" }, failedBox, "Failed only"),
      h("label", { class: "toggle" }, changedBox, "Changed only"),
      h("label", { class: "toggle" }, "vs", baselinePick),
      compareLink,
      h("span", { class: "spacer" }), count),
    table, foot);
  root.querySelector(".toolbar .spacer").style.flex = "1";
  try {
    await loadBaseline();
  } catch (error) {
    if (error.status === 401) throw error;
    state.baseline = "";
    baselinePick.value = "";
  }
  if (!ctx.alive()) return null;
  sync();
  draw();
  return null;
}
