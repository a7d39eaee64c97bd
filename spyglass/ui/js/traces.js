// Traces: a query bar (key:value filters and free text), facets, the table, cursor paging,
// and new traces arriving live. Every filter lives in the URL, so a view can be shared.

import { api } from "./api.js";
import { copyButton, h, mount } from "./dom.js";
import { fmtAgo, fmtCallsCost, fmtFullTime, fmtInt, fmtMs, fmtTime, fmtTokens } from "./format.js";
import { listNav } from "./keys.js";
import { scoreBadge } from "./annotate.js";
import { addManyToDataset } from "./datasets.js";

// The list API's filters the query bar accepts as key:value.
const KEYS = ["status", "model", "provider", "name", "session", "user", "key", "prompt", "service", "tag", "min_duration_ms", "min_cost", "attr", "score"];
// Filters that may repeat (all must hold): attr:key=value, score:helpful>=4.
const REPEATED = ["attr", "score"];
const RANGES = { "15m": 900, "1h": 3600, "24h": 86400, "7d": 604800, "30d": 2592000, all: null };
const FACETS = [["status", "Status"], ["score", "Scores"], ["model", "Model"], ["provider", "Provider"], ["prompt", "Prompt version"], ["session", "Session"], ["user", "User"]];
const POLL_MS = 4000;
const PAGE = 50;

