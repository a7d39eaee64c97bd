// Several eval runs compared: a heat map of scorers × runs (mean, 95% CI, pass rate, the best
// in each row marked, each later run's difference from the baseline with its paired test),
// then the rows side by side (outputs and scores), with verdict changes highlighted.

import { api } from "./api.js";
import { h, mount } from "./dom.js";
import { fmtCost, fmtInt, fmtMs, fmtPct } from "./format.js";
import {
  failed, fmtDelta, fmtP, fmtScore, inputsText, loadResults, pairKey, runLabel, scorerNames,
  statusBadge, valueText, verdict, verdictChanges,
} from "./evalparts.js";

const SHOWN = 200;

/** 0 (worst) to 1 (best) within a row of values, honouring which way is better. */
function ranks(values, lowerIsBetter) {
  const known = values.filter((v) => typeof v === "number");
  const lo = Math.min(...known);
  const hi = Math.max(...known);
  return values.map((v) => {
    if (typeof v !== "number") return null;
    if (hi === lo) return 1;
    const r = (v - lo) / (hi - lo);
    return lowerIsBetter ? 1 - r : r;
  });
}

function heatCell(rank, best, children, data) {
  const cell = h("td", { class: `cell${best ? " best" : ""}`, dataset: data }, children);
  // A tint from the row's worst (none) to its best (strong); set through the CSSOM, which the
  // CSP allows (no style markup).
  if (rank !== null) cell.style.setProperty("--heat", `${Math.round(8 + rank * 42)}%`);
  else cell.classList.add("none");
  return cell;
}

function heatMap(runs, comparisons, names) {
  const byAfter = new Map(comparisons.map((c) => [c.after, new Map(c.scorers.map((s) => [s.scorer, s]))]));
  const scorerRows = names.map((name) => {
    const metrics = runs.map((r) => r.metrics?.scores?.[name]);
    // A scorer judged by its verdicts (a length within bounds) ranks by pass rate, not value.
    const byVerdict = metrics.find(Boolean)?.judged_by === "verdict";
    const lower = !byVerdict && metrics.find(Boolean)?.direction === "lower";
    const figure = byVerdict ? "pass_rate" : "mean";
    const means = metrics.map((x) => (typeof x?.[figure] === "number" ? x[figure] : null));
    const rank = ranks(means, lower);
    const top = runs.length > 1 && new Set(means.filter((x) => x !== null)).size > 1 ? Math.max(...rank.filter((x) => x !== null)) : null;
    return h("tr", { dataset: { scorer: name } },
      h("th", { scope: "row" }, name, lower ? h("span", { class: "faint", title: "lower is better" }, " ↓") : null),
      runs.map((run, i) => {
        const x = metrics[i];
        if (!x) return heatCell(null, false, h("span", { class: "faint" }, "—"));
        const cmp = byAfter.get(run.id)?.get(name);
        const best = top !== null && rank[i] === top;
        return heatCell(rank[i], best, [
          h("span", { class: "mean" }, fmtScore(x.mean)),
          h("span", { class: "ci" }, x.ci ? `${fmtScore(x.ci[0])} – ${fmtScore(x.ci[1])}` : "no interval"),
          x.pass_rate !== null && x.pass_rate !== undefined ? h("span", { class: "ci" }, `${fmtPct(x.pass_rate)} pass (${fmtInt(x.passed)}/${fmtInt(x.n)})`) : null,
          cmp ? h("span", { class: `delta${cmp.significant ? (cmp.regression ? " worse" : " better") : ""}`, title: `${cmp.test}, n=${cmp.n}` },
            `${fmtDelta(cmp.difference)} ${fmtP(cmp.p_value)}${cmp.significant ? (cmp.regression ? " ▼" : " ▲") : ""}`) : null,
        ], best ? { best: "1", run: run.id } : { run: run.id });
      }));
  });
  const extra = [
    ["latency p50", (r) => r.metrics?.latency_ms?.p50, fmtMs, true],
    ["tokens", (r) => r.metrics?.tokens?.total, fmtInt, true],
    ["cost", (r) => r.metrics?.cost_usd, fmtCost, true],
    ["errors", (r) => r.metrics?.errors, fmtInt, true],
  ].map(([label, get, fmt, lower]) => {
    const values = runs.map((r) => (typeof get(r) === "number" ? get(r) : null));
    const rank = ranks(values, lower);
    const distinct = new Set(values.filter((x) => x !== null)).size > 1;
    return h("tr", { class: "metric" }, h("th", { scope: "row" }, label),
      values.map((v, i) => heatCell(distinct ? rank[i] : null, distinct && rank[i] === 1, h("span", { class: "mean small" }, fmt(v)))));
  });
  return h("table", { class: "heat", dataset: { heatmap: "" } },
    h("thead", null, h("tr", null, h("th", null, ""), runs.map((run, i) => h("th", { class: "run-head" },
      h("a", { href: `/evals/runs/${run.id}` }, run.variant), h("span", { class: "mono faint" }, run.id.slice(0, 8)),
      i === 0 ? h("span", { class: "badge label" }, "baseline") : null)))),
    h("tbody", null, scorerRows, extra));
}

