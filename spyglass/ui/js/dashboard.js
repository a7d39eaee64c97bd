// Dashboard: the gateway's LLM calls over a chosen range, by model, provider or key.

import { api } from "./api.js";
import { h, mount } from "./dom.js";
import { chart, PALETTE } from "./charts.js";
import { fmtCompact, fmtCost, fmtInt, fmtMs, fmtPct } from "./format.js";
import { onboarding } from "./traces.js";

const RANGES = { "1h": 3600, "6h": 21600, "24h": 86400, "7d": 604800, "30d": 2592000 };

export async function render(root, ctx) {
  // Without a range in the address, the range is picked from the data (see below).
  const chosen = RANGES[ctx.query.get("range")] ? ctx.query.get("range") : null;
  let range = chosen || "24h";
  const group = ["model", "provider", "key"].includes(ctx.query.get("group")) ? ctx.query.get("group") : "none";
  const rangeSelect = h("select", { "aria-label": "Time range" }, Object.keys(RANGES).map((r) => h("option", { value: r, selected: r === range }, `Last ${r}`)));
  const groupSelect = h("select", { "aria-label": "Break down by" }, [["none", "All traffic"], ["model", "By model"], ["provider", "By provider"], ["key", "By key"]]
    .map(([v, t]) => h("option", { value: v, selected: v === group }, t)));
  const source = ["gateway", "app"].includes(ctx.query.get("source")) ? ctx.query.get("source") : "all";
  const sourceSelect = h("select", { "aria-label": "Calls", title: "Each call counts once: an app's span around a gateway call is the same call" },
    [["all", "All calls"], ["gateway", "Through the gateway"], ["app", "From apps only (OTLP)"]].map(([v, t]) => h("option", { value: v, selected: v === source }, t)));
  const scoresBy = ctx.query.get("scores_by") ? `&scores_by=${encodeURIComponent(ctx.query.get("scores_by"))}` : "";
  const change = () => ctx.navigate(`/dashboard?range=${rangeSelect.value}&group=${groupSelect.value}&source=${sourceSelect.value}${scoresBy}`, { replace: true });
  for (const select of [rangeSelect, groupSelect, sourceSelect]) select.addEventListener("change", change);
  const body = h("div", null, h("div", { class: "muted" }, "Loading…"));
  mount(root, h("div", { class: "page-head" }, h("h1", null, "Dashboard"), h("span", { class: "muted" }, "LLM calls through the gateway and from your instrumented apps"),
    h("span", { class: "spacer" }), sourceSelect, groupSelect, rangeSelect), body);

  const end = Date.now();
  const fetchRange = (name) => {
    const seconds = RANGES[name];
    const bucket = Math.max(60, Math.round(seconds / 48));
    return api.get("/api/stats", { start: new Date(end - seconds * 1000).toISOString(), end: new Date(end).toISOString(), bucket, group_by: group, source });
  };
  let stats = await fetchRange(range);
  if (!chosen) {
    // The shortest range holding the last 24 hours' data (an hour of new data is not two bars
    // of a day), or a longer one when the last day was quiet.
    const names = Object.keys(RANGES);
    if (stats.data.length) {
      const age = (end * 1e6 - Math.min(...stats.data.map((r) => r.bucket_start_ns))) / 1e9;
      const fit = names.find((n) => RANGES[n] >= age * 1.1) || "24h";
      if (RANGES[fit] < RANGES[range]) { range = fit; stats = await fetchRange(range); }
    } else {
      for (const name of ["7d", "30d"]) {
        const wider = await fetchRange(name);
        if (wider.data.length) { range = name; stats = wider; break; }
      }
    }
    rangeSelect.value = range;
  }
  if (!ctx.alive()) return null;
  if (!stats.data.length) {
    const hasAny = (await api.get("/api/traces", { limit: 1 })).data.length > 0;
    mount(body, hasAny
      ? h("div", { class: "empty", dataset: { empty: "dashboard" } }, h("h2", null, "No LLM calls in this range"), h("p", null, "Choose a longer range, or send some requests."))
      : await onboarding("No LLM calls yet"));
    return null;
  }
  // Every bucket of the range, so quiet periods show as gaps rather than being skipped.
  const startNs = stats.start_ns;
  const step = stats.bucket_seconds * 1e9;
  const first = Math.floor(startNs / step) * step;
  const times = [];
  for (let t = first; t < stats.end_ns; t += step) times.push(t / 1e6);
  const slot = (ns) => Math.round((Math.floor(ns / step) * step - first) / step);
  const groups = [...new Set(stats.data.map((r) => r.group ?? "all"))].slice(0, PALETTE.length);
  const series = (field, { blank = 0 } = {}) => groups.map((g, k) => {
    const values = times.map(() => blank);
    for (const r of stats.data) if ((r.group ?? "all") === g && r[field] !== null && r[field] !== undefined) values[slot(r.bucket_start_ns)] = r[field];
    return { name: group === "none" ? field.replace(/_/g, " ") : String(g), values, color: PALETTE[k] };
  });
  const sum = (field) => stats.data.reduce((t, r) => t + (r[field] || 0), 0);
  const requests = sum("requests");
  const errors = sum("errors");
  const p95 = Math.max(...stats.data.map((r) => r.latency_p95_ms || 0));
  const p50 = requests ? stats.data.reduce((t, r) => t + (r.latency_p50_ms || 0) * r.requests, 0) / requests : null;
  // Calls with no known price are not $0: all unknown, or a lower bound when only some are.
  const unpriced = sum("unpriced");
  const costShown = unpriced >= requests ? "unknown" : `${unpriced ? "≥ " : ""}${fmtCost(sum("cost"))}`;
  const kpi = (k, v, title) => h("div", { class: "card kpi", title }, h("div", { class: "k" }, k), h("div", { class: "v" }, v));
  const named = (list, name) => list.map((se) => ({ ...se, name: group === "none" ? name : se.name }));
  let latency;
  if (group === "none") {
    const [p50s] = series("latency_p50_ms", { blank: null });
    const [p95s] = series("latency_p95_ms", { blank: null });
    latency = [{ ...p50s, name: "p50" }, { ...p95s, name: "p95", color: PALETTE[2] }];
  } else {
    latency = series("latency_p95_ms", { blank: null });
  }
  let tokens;
  if (group === "none") {
    const [input] = series("input_tokens");
    const [output] = series("output_tokens");
    tokens = [{ ...input, name: "input" }, { ...output, name: "output", color: PALETTE[1] }];
  } else {
    tokens = groups.map((g, k) => {
      const [input, output] = [series("input_tokens")[k], series("output_tokens")[k]];
      return { ...input, values: input.values.map((v, t) => v + output.values[t]) };
    });
  }
  mount(body,
    h("div", { class: "kpis" }, kpi("Requests", fmtInt(requests)), kpi("Error rate", fmtPct(requests ? errors / requests : 0), `${fmtInt(errors)} errors`),
      kpi("Latency p50", fmtMs(p50), "request-weighted mean of the buckets' medians"), kpi("Latency p95", fmtMs(p95), "the slowest bucket's p95"),
      kpi("Tokens", fmtCompact(sum("input_tokens") + sum("output_tokens")), `${fmtInt(sum("input_tokens"))} in, ${fmtInt(sum("output_tokens"))} out`), kpi("Cost", costShown, unpriced ? `${fmtInt(unpriced)} of ${fmtInt(requests)} calls have no known price` : undefined)),
    h("div", { class: "charts" },
      chart({ title: "Requests", times, series: named(series("requests"), "requests"), kind: "bar", format: fmtCompact }),
      chart({ title: "Error rate", times, series: named(series("error_rate", { blank: null }), "error rate"), format: fmtPct }),
      chart({ title: group === "none" ? "Latency" : "Latency p95", times, series: latency, format: fmtMs }),
      chart({ title: "Time to first token (p50)", times, series: named(series("ttft_p50_ms", { blank: null }), "TTFT p50"), format: fmtMs }),
      chart({ title: "Tokens", times, series: tokens, kind: "bar", format: fmtCompact }),
      chart({ title: "Cost", times, series: named(series("cost"), "cost"), kind: "bar", format: fmtCost })),
    await scoreCharts(ctx, stats, times, slot));
  return null;
}

