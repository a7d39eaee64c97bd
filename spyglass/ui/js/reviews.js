// Review queues: the list with each queue's progress, and the review view, one trace at a
// time: its question and answer, the score controls, Done / Skip / Previous on the keyboard.

import { api } from "./api.js";
import { h, mount } from "./dom.js";
import { fmtAgo, fmtInt } from "./format.js";
import { listNav, setKeyHandler } from "./keys.js";
import { annotator } from "./annotate.js";
import { longText } from "./chat.js";

// Without authentication every caller is the same "anonymous": each tab names itself, so two
// people reviewing at once are still handed different traces.
function tabReviewer() {
  let id = sessionStorage.getItem("spyglass.reviewer");
  if (!id) {
    id = Math.random().toString(36).slice(2, 10);
    sessionStorage.setItem("spyglass.reviewer", id);
  }
  return id;
}

function progressBar(progress) {
  const done = progress.done + progress.skipped;
  const share = progress.total ? (done / progress.total) * 100 : 0;
  const bar = h("div", { class: "progress", title: `${fmtInt(progress.done)} done, ${fmtInt(progress.skipped)} skipped, ${fmtInt(progress.pending)} left` },
    h("div", { class: "progress-fill" }));
  bar.firstChild.style.width = `${share}%`;
  return h("span", { class: "progress-wrap", dataset: { progress: `${done}/${progress.total}` } }, bar, ` ${fmtInt(done)} / ${fmtInt(progress.total)}`);
}

export async function renderList(root, ctx) {
  mount(root, h("div", { class: "muted" }, "Loading review queues…"));
  const queues = (await api.get("/api/reviews")).data;
  if (!ctx.alive()) return null;
  const head = h("div", { class: "page-head" }, h("h1", null, "Reviews"));
  if (!queues.length) {
    mount(root, head, h("div", { class: "empty", dataset: { empty: "reviews" } }, h("h2", null, "No review queues yet"),
      h("p", null, "On the Traces page, filter the traces to look at (say ", h("code", null, "score:thumbs=false"), ") and choose ", h("b", null, "Review these"), ".")));
    return null;
  }
  const tbody = h("tbody", null, queues.map((q) => h("tr", { dataset: { href: `/reviews/${q.id}` } },
    h("td", { class: "name" }, h("a", { href: `/reviews/${q.id}` }, q.name), q.description ? h("div", { class: "sub faint" }, q.description) : null),
    h("td", null, progressBar(q.progress)),
    h("td", { class: "faint" }, (q.score_names || []).join(", ") || "all score configs"),
    h("td", null, fmtAgo(q.created_ns)))));
  listNav({ items: () => [...tbody.querySelectorAll("tr")], onOpen: (row) => ctx.navigate(row.dataset.href) });
  tbody.addEventListener("click", (event) => { const row = event.target.closest("tr"); if (row && !event.target.closest("a")) ctx.navigate(row.dataset.href); });
  mount(root, head, h("table", { class: "grid", dataset: { list: "reviews" } },
    h("thead", null, h("tr", null, ["Queue", "Progress", "Asks for", "Created"].map((c) => h("th", null, c)))), tbody));
  return null;
}

function exampleView(example) {
  const messages = example?.input?.messages || [];
  return h("div", { class: "chat", dataset: { reviewExample: "" } },
    (messages.length ? messages : [{ role: "user", content: example?.input?.input ?? "" }]).map((m) =>
      h("div", { class: `msg role-${String(m.role).replace(/[^a-z_]/gi, "")}` }, h("div", { class: "msg-role" }, m.role), h("div", { class: "msg-body" }, longText(String(m.content ?? ""))))),
    h("div", { class: "msg role-assistant" }, h("div", { class: "msg-role" }, "answer"),
      h("div", { class: "msg-body" }, example?.expected === null || example?.expected === undefined ? h("span", { class: "faint" }, "(no answer recorded)") : longText(String(example.expected)))));
}