function scoreLine(result, names, flips) {
  return h("div", { class: "score-line" }, names.map((name) => {
    const score = result.scores?.[name];
    if (!score) return null;
    const v = verdict(score);
    const binary = typeof score.passed === "boolean" && (score.value === 0 || score.value === 1);
    const text = v === "error" ? "error" : binary ? (score.passed ? "✓" : "✗") : `${fmtScore(score.value)}${v === "pass" ? " ✓" : v === "fail" ? " ✗" : ""}`;
    return h("span", { class: `sc ${v || ""}${flips.has(name) ? " flipped" : ""}`, title: score.error || score.explanation || null }, h("span", { class: "sn" }, name), text);
  }));
}

export async function render(root, ctx) {
  const ids = (ctx.query.get("runs") || "").split(",").map((x) => x.trim()).filter(Boolean);
  if (ids.length < 2) {
    mount(root, h("div", { class: "empty" }, h("h2", null, "Pick runs to compare"),
      h("p", null, "Open an experiment, select two or more runs and press Compare; the oldest selected run is the baseline."), h("a", { href: "/evals" }, "All experiments")));
    return null;
  }
  let found;
  try {
    found = await api.get("/api/compare", { runs: ids.join(",") });
  } catch (error) {
    if (error.status === 401) throw error;
    mount(root, h("div", { class: "empty" }, h("h2", null, "Could not compare these runs"), h("p", null, error.message), h("a", { href: "/evals" }, "All experiments")));
    return null;
  }
  const runs = found.runs;
  const results = await Promise.all(runs.map((r) => loadResults(r.id)));
  if (!ctx.alive()) return null;
  const names = scorerNames(runs);
  const base = runs[0];
  const state = { changed: ctx.query.get("changed") === "1", failed: ctx.query.get("failed") === "1", all: false };

  // Rows in the baseline's order (then rows only later runs have), each run's result beside it.
  const maps = runs.map((run, i) => {
    const byInputs = run.dataset_hash !== base.dataset_hash;
    return { byInputs, map: new Map(results[i].map((r) => [pairKey(r, byInputs), r])) };
  });
  const lines = [...results[0]];
  for (let i = 1; i < runs.length; i++) {
    const inBase = new Set(results[0].map((r) => pairKey(r, maps[i].byInputs)));
    lines.push(...results[i].filter((r) => !inBase.has(pairKey(r, maps[i].byInputs))));
  }
  const rowsOf = (anchor) => runs.map((run, i) => maps[i].map.get(pairKey(anchor, maps[i].byInputs)) || null);
  const table = lines.map((anchor) => {
    const row = rowsOf(anchor);
    const flips = row.map((r, i) => (i === 0 || !r ? new Map() : new Map(verdictChanges(row[0], r).map((c) => [c.name, c]))));
    return { anchor, row, flips, changed: flips.some((f) => f.size), failed: row.some((r) => r && failed(r)) };
  });
  const changedCount = table.filter((t) => t.changed).length;

  const tbody = h("tbody");
  const count = h("span", { class: "muted" });
  const foot = h("div", { class: "list-foot" });
  const changedBox = h("input", { type: "checkbox", checked: state.changed, dataset: { filter: "changed" } });
  const failedBox = h("input", { type: "checkbox", checked: state.failed, dataset: { filter: "failed" } });
  const sync = () => ctx.setQuery({ runs: ids.join(","), changed: state.changed ? "1" : "", failed: state.failed ? "1" : "" });

  function draw() {
    const shown = table.filter((t) => (!state.changed || t.changed) && (!state.failed || t.failed));
    const rows = state.all ? shown : shown.slice(0, SHOWN);
    count.textContent = `${fmtInt(shown.length)} of ${fmtInt(table.length)} rows · ${fmtInt(changedCount)} with a changed verdict`;
    mount(tbody, rows.map((t) => h("tr", { class: t.changed ? "changed" : null, dataset: { row: String(t.anchor.row_index) } },
      h("td", { class: "num muted" }, String(t.anchor.row_index + 1)),
      h("td", { class: "side-inputs" }, h("div", { class: "clamp" }, inputsText(t.anchor.inputs)),
        t.anchor.expected !== null && t.anchor.expected !== undefined && t.anchor.inputs?.expected !== t.anchor.expected ? h("div", { class: "expected" }, h("span", { class: "faint" }, "expected "), valueText(t.anchor.expected)) : null),
      t.row.map((r, i) => {
        if (!r) return h("td", { class: "faint" }, "not in this run");
        const flips = t.flips[i];
        const regressed = [...flips.values()].some((c) => c.before && !c.after);
        const fixed = [...flips.values()].some((c) => !c.before && c.after);
        return h("td", { class: `side${flips.size ? " flipped-cell" : ""}`, dataset: { run: runs[i].id } },
          flips.size ? h("div", { class: "flip-badges" }, regressed ? h("span", { class: "badge error" }, "regressed") : null, fixed ? h("span", { class: "badge ok" }, "fixed") : null) : null,
          r.error ? h("div", { class: "section-err clamp" }, r.error) : h("div", { class: "clamp out", title: r.output ?? "" }, r.output ?? ""),
          h("div", { class: "side-foot" }, scoreLine(r, names, flips), r.trace_id ? h("a", { href: `/traces/${r.trace_id}`, class: "trace-link", dataset: { trace: r.trace_id } }, "trace →") : null));
      }))));
    mount(foot, shown.length > rows.length ? h("button", { type: "button", on: { click: () => { state.all = true; draw(); } } }, `Show all ${fmtInt(shown.length)} rows`) : null,
      !shown.length ? h("span", null, "No rows match these filters.") : null);
  }
  changedBox.addEventListener("change", () => { state.changed = changedBox.checked; sync(); draw(); });
  failedBox.addEventListener("change", () => { state.failed = failedBox.checked; sync(); draw(); });

  const experiments = [...new Set(runs.map((r) => r.experiment))];
  mount(root,
    h("div", { class: "trace-head" }, h("a", { href: "/evals", class: "muted" }, "Evals"), h("span", { class: "faint" }, "/"),
      experiments.length === 1 ? [h("a", { href: `/evals/experiments/${encodeURIComponent(experiments[0])}`, class: "muted" }, experiments[0]), h("span", { class: "faint" }, "/")] : null,
      h("h1", null, `Compare ${runs.length} runs`),
      runs.map((r) => h("span", { class: "chip" }, runLabel(r))), runs.some((r) => r.status !== "finished") ? runs.filter((r) => r.status !== "finished").map((r) => statusBadge(r.status)) : null),
    h("div", { class: "muted explain" }, `Each cell: mean, 95% CI, pass rate; the best run per row is outlined. Later runs show their difference from the baseline (${runLabel(base)}) with a paired test (McNemar for pass/fail, Wilcoxon otherwise); ▲▼ mark p < 0.05.`),
    h("div", { class: "heat-wrap" }, heatMap(runs, found.comparisons, names)),
    h("div", { class: "page-head toolbar" }, h("h2", null, "Rows side by side"),
      h("label", { class: "toggle" }, changedBox, "Changed only"),
      h("label", { class: "toggle" }, failedBox, "Failed only"),
      h("span", { class: "spacer" }), count),
    h("div", { class: "table-scroll" }, h("table", { class: "grid side-by-side fixed-cols", dataset: { list: "side-by-side" } },
      h("colgroup", null, h("col", { class: "c-num" }), h("col", { class: "c-inputs" }), runs.map(() => h("col"))),
      h("thead", null, h("tr", null, h("th", { class: "num" }, "#"), h("th", null, "Inputs"), runs.map((r, i) => h("th", null, r.variant, " ", h("span", { class: "mono faint" }, r.id.slice(0, 8)), i === 0 ? h("span", { class: "faint" }, " · baseline") : null)))),
      tbody)),
    foot);
  root.querySelector(".toolbar .spacer").style.flex = "1";
  draw();
  return null;
}
