// Trace detail: the span tree beside its waterfall, virtualised (only the rows in view exist
// in the DOM, so a 50,000-span trace scrolls like a 50-span one), and the selected span's
// messages, attributes, events, errors and attempts.

import { api, canWrite, promptPath } from "./api.js";
import { copyButton, h, mount } from "./dom.js";
import { fmtCallsCost, fmtCost, fmtFullTime, fmtInt, fmtMs, fmtTokens } from "./format.js";
import { jsonBlock, longText, renderContent } from "./chat.js";
import { setKeyHandler } from "./keys.js";
import { annotator } from "./annotate.js";
import { addToDataset } from "./datasets.js";

const ROW = 26;
// Span kinds as their badges spell them: short, but still words.
const KIND_BADGES = { retriever: "retr", embedding: "embed", reranker: "rerank", guardrail: "guard", evaluator: "eval" };
const kindBadge = (kind) => KIND_BADGES[kind] || kind.slice(0, 5);
const OVERSCAN = 12;
const EXPAND_ALL_UNDER = 2000; // bigger traces open with their first two levels expanded

/** The tree's structure over the outline's parallel arrays (indices, not objects). */
export function buildTree(spans) {
  const n = spans.id.length;
  const index = new Map();
  for (let i = 0; i < n; i++) index.set(spans.id[i], i);
  const children = new Array(n);
  const roots = [];
  const parent = new Int32Array(n).fill(-1);
  for (let i = 0; i < n; i++) {
    const p = spans.parent[i] === null ? undefined : index.get(spans.parent[i]);
    if (p === undefined || p === i) roots.push(i);
    else {
      parent[i] = p;
      (children[p] ||= []).push(i);
    }
  }
  // Depths from the roots; spans caught in a parent cycle (bad data) become roots.
  const depth = new Int32Array(n).fill(-1);
  const visit = (start) => {
    const stack = [start];
    depth[start] = 0;
    while (stack.length) {
      const i = stack.pop();
      for (const c of children[i] || []) if (depth[c] < 0) { depth[c] = depth[i] + 1; stack.push(c); }
    }
  };
  roots.forEach(visit);
  for (let i = 0; i < n; i++) if (depth[i] < 0) { roots.push(i); parent[i] = -1; visit(i); }
  return { n, index, children, roots, parent, depth };
}

/** The rows in view order: a depth-first walk that skips collapsed subtrees. */
export function flatten(tree, collapsed) {
  const out = [];
  const stack = [...tree.roots].reverse();
  while (stack.length) {
    const i = stack.pop();
    out.push(i);
    const kids = tree.children[i];
    if (kids && !collapsed[i]) for (let k = kids.length - 1; k >= 0; k--) stack.push(kids[k]);
  }
  return out;
}

function stat(label, value, title) {
  return h("div", { class: "stat", title }, h("span", { class: "k" }, label), h("span", { class: "v" }, value));
}

