// Evals: experiments and their runs. A run's rows are in evalrun.js, comparisons of several
// runs in evalcompare.js. Routes: /evals, /evals/experiments/{name}, /evals/runs/{id},
// /evals/compare?runs=A,B[,C...] (the first run is the baseline).

import { api } from "./api.js";
import { h, mount } from "./dom.js";
import { fmtAgo, fmtCost, fmtFullTime, fmtInt, fmtMs, fmtTime } from "./format.js";
import { listNav } from "./keys.js";
import { evalsGuide, runLabel, scorerNames, statusBadge, summaryText } from "./evalparts.js";
import * as evalrun from "./evalrun.js";
import * as evalcompare from "./evalcompare.js";

const MAX_SCORER_COLUMNS = 6;

function rowsLink(tbody, ctx) {
  tbody.addEventListener("click", (event) => {
    const row = event.target.closest("tr[data-href]");
    if (row && !event.target.closest("a, input, button, label")) ctx.navigate(row.dataset.href);
  });
  return listNav({ items: () => [...tbody.querySelectorAll("tr[data-href]")], onOpen: (row) => ctx.navigate(row.dataset.href) });
}

function scoreSummary(run, names) {
  return names.map((name) => {
    const text = summaryText(run.metrics?.scores?.[name]);
    return h("td", { class: "num", title: text.ci ? `95% CI ${text.ci}` : null }, text.mean, text.pass ? h("span", { class: "sub" }, text.pass) : null);
  });
}

function progress(run) {
  return run.done >= run.total ? fmtInt(run.total) : `${fmtInt(run.done)} / ${fmtInt(run.total)}`;
}

async function experimentsPage(root, ctx) {
  const content = h("div", null, h("div", { class: "muted" }, "Loading…"));
  mount(root, h("div", { class: "page-head" }, h("h1", null, "Evals"), h("span", { class: "muted" }, "Experiments: each eval file's runs, scored and tracked")), content);
  let experiments;
  try {
    experiments = (await api.get("/api/experiments")).experiments;
  } catch (error) {
    if (error.status === 401) throw error;
    mount(content, evalsGuide(error.status === 404 ? "This server does not serve the eval runs API (/api/experiments) yet." : `Could not load experiments: ${error.message}`));
    return null;
  }
  if (!ctx.alive()) return null;
  if (!experiments.length) {
    mount(content, evalsGuide());
    return null;
  }
  const runs = (await api.get("/api/runs", { limit: 25 })).runs;
  if (!ctx.alive()) return null;
  const tbody = h("tbody", null, experiments.map((x) => {
    const href = `/evals/experiments/${encodeURIComponent(x.name)}`;
    return h("tr", { dataset: { href } }, h("td", { class: "name" }, h("a", { href }, x.name)),
      h("td", { class: "ellipsis muted wide" }, x.description || ""),
      h("td", { class: "num" }, fmtInt(x.runs)),
      h("td", { class: "nowrap muted", title: x.last_run_at ? fmtFullTime(x.last_run_at) : null }, x.last_run_at ? fmtAgo(x.last_run_at) : "never"));
  }));
  const recent = h("tbody", null, runs.map((run) => {
    const href = `/evals/runs/${run.id}`;
    const names = scorerNames([run]).slice(0, 3);
    return h("tr", { dataset: { href } },
      h("td", { class: "nowrap", title: fmtFullTime(run.created_at) }, fmtTime(run.created_at)),
      h("td", null, h("a", { href: `/evals/experiments/${encodeURIComponent(run.experiment)}` }, run.experiment)),
      h("td", { class: "name" }, h("a", { href }, run.variant)),
      h("td", { class: "mono muted" }, run.id),
      h("td", null, statusBadge(run.status)),
      h("td", { class: "num" }, progress(run)),
      h("td", { class: "ellipsis" }, names.map((name) => h("span", { class: "kvp" }, h("span", { class: "muted" }, name), " ", summaryText(run.metrics?.scores?.[name]).mean))),
      h("td", { class: "num" }, run.metrics ? fmtInt(run.metrics.errors) : "—"),
      h("td", { class: "num" }, fmtCost(run.metrics?.cost_usd)));
  }));
  mount(content,
    h("table", { class: "grid", dataset: { list: "experiments" } }, h("thead", null, h("tr", null,
      h("th", null, "Experiment"), h("th", null, "Description"), h("th", { class: "num" }, "Runs"), h("th", null, "Last run"))), tbody),
    h("h3", { class: "section-title" }, "Recent runs"),
    h("table", { class: "grid", dataset: { list: "recent-runs" } }, h("thead", null, h("tr", null,
      ["Started", "Experiment", "Variant", "Run", "Status", "Rows", "Scores", "Errors", "Cost"].map((c, i) => h("th", { class: [5, 7, 8].includes(i) ? "num" : null }, c)))), recent));
  rowsLink(tbody, ctx);
  recent.addEventListener("click", (event) => {
    const row = event.target.closest("tr[data-href]");
    if (row && !event.target.closest("a")) ctx.navigate(row.dataset.href);
  });
  return null;
}