export async function renderOne(root, ctx) {
  const queueId = ctx.params[0];
  const reviewer = tabReviewer();
  let queue;
  try {
    queue = await api.get(`/api/reviews/${queueId}`);
  } catch (error) {
    mount(root, h("div", { class: "empty" }, h("h2", null, error.status === 404 ? "Review queue not found" : "Could not load the queue"),
      h("p", null, error.message), h("a", { href: "/reviews" }, "Back to Reviews")));
    return null;
  }
  if (!ctx.alive()) return null;
  const progress = h("div", { dataset: { queueProgress: "" } });
  const body = h("div", { class: "review-body" });
  let current = null; // the item shown: {position, trace_id, ...}
  let panel = null;
  let looking = null; // an earlier item shown with "previous", else null
  let history = [];
  let busy = false; // a finish or a load in flight: keys wait for it (no double finish)

  async function guarded(fn) {
    if (busy) return;
    busy = true;
    try {
      await fn();
    } finally {
      busy = false;
    }
  }

  function showProgress(p) {
    const mine = p.by_reviewer ? Object.entries(p.by_reviewer).map(([who, n]) => `${who}: ${fmtInt(n)}`).join(" · ") : "";
    mount(progress, progressBar(p), mine ? h("span", { class: "faint" }, `  ${mine}`) : null);
  }

  async function show(item, { earlier = false } = {}) {
    current = item;
    looking = earlier ? item : null;
    mount(body, h("div", { class: "muted" }, "Loading trace…"));
    let example = null;
    try {
      example = await api.get(`/api/traces/${item.trace_id}/example`, item.span_id ? { span: item.span_id } : {});
    } catch {
      example = null;
    }
    if (!ctx.alive()) return;
    panel = annotator({ target: item.span_id ? { trace_id: item.trace_id, span_id: item.span_id } : { trace_id: item.trace_id }, project: queue.project, label: "this trace", shortcuts: true, only: queue.score_names || [] });
    panel.node.classList.add("detail");
    await panel.refresh().catch(() => {});
    const actions = h("div", { class: "form-actions review-actions" },
      h("button", { type: "button", class: "primary", dataset: { done: "" }, on: { click: () => guarded(() => finish("done")) } }, earlier ? "Save (Enter)" : "Done (Enter)"),
      earlier ? null : h("button", { type: "button", dataset: { skip: "" }, on: { click: () => guarded(() => finish("skipped")) } }, "Skip (s)"),
      h("button", { type: "button", class: "ghost", dataset: { previous: "" }, on: { click: () => guarded(previous) } }, "Previous ([)"),
      earlier ? h("button", { type: "button", class: "ghost", on: { click: () => guarded(next) } }, "Back to the queue (])") : null,
      h("a", { href: `/traces/${item.trace_id}${item.span_id ? `?span=${item.span_id}` : ""}`, class: "muted" }, "Open the whole trace"));
    mount(body,
      h("div", { class: "review-item", dataset: { reviewItem: String(item.position) } },
        h("div", { class: "faint mono" }, `#${item.position + 1} · trace ${item.trace_id}`, earlier ? " · reviewed earlier" : ""),
        example ? exampleView(example) : h("div", { class: "faint" }, "This trace has no messages to show (content capture was off); open the whole trace."),
        panel.node, actions));
  }

  async function next() {
    const answer = await api.post(`/api/reviews/${queueId}/next`, { reviewer });
    if (!ctx.alive()) return;
    if (answer === null) {
      current = null;
      mount(body, h("div", { class: "empty", dataset: { empty: "review-done" } }, h("h2", null, "Nothing left for you in this queue"),
        h("p", null, "Every trace is done, skipped, or being reviewed by someone else."), h("a", { href: "/reviews" }, "Back to Reviews")));
      return;
    }
    await show(answer);
  }

  async function finish(status) {
    if (!current) return;
    const updated = await api.post(`/api/reviews/${queueId}/items/${current.position}`, { status, reviewer });
    showProgress(updated.progress);
    await next();
  }

  async function previous() {
    history = (await api.get(`/api/reviews/${queueId}/history`, { reviewer })).data;
    const at = looking ? history.findIndex((h) => h.position === looking.position) + 1 : 0;
    const item = history[at];
    if (item) await show(item, { earlier: true });
  }

  setKeyHandler((event) => {
    if (busy) return true;
    if (panel && panel.key(event)) return true;
    if (event.key === "Enter") guarded(() => finish("done"));
    else if (event.key === "s" && !looking) guarded(() => finish("skipped"));
    else if (event.key === "[") guarded(previous);
    else if (event.key === "]") guarded(next);
    else return false;
    return true;
  });

  mount(root, h("div", { class: "page-head" }, h("a", { href: "/reviews", class: "muted" }, "Reviews"), h("span", { class: "faint" }, "/"), h("h1", null, queue.name), progress),
    queue.description ? h("p", { class: "faint" }, queue.description) : null, body);
  showProgress(queue.progress);
  await next();
  return null;
}