export async function render(root, ctx) {
  const traceId = ctx.params[0].toLowerCase();
  mount(root, h("div", { class: "muted" }, "Loading trace…"));
  const started = performance.now();
  let outline;
  try {
    outline = await api.get(`/api/ui/traces/${traceId}/outline`);
  } catch (error) {
    mount(root, h("div", { class: "empty" }, h("h2", null, error.status === 404 ? "Trace not found" : "Could not load the trace"),
      h("p", null, error.message), h("a", { href: "/traces" }, "Back to Traces")));
    return null;
  }
  if (!ctx.alive()) return null;
  const writable = await canWrite();
  if (!ctx.alive()) return null;
  const { trace, spans } = outline;
  const tree = buildTree(spans);
  const collapsed = new Uint8Array(tree.n);
  if (tree.n > EXPAND_ALL_UNDER) for (let i = 0; i < tree.n; i++) if (tree.depth[i] >= 1 && tree.children[i]) collapsed[i] = 1;
  let total = trace.duration_ms || 0;
  for (let i = 0; i < tree.n; i++) total = Math.max(total, spans.start_ms[i] + spans.duration_ms[i]);
  total = total || 1;
  let rows = flatten(tree, collapsed);
  let selected = -1;

  root.classList.add("fill");
  const scroller = h("div", { class: "tree-scroll", tabindex: "0", dataset: { tree: "" }, "aria-label": "Span tree" });
  const spacer = h("div", { class: "tree-spacer" });
  scroller.appendChild(spacer);
  const detail = h("div", { dataset: { detail: "" } });
  const traceScores = annotator({ target: { trace_id: traceId }, project: trace.project, label: "this trace", shortcuts: true });
  traceScores.node.classList.add("detail");
  traceScores.refresh().catch(() => {});
  const countLabel = h("span");

  function caretFor(i) {
    if (!tree.children[i]) return h("span", { class: "caret leaf" });
    return h("button", { type: "button", class: "caret", "aria-label": collapsed[i] ? "Expand" : "Collapse", dataset: { toggle: String(i) } }, collapsed[i] ? "▸" : "▾");
  }

  function rowNode(i, position) {
    const left = (spans.start_ms[i] / total) * 100;
    const width = Math.max((spans.duration_ms[i] / total) * 100, 0.15);
    const kind = String(spans.kind[i] || "span").replace(/[^a-z_]/g, "");
    const label = h("div", { class: "span-label" }, caretFor(i),
      h("span", { class: `kind kind-${kind}`, title: kind }, kindBadge(kind)),
      h("span", { class: "nm", title: spans.name[i] }, spans.name[i]),
      spans.attempt[i] ? h("span", { class: "attempt-badge" }, "attempt") : null,
      spans.status[i] === "error" ? h("span", { class: "dot error", title: "error" }) : null,
      tree.children[i] && collapsed[i] ? h("span", { class: "faint" }, `+${fmtInt(tree.children[i].length)}`) : null,
      h("span", { class: "meta" }, fmtMs(spans.duration_ms[i])));
    label.style.paddingLeft = `${6 + tree.depth[i] * 14}px`;
    const bar = h("div", { class: `bar kind-${kind}${spans.status[i] === "error" ? " error" : ""}` });
    bar.style.left = `${left}%`;
    bar.style.width = `${width}%`;
    const row = h("div", { class: `span-row${i === selected ? " selected" : ""}`, dataset: { span: spans.id[i], index: String(i) }, role: "treeitem", "aria-level": String(tree.depth[i] + 1) },
      label, h("div", { class: "lane" }, bar));
    row.style.top = `${position * ROW}px`;
    return row;
  }

  let frame = 0;
  function paint() {
    frame = 0;
    spacer.style.height = `${rows.length * ROW}px`;
    const first = Math.max(0, Math.floor(scroller.scrollTop / ROW) - OVERSCAN);
    const last = Math.min(rows.length, Math.ceil((scroller.scrollTop + scroller.clientHeight) / ROW) + OVERSCAN);
    const nodes = [];
    for (let p = first; p < last; p++) nodes.push(rowNode(rows[p], p));
    mount(spacer, nodes);
    countLabel.textContent = `${fmtInt(rows.length)} of ${fmtInt(tree.n)} spans shown`;
  }
  const schedule = () => { if (!frame) frame = requestAnimationFrame(paint); };
  scroller.addEventListener("scroll", schedule, { passive: true });
  const resize = new ResizeObserver(schedule);
  resize.observe(scroller);

  function relayout() {
    rows = flatten(tree, collapsed);
    schedule();
  }
  function setCollapsed(i, value) {
    if (!tree.children[i] || Boolean(collapsed[i]) === value) return;
    collapsed[i] = value ? 1 : 0;
    relayout();
  }
  function expandAll(open) {
    for (let i = 0; i < tree.n; i++) if (tree.children[i]) collapsed[i] = open ? 0 : tree.depth[i] >= 1 ? 1 : 0;
    relayout();
  }

  function reveal(i) {
    for (let p = tree.parent[i]; p >= 0; p = tree.parent[p]) collapsed[p] = 0;
    rows = flatten(tree, collapsed);
    const position = rows.indexOf(i);
    if (position >= 0) {
      const top = position * ROW;
      if (top < scroller.scrollTop) scroller.scrollTop = top;
      else if (top + ROW > scroller.scrollTop + scroller.clientHeight) scroller.scrollTop = top + ROW - scroller.clientHeight;
    }
    schedule();
  }

  let detailToken = 0;
  let detailTimer = null;
  function select(i, { load = true } = {}) {
    if (i < 0 || i >= tree.n) return;
    selected = i;
    reveal(i);
    ctx.setQuery({ span: spans.id[i] });
    if (!load) return;
    clearTimeout(detailTimer);
    detailTimer = setTimeout(() => showSpan(i), 60);
  }

  // Find in the trace: spans whose name or model holds the text, in tree order; Enter (or
  // typing) selects the next one after the selected span, expanding its ancestors.
  const findCount = h("span", { class: "faint", dataset: { findCount: "" } });
  const findInput = h("input", { type: "search", placeholder: "Find span…", "aria-label": "Find in trace", class: "find" });
  function findNext(from) {
    const text = findInput.value.trim().toLowerCase();
    if (!text) { mount(findCount); return; }
    const matches = [];
    for (let i = 0; i < tree.n; i++) {
      if (String(spans.name[i] || "").toLowerCase().includes(text) || String(spans.model[i] || "").toLowerCase().includes(text)) matches.push(i);
    }
    if (!matches.length) { mount(findCount, "no match"); return; }
    const next = matches.find((i) => i > from) ?? matches[0];
    mount(findCount, `${matches.indexOf(next) + 1} of ${fmtInt(matches.length)}`);
    select(next);
  }
  findInput.addEventListener("input", () => findNext(-1));
  findInput.addEventListener("keydown", (event) => {
    if (event.key === "Enter") { event.preventDefault(); findNext(selected); }
    event.stopPropagation();
  });

  scroller.addEventListener("click", (event) => {
    const toggle = event.target.closest("[data-toggle]");
    if (toggle) {
      const i = Number(toggle.dataset.toggle);
      setCollapsed(i, !collapsed[i]);
      return;
    }
    const row = event.target.closest(".span-row");
    if (row) select(Number(row.dataset.index));
  });

  setKeyHandler((event) => {
    if (traceScores.key(event)) return true;
    const position = rows.indexOf(selected);
    if (event.key === "j" || event.key === "ArrowDown") select(rows[Math.min(rows.length - 1, position + 1)] ?? rows[0]);
    else if (event.key === "k" || event.key === "ArrowUp") select(rows[Math.max(0, position - 1)] ?? rows[0]);
    else if ((event.key === "ArrowLeft" || event.key === "h") && selected >= 0) {
      if (tree.children[selected] && !collapsed[selected]) setCollapsed(selected, true);
      else if (tree.parent[selected] >= 0) select(tree.parent[selected]);
    } else if ((event.key === "ArrowRight" || event.key === "l") && selected >= 0) setCollapsed(selected, false);
    else if (event.key === "Escape") ctx.navigate("/traces");
    else return false;
    return true;
  });

  function attemptsOf(i) {
    return (tree.children[i] || []).filter((c) => spans.attempt[c]);
  }

  async function showSpan(i) {
    const mine = ++detailToken;
    mount(detail, h("div", { class: "detail muted" }, "Loading span…"));
    let span;
    try {
      span = await api.get(`/api/ui/traces/${traceId}/spans/${spans.id[i]}`);
    } catch (error) {
      if (mine === detailToken) mount(detail, h("div", { class: "detail" }, h("div", { class: "error-box" }, error.message)));
      return;
    }
    if (mine !== detailToken || !ctx.alive()) return;
    const kind = String(span.kind || "span").replace(/[^a-z_]/g, "");
    const exceptions = (span.events || []).filter((e) => e.name === "exception");
    const attempts = attemptsOf(i);
    const chat = renderContent(span.content);
    const attributes = Object.entries(span.attributes || {}).sort(([a], [b]) => a.localeCompare(b));
    const events = span.events || [];

    const sections = [];
    sections.push(h("div", { class: "detail-title" },
      h("span", { class: `kind kind-${kind}`, title: kind }, kindBadge(kind)), h("h2", { class: "nm" }, span.name),
      // OpenTelemetry's "unset" is the usual status of a span that went fine: no badge for it.
      span.status === "unset" ? null : h("span", { class: `badge ${span.status === "error" ? "error" : "ok"}` }, span.status),
      span.is_attempt ? h("span", { class: "attempt-badge" }, `attempt ${span.attributes?.["spyglass.attempt"] ?? ""}`) : null));
    sections.push(h("div", { class: "stats" },
      stat("Duration", fmtMs(span.duration_ms)), stat("Starts at", `+${fmtMs(span.start_ms)}`, fmtFullTime(span.start_time)),
      span.ttft_ms !== null && span.ttft_ms !== undefined ? stat("TTFT", fmtMs(span.ttft_ms)) : null,
      span.input_tokens || span.output_tokens ? stat("Tokens", fmtTokens(span.input_tokens, span.output_tokens), "input → output") : null,
      span.cost !== null && span.cost !== undefined
        ? stat("Cost", fmtCost(span.cost), span.attributes?.["spyglass.cost.source"] === "price_map" ? "from the price map (the span said no cost)" : undefined)
        : (span.kind === "llm" || span.kind === "embedding") && !span.is_attempt && !span.wraps_call && (span.input_tokens !== null || span.output_tokens !== null || span.status !== "error")
          ? stat("Cost", "unknown", "no price is known for this model") : null,
      span.model ? stat("Model", span.model) : null, span.provider ? stat("Provider", span.provider) : null,
      span.prompt ? stat("Prompt", span.prompt) : null));
    if (span.status === "error" || exceptions.length) {
      sections.push(h("div", { dataset: { section: "error" } }, h("h3", null, "Error"),
        span.status_message ? h("div", { class: "section-err" }, span.status_message) : null,
        exceptions.map((e) => h("div", { class: "section-err" }, `${e.attributes?.["exception.type"] ?? "exception"}: ${e.attributes?.["exception.message"] ?? ""}`,
          e.attributes?.["exception.stacktrace"] ? longText(e.attributes["exception.stacktrace"], { mono: true }) : null))));
    }
    if (attempts.length) {
      sections.push(h("div", { dataset: { section: "attempts" } }, h("h3", null, `Attempts (${attempts.length})`),
        h("table", { class: "grid compact" }, h("tbody", null, attempts.map((c, n) =>
          h("tr", { on: { click: () => select(c) } }, h("td", null, `#${n + 1}`), h("td", null, spans.name[c]),
            h("td", null, spans.model[c] || "—"), h("td", null, h("span", { class: `badge ${spans.status[c] === "error" ? "error" : "ok"}` }, spans.status[c])),
            h("td", { class: "num" }, fmtMs(spans.duration_ms[c]))))))));
    }
    const spanScores = annotator({ target: { trace_id: traceId, span_id: span.span_id }, project: trace.project, label: "this span" });
    spanScores.refresh().catch(() => {});
    sections.push(spanScores.node);
    const tabs = [["Messages", chat], ["Attributes", attributes.length ? h("dl", { class: "kv", dataset: { section: "attributes" } },
      attributes.map(([k, v]) => [h("dt", null, k), h("dd", null, typeof v === "string" && !/^[[{]/.test(v.trim()) ? longText(v) : jsonBlock(v))])) : null],
    ["Events", events.length ? h("div", { class: "chat", dataset: { section: "events" } }, events.map((e) => h("div", { class: "msg" },
      h("div", { class: "msg-role" }, e.name, h("span", { class: "faint" }, e.time_ns ? fmtFullTime(e.time_ns) : "")),
      Object.keys(e.attributes || {}).length ? h("div", { class: "msg-body" }, jsonBlock(e.attributes)) : null))) : null]];
    const body = h("div");
    const bar = h("div", { class: "tabs", role: "tablist" });
    let active = chat ? 0 : 1;
    const showTab = (t) => {
      active = t;
      [...bar.children].forEach((b, k) => b.classList.toggle("active", k === t));
      mount(body, tabs[t][1] || h("div", { class: "faint" }, `No ${tabs[t][0].toLowerCase()} on this span.`));
    };
    tabs.forEach(([name, node], t) => bar.appendChild(h("button", { type: "button", role: "tab", on: { click: () => showTab(t) } },
      name, node ? h("span", { class: "faint" }, ` ${t === 1 ? attributes.length : t === 2 ? events.length : ""}`) : null)));
    showTab(active);
    sections.push(h("div", null, bar, body));
    sections.push(h("div", { class: "faint mono" }, `span ${span.span_id}`, span.parent_span_id ? ` · parent ${span.parent_span_id}` : "",
      writable && chat ? [" ", h("button", { type: "button", class: "ghost", dataset: { addSpan: "" }, on: { click: () => addToDataset({ traceId, spanId: span.span_id, project: trace.project }) } }, "Add span to dataset")] : null));
    mount(detail, h("div", { class: "detail" }, sections));
  }

  // The trace header and its totals.
  const promptLink = trace.prompt ? h("a", { href: `/prompts/${promptPath(trace.prompt.replace(/\/\d+$/, ""))}?v=${(trace.prompt.match(/\/(\d+)$/) || [])[1] || ""}` }, trace.prompt) : null;
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => {
    const tick = h("span", null, fmtMs(total * f));
    tick.style.left = `${f * 100}%`;
    if (f === 1) tick.style.transform = "translateX(-100%)";
    return tick;
  });
  mount(root,
    h("div", { class: "trace-head" }, h("a", { href: "/traces", class: "muted" }, "Traces"), h("span", { class: "faint" }, "/"),
      h("h1", null, trace.name || "(unnamed trace)"), h("span", { class: `badge ${trace.status === "error" ? "error" : "ok"}` }, trace.status),
      h("span", { class: "muted mono" }, trace.trace_id), copyButton(() => trace.trace_id, "Copy id"),
      writable ? h("button", { type: "button", dataset: { addTrace: "" }, on: { click: () => addToDataset({ traceId, project: trace.project }) } }, "Add to dataset") : null),
    h("div", { class: "stats", dataset: { totals: "" } },
      stat("Started", fmtFullTime(trace.start_time)), stat("Duration", fmtMs(trace.duration_ms)), stat("Spans", fmtInt(trace.span_count)),
      stat("LLM calls", fmtInt(trace.llm_count)), stat("Tokens", fmtTokens(trace.input_tokens, trace.output_tokens), "input → output"),
      stat("Cost", fmtCallsCost(trace), trace.unpriced_count ? `${fmtInt(trace.unpriced_count)} of ${fmtInt(trace.llm_count)} calls have no known price` : undefined), trace.ttft_ms ? stat("TTFT", fmtMs(trace.ttft_ms)) : null, trace.model ? stat("Model", trace.model) : null,
      trace.session_id ? stat("Session", h("a", { href: `/sessions/${encodeURIComponent(trace.session_id)}` }, trace.session_id)) : null,
      trace.user_id ? stat("User", trace.user_id) : null, promptLink ? stat("Prompt", promptLink) : null),
    trace.error ? h("div", { class: "error-box", dataset: { section: "trace-error" } }, trace.error) : null,
    outline.truncated ? h("div", { class: "error-box" }, `This trace has more spans than the viewer loads at once; the first ${fmtInt(tree.n)} are shown.`) : null,
    h("div", { class: "split" },
      h("section", { class: "pane", "aria-label": "Spans" },
        h("div", { class: "pane-head" }, countLabel, h("span", { class: "spacer" }), findInput, findCount,
          h("button", { type: "button", class: "ghost", on: { click: () => expandAll(true) } }, "Expand all"),
          h("button", { type: "button", class: "ghost", on: { click: () => expandAll(false) } }, "Collapse")),
        h("div", { class: "tree-cols pane-head" }, h("span", null, "Span"), h("div", { class: "ruler" }, ticks)),
        scroller),
      h("section", { class: "pane", "aria-label": "Selected span" }, h("div", { class: "pane-head" }, "Trace scores and span detail"),
        h("div", { class: "pane-body" }, traceScores.node, detail))));
  countLabel.parentElement.querySelector(".spacer").style.flex = "1";
  root.dataset.loadMs = String(Math.round(performance.now() - started));

  const wanted = ctx.query.get("span");
  const first = wanted && tree.index.has(wanted) ? tree.index.get(wanted) : rows[0];
  paint();
  if (first !== undefined) select(first);
  scroller.focus({ preventScroll: true });
  return () => {
    resize.disconnect();
    clearTimeout(detailTimer);
    if (frame) cancelAnimationFrame(frame);
  };
}