/** Each score's mean over the range, overall or per prompt version or model. */
async function scoreCharts(ctx, stats, times, slot) {
  const by = ["prompt", "model"].includes(ctx.query.get("scores_by")) ? ctx.query.get("scores_by") : "none";
  let trend;
  try {
    trend = await api.get("/api/scores/trend", { start: new Date(stats.start_ns / 1e6).toISOString(), end: new Date(stats.end_ns / 1e6).toISOString(), bucket: stats.bucket_seconds, group_by: by });
  } catch {
    return null; // the usage charts stand without them
  }
  const select = h("select", { "aria-label": "Scores by" }, [["none", "All traces"], ["prompt", "By prompt version"], ["model", "By model"]]
    .map(([v, t]) => h("option", { value: v, selected: v === by }, t)));
  select.addEventListener("change", () => {
    const url = new URL(location.href);
    url.searchParams.set("scores_by", select.value);
    ctx.navigate(url.pathname + url.search, { replace: true });
  });
  const names = [...new Set(trend.data.map((r) => r.name))];
  const head = h("div", { class: "page-head" }, h("h2", null, "Scores"), h("span", { class: "muted" }, "each score's mean, by the time of its trace"), h("span", { class: "spacer" }), select);
  if (!names.length) return h("div", { dataset: { scoreTrends: "" } }, head, h("p", { class: "faint" }, "No scores in this range."));
  const charts = names.map((name) => {
    const rows = trend.data.filter((r) => r.name === name);
    const groups = [...new Set(rows.map((r) => r.group ?? "all"))].slice(0, PALETTE.length);
    const series = groups.map((g, k) => {
      const values = times.map(() => null);
      for (const r of rows) if ((r.group ?? "all") === g) values[slot(r.bucket_start_ns)] = r.mean;
      return { name: by === "none" ? `${name} mean` : String(g), values, color: PALETTE[k] };
    });
    const count = rows.reduce((t, r) => t + r.count, 0);
    return h("div", { dataset: { scoreTrend: name } }, chart({ title: `${name} (${fmtInt(count)} scores)`, times, series, format: (v) => (Math.abs(v) < 10 ? v.toFixed(2) : fmtCompact(v)), stacked: false }));
  });
  return h("div", { dataset: { scoreTrends: "" } }, head, h("div", { class: "charts" }, charts));
}