async function experimentPage(root, ctx, name) {
  const runs = (await api.get("/api/runs", { experiment: name, limit: 200 })).runs;
  if (!ctx.alive()) return null;
  const head = h("div", { class: "trace-head" }, h("a", { href: "/evals", class: "muted" }, "Evals"), h("span", { class: "faint" }, "/"), h("h1", null, name),
    h("span", { class: "muted" }, `${fmtInt(runs.length)} run${runs.length === 1 ? "" : "s"}`));
  if (!runs.length) {
    mount(root, head, h("div", { class: "empty" }, h("h2", null, "No runs of this experiment"), h("a", { href: "/evals" }, "All experiments")));
    return null;
  }
  const names = scorerNames(runs).slice(0, MAX_SCORER_COLUMNS);
  // The newest invocation's variants start selected: comparing them is the usual next step.
  const selected = new Set(runs.filter((r) => r.invocation === runs[0].invocation).map((r) => r.id));
  const compare = h("button", { type: "button", class: "primary", dataset: { compare: "" } });
  const sync = () => {
    compare.textContent = `Compare ${selected.size} runs`;
    compare.disabled = selected.size < 2;
  };
  compare.addEventListener("click", () => {
    // Oldest first: the baseline is the run the others are measured against.
    const ids = runs.filter((r) => selected.has(r.id)).reverse().map((r) => r.id);
    ctx.navigate(`/evals/compare?runs=${ids.join(",")}`);
  });
  let lastInvocation = null;
  const tbody = h("tbody", null, runs.map((run) => {
    const href = `/evals/runs/${run.id}`;
    const box = h("input", { type: "checkbox", checked: selected.has(run.id), "aria-label": `Select ${runLabel(run)}` });
    box.addEventListener("change", () => { if (box.checked) selected.add(run.id); else selected.delete(run.id); sync(); });
    const first = run.invocation !== lastInvocation;
    lastInvocation = run.invocation;
    const latency = run.metrics?.latency_ms?.p50;
    return h("tr", { dataset: { href, run: run.id }, class: first ? "group-start" : null },
      h("td", { class: "check" }, box),
      h("td", { class: "nowrap", title: fmtFullTime(run.created_at) }, first ? fmtTime(run.created_at) : ""),
      h("td", { class: "name" }, h("a", { href }, run.variant)),
      h("td", { class: "mono muted" }, run.id),
      h("td", null, statusBadge(run.status)),
      h("td", { class: "ellipsis muted" }, [run.params?.model, run.params?.prompt ? `${run.params.prompt}${run.params.prompt_version ? `/${run.params.prompt_version}` : ""}` : null].filter(Boolean).join(" · ")),
      h("td", { class: "num" }, progress(run)),
      scoreSummary(run, names),
      h("td", { class: "num" }, latency === undefined ? "—" : fmtMs(latency)),
      h("td", { class: "num" }, run.metrics ? fmtInt(run.metrics.errors) : "—"),
      h("td", { class: "num" }, fmtCost(run.metrics?.cost_usd)),
      h("td", null, h("span", { class: "chips" }, (run.tags || []).map((t) => h("span", { class: "badge" }, t)))));
  }));
  sync();
  mount(root, head,
    h("div", { class: "page-head" }, h("span", { class: "muted" }, "Select runs to compare; the oldest selected is the baseline."), h("span", { class: "spacer" }), compare),
    h("div", { class: "table-scroll" }, h("table", { class: "grid runs", dataset: { list: "runs" } }, h("thead", null, h("tr", null,
      h("th", null, ""), h("th", null, "Started"), h("th", null, "Variant"), h("th", null, "Run"), h("th", null, "Status"), h("th", null, "Model · prompt"),
      h("th", { class: "num" }, "Rows"), names.map((n) => h("th", { class: "num scorer-head", title: n }, n)),
      h("th", { class: "num" }, "p50"), h("th", { class: "num" }, "Errors"), h("th", { class: "num" }, "Cost"), h("th", null, "Tags"))), tbody)));
  root.querySelector(".page-head .spacer").style.flex = "1";
  rowsLink(tbody, ctx);
  return null;
}

export async function renderList(root, ctx) {
  return experimentsPage(root, ctx);
}

export async function renderOne(root, ctx) {
  const rest = ctx.params[0].replace(/\/+$/, "");
  const parts = rest.split("/");
  if (parts[0] === "runs" && parts.length === 2) return evalrun.render(root, ctx, parts[1]);
  if (parts[0] === "compare" && parts.length === 1) return evalcompare.render(root, ctx);
  if (parts[0] === "experiments" && parts.length >= 2) return experimentPage(root, ctx, parts.slice(1).join("/"));
  mount(root, h("div", { class: "empty" }, h("h2", null, "Nothing here"), h("a", { href: "/evals" }, "All experiments")));
  return null;
}