/** The query bar's text as filters: `model:gpt-4o status:error "some words"`. */
export function parseQuery(text) {
  const filters = { attr: [], score: [] };
  const words = [];
  const tokens = text.match(/(?:[^\s"]+:)?"[^"]*"|\S+/g) || [];
  for (const token of tokens) {
    const match = token.match(/^([a-z_]+):(.*)$/);
    const value = (v) => v.replace(/^"(.*)"$/, "$1");
    if (match && KEYS.includes(match[1]) && match[2] !== "") {
      if (REPEATED.includes(match[1])) filters[match[1]].push(value(match[2]));
      else filters[match[1]] = value(match[2]);
    } else {
      words.push(value(token));
    }
  }
  if (words.length) filters.q = words.join(" ");
  return filters;
}

function quote(v) {
  return /\s/.test(v) ? `"${v}"` : v;
}

export function formatQuery(filters) {
  const parts = [];
  for (const key of KEYS) {
    if (REPEATED.includes(key)) (filters[key] || []).forEach((v) => parts.push(`${key}:${quote(v)}`));
    else if (filters[key]) parts.push(`${key}:${quote(filters[key])}`);
  }
  if (filters.q) parts.push(filters.q);
  return parts.join(" ");
}

const FACET_SHOWN = 6;

function fromUrl(query) {
  const filters = { attr: query.getAll("attr"), score: query.getAll("score") };
  for (const key of [...KEYS, "q"]) if (!REPEATED.includes(key) && query.get(key)) filters[key] = query.get(key);
  const custom = query.get("range") === "custom";
  return {
    filters,
    range: custom ? "custom" : RANGES[query.get("range")] !== undefined ? query.get("range") : "all",
    from: custom ? query.get("from") || "" : "",
    to: custom ? query.get("to") || "" : "",
    sort: query.get("sort") || "start",
  };
}

function listParams(state) {
  const params = { ...state.filters, sort: state.sort, limit: PAGE };
  const seconds = RANGES[state.range];
  if (seconds) params.start = new Date(Date.now() - seconds * 1000).toISOString();
  if (state.range === "custom") {  // datetime-local values: the viewer's time zone
    if (state.from) params.start = new Date(state.from).toISOString();
    if (state.to) params.end = new Date(state.to).toISOString();
  }
  return params;
}

function statusBadge(status) {
  return h("span", { class: `badge ${status === "error" ? "error" : "ok"}` }, status === "error" ? "error" : "ok");
}

function traceRow(trace) {
  const href = `/traces/${trace.trace_id}`;
  return h("tr", { dataset: { href } },
    h("td", { class: "nowrap mono", title: fmtFullTime(trace.start_time) }, fmtTime(trace.start_time)),
    h("td", { class: "name ellipsis" }, h("a", { href }, trace.name || "(unnamed)"),
      trace.prompt ? [" ", h("span", { class: "badge label", title: "prompt version" }, trace.prompt)] : null),
    h("td", null, statusBadge(trace.status)),
    h("td", { class: "num" }, fmtMs(trace.duration_ms)),
    h("td", { class: "num" }, fmtTokens(trace.input_tokens, trace.output_tokens)),
    h("td", { class: "num" }, fmtCallsCost(trace)),
    h("td", { class: "ellipsis" }, trace.model || h("span", { class: "faint" }, "—")),
    h("td", { class: "ellipsis mono" }, trace.session_id
      ? h("a", { href: `/sessions/${encodeURIComponent(trace.session_id)}` }, trace.session_id) : h("span", { class: "faint" }, "—")),
    h("td", { class: "ellipsis" }, trace.user_id || h("span", { class: "faint" }, "—")),
    h("td", { class: "ellipsis scores" }, (trace.scores || []).map(scoreBadge)),
    h("td", { class: "num faint" }, fmtInt(trace.span_count)));
}

/** The first-request guide: where to point an OpenAI client. */
export async function onboarding(title = "No traces yet") {
  let model = "gpt-4o-mini";
  try {
    const models = await api.get("/v1/models");
    if (models?.data?.length) model = models.data[0].id;
  } catch {
    // No models configured yet: the snippet keeps a placeholder name.
  }
  const base = location.origin;
  const curl = `curl ${base}/v1/chat/completions \\\n  -H "Content-Type: application/json" \\\n  -H "Authorization: Bearer $SPYGLASS_KEY" \\\n  -d '{"model": "${model}", "messages": [{"role": "user", "content": "Hello!"}]}'`;
  const python = `from openai import OpenAI\n\nclient = OpenAI(base_url="${base}/v1", api_key="sk-anything")\nreply = client.chat.completions.create(\n    model="${model}",\n    messages=[{"role": "user", "content": "Hello!"}],\n)\nprint(reply.choices[0].message.content)`;
  const otlp = `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=${base}/v1/traces`;
  return h("div", { class: "empty", dataset: { empty: "traces" } },
    h("h2", null, title),
    h("p", null, "Send a request through the gateway and its trace shows up here within seconds. With curl:"),
    h("div", { class: "snippet" }, copyButton(() => curl), h("pre", null, curl)),
    h("p", null, "Or point any OpenAI SDK at Spyglass:"),
    h("div", { class: "snippet" }, copyButton(() => python), h("pre", null, python)),
    h("p", null, "Already instrumented with OpenTelemetry? Export your spans here too:"),
    h("div", { class: "snippet" }, copyButton(() => otlp), h("pre", null, otlp)));
}

export async function render(root, ctx) {
  const state = fromUrl(ctx.query);
  let cursor = null;
  let newest = null;
  const seen = new Set();
  // Each load() starts a generation: an answer to an older one (the range changed while it was
  // in flight, or a poll or "Load more" for the old filters) is dropped, never appended.
  let generation = 0;
  const current = (started) => started === generation && ctx.alive();
  let timer = null;
  let live = true;

  const input = h("input", { type: "search", value: formatQuery(state.filters), placeholder: "model:gpt-4o status:error score:helpful>=4 attr:key=value  free text…", "aria-label": "Query", dataset: { search: "" }, spellcheck: false });
  const rangeSelect = h("select", { "aria-label": "Time range" }, [...Object.keys(RANGES).map((r) => h("option", { value: r, selected: r === state.range }, r === "all" ? "All time" : `Last ${r}`)),
    h("option", { value: "custom", selected: state.range === "custom" }, "Custom…")]);
  const fromInput = h("input", { type: "datetime-local", "aria-label": "From", value: state.from, hidden: state.range !== "custom" });
  const toInput = h("input", { type: "datetime-local", "aria-label": "To", value: state.to, hidden: state.range !== "custom" });
  const sorts = [["start", "Newest"], ["duration", "Slowest"], ["cost", "Costliest"]];
  if (state.sort.startsWith("score:")) sorts.push([state.sort, `Highest ${state.sort.slice(6)}`]);
  const sortSelect = h("select", { "aria-label": "Sort" }, sorts.map(([v, t]) => h("option", { value: v, selected: v === state.sort }, t)));
  const liveToggle = h("button", { type: "button", class: "ghost live on", title: "New traces appear as they arrive" }, h("span", { class: "pulse" }), "Live");
  const tbody = h("tbody");
  const widths = [150, null, 64, 80, 104, 76, 140, 120, 100, 150, 58];
  const table = h("table", { class: "grid fixed", dataset: { list: "traces" } },
    h("colgroup", null, widths.map((w) => { const col = h("col"); if (w) col.style.width = `${w}px`; return col; })),
    h("thead", null, h("tr", null, ["Time", "Name", "Status", "Duration", "Tokens", "Cost", "Model", "Session", "User", "Scores", "Spans"].map((c, i) =>
      h("th", { class: i >= 3 && i <= 5 || i === 10 ? "num" : null }, c)))), tbody);
  const foot = h("div", { class: "list-foot" });
  const facetBox = h("aside", { class: "facets", "aria-label": "Facets" });
  const chips = h("div", { class: "chips" });
  const content = h("div", { class: "traces-scroll" });

  function apply({ push = true } = {}) {
    const custom = state.range === "custom";
    const query = { ...state.filters, range: state.range === "all" ? null : state.range, from: custom && state.from ? state.from : null, to: custom && state.to ? state.to : null, sort: state.sort === "start" ? null : state.sort };
    fromInput.hidden = toInput.hidden = !custom;
    ctx.setQuery(query, { replace: !push });
    input.value = formatQuery(state.filters);
    load();
  }

  function setFilter(key, value) {
    if (REPEATED.includes(key)) {
      const list = state.filters[key] ||= [];
      const at = list.indexOf(value);
      if (at >= 0) list.splice(at, 1);
      else list.push(value);
    } else if (state.filters[key] === value) delete state.filters[key];
    else state.filters[key] = value;
    apply();
  }

  function renderChips() {
    const entries = [];
    for (const key of KEYS) {
      if (REPEATED.includes(key)) (state.filters[key] || []).forEach((v, i) => entries.push([`${key}:${v}`, () => { state.filters[key].splice(i, 1); apply(); }]));
      else if (state.filters[key]) entries.push([`${key}:${state.filters[key]}`, () => { delete state.filters[key]; apply(); }]);
    }
    if (state.filters.q) entries.push([`"${state.filters.q}"`, () => { delete state.filters.q; apply(); }]);
    mount(chips, entries.map(([text, remove]) => h("span", { class: "chip" }, text, h("button", { type: "button", title: "Remove filter", "aria-label": `Remove ${text}`, on: { click: remove } }, "×"))));
  }

  async function loadFacets() {
    const started = generation;
    try {
      const facets = await api.get("/api/ui/facets", { since_s: RANGES[state.range], top: 20 });
      if (!current(started)) return;
      // Each score the traces have is a sort too: highest first.
      for (const { value } of facets.score || []) {
        const key = `score:${value}`;
        if (![...sortSelect.options].some((o) => o.value === key)) sortSelect.appendChild(h("option", { value: key, selected: state.sort === key }, `Highest ${value}`));
      }
      mount(facetBox, FACETS.map(([key, title]) => {
        const values = facets[key] || [];
        const on = (value) => (REPEATED.includes(key) ? (state.filters[key] || []).includes(value) : state.filters[key] === value);
        const active = REPEATED.includes(key) ? null : state.filters[key];
        if (active && !values.some((v) => v.value === active)) values.unshift({ value: active, count: null });
        if (!values.length) return null;
        // Most frequent first (the server's order); past the first few, a "more" button.
        const items = values.map((v) => h("button", { type: "button", class: `facet-item${on(v.value) ? " on" : ""}`, title: String(v.value), on: { click: () => setFilter(key, v.value) } },
          key === "status" ? h("span", { class: `dot ${v.value}` }) : null,
          h("span", { class: "v" }, v.value), h("span", { class: "c" }, v.count === null ? "" : fmtInt(v.count))));
        const hidden = items.slice(FACET_SHOWN);
        hidden.forEach((item) => { item.hidden = true; });
        const more = hidden.length ? h("button", { type: "button", class: "ghost facet-more", on: { click: () => { hidden.forEach((item) => { item.hidden = false; }); more.remove(); } } }, `${hidden.length} more`) : null;
        return h("div", { class: "facet", dataset: { facet: key } }, h("h3", null, title), items, more);
      }));
    } catch {
      mount(facetBox);
    }
  }

  const nav = listNav({
    items: () => [...tbody.querySelectorAll("tr")],
    onOpen: (row) => ctx.navigate(row.dataset.href),
  });
  tbody.addEventListener("click", (event) => {
    if (event.target.closest("a")) return;
    const row = event.target.closest("tr");
    if (row) ctx.navigate(row.dataset.href);
  });

  function addRows(rows, { prepend = false } = {}) {
    const nodes = [];
    for (const trace of rows) {
      if (seen.has(trace.trace_id)) continue;
      seen.add(trace.trace_id);
      const row = traceRow(trace);
      if (prepend) row.classList.add("fresh");
      nodes.push(row);
      if (!newest || trace.start_time > newest) newest = trace.start_time;
    }
    if (prepend) tbody.prepend(...nodes);
    else tbody.append(...nodes);
    nav.refresh();
  }

  function renderFoot() {
    const more = cursor ? h("button", { type: "button", on: { click: loadMore } }, "Load more") : null;
    mount(foot, h("span", null, `${fmtInt(seen.size)} trace${seen.size === 1 ? "" : "s"}${cursor ? " shown" : ""}`), more,
      newest ? h("span", { class: "faint" }, `newest ${fmtAgo(newest)}`) : null);
  }

  async function load() {
    const started = ++generation;
    renderChips();
    loadFacets();
    seen.clear();
    newest = null;
    mount(tbody);
    mount(foot, h("span", { class: "faint" }, "Loading…"));
    try {
      const page = await api.get("/api/traces", listParams(state));
      if (!current(started)) return;
      cursor = page.next_cursor;
      const filtered = Object.keys(state.filters).some((k) => (REPEATED.includes(k) ? state.filters[k].length : state.filters[k])) || state.range !== "all";
      if (!page.data.length) {
        mount(content, filtered
          ? h("div", { class: "empty", dataset: { empty: "filtered" } }, h("h2", null, "No traces match"), h("p", null, "Nothing matches these filters in this time range."),
            h("button", { type: "button", on: { click: () => { state.filters = { attr: [], score: [] }; state.range = "all"; rangeSelect.value = "all"; apply(); } } }, "Clear filters"))
          : await onboarding());
        mount(foot);
        return;
      }
      mount(content, table);
      addRows(page.data);
      renderFoot();
    } catch (error) {
      if (!current(started)) return;
      mount(content, h("div", { class: "error-box", role: "alert" }, error.message));
      mount(foot);
    }
  }

  async function loadMore() {
    const started = generation;
    const page = await api.get("/api/traces", { ...listParams(state), cursor });
    if (!current(started)) return;
    cursor = page.next_cursor;
    addRows(page.data);
    renderFoot();
  }

  async function poll() {
    if (!live || document.hidden || state.sort !== "start" || !ctx.alive()) return;
    const started = generation;
    try {
      const page = await api.get("/api/traces", listParams(state));
      if (!current(started)) return;
      const fresh = page.data.filter((t) => !seen.has(t.trace_id) && (!newest || t.start_time >= newest));
      if (fresh.length) {
        if (!content.contains(table)) mount(content, table);
        addRows(fresh, { prepend: true });
        renderFoot();
      }
    } catch {
      // A missed poll is retried on the next tick.
    }
  }

  async function reviewThese() {
    const params = listParams(state);
    const filter = Object.fromEntries(Object.entries(params).filter(([k, v]) => !["limit", "sort"].includes(k) && v !== undefined && v !== "" && !(Array.isArray(v) && !v.length)));
    const text = formatQuery(state.filters);
    try {
      const queue = await api.post("/api/reviews", { name: text ? `Traces: ${text}` : `Traces of ${new Date().toLocaleString()}`, filter, limit: 500 });
      ctx.navigate(`/reviews/${queue.id}`);
    } catch (error) {
      mount(foot, h("span", { class: "section-err", role: "alert" }, error.message));
    }
  }

  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      state.filters = parseQuery(input.value);
      apply();
      input.blur();
    }
  });
  rangeSelect.addEventListener("change", () => { state.range = rangeSelect.value; apply(); });
  fromInput.addEventListener("change", () => { state.from = fromInput.value; apply(); });
  toInput.addEventListener("change", () => { state.to = toInput.value; apply(); });
  sortSelect.addEventListener("change", () => { state.sort = sortSelect.value; apply(); });
  liveToggle.addEventListener("click", () => { live = !live; liveToggle.classList.toggle("on", live); });

  mount(root,
    h("div", { class: "page-head" }, h("h1", null, "Traces"),
      h("div", { class: "querybar" }, input, rangeSelect, fromInput, toInput, sortSelect,
        h("button", { type: "button", class: "primary", on: { click: () => { state.filters = parseQuery(input.value); apply(); } } }, "Search"),
        h("button", { type: "button", dataset: { reviewThese: "" }, title: "A review queue of the traces these filters find (up to 500)", on: { click: reviewThese } }, "Review these"),
        h("button", { type: "button", dataset: { addThese: "" }, title: "The traces shown, as rows of a dataset", on: { click: () => seen.size && addManyToDataset({ traceIds: [...seen] }) } }, "Add shown to dataset")),
      liveToggle),
    h("div", { class: "traces-layout" }, facetBox, h("div", null, chips, content, foot)));
  chips.style.marginBottom = "8px";
  await load();
  timer = setInterval(poll, POLL_MS);
  return () => clearInterval(timer);
}
