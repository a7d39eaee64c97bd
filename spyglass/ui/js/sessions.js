// Sessions: conversations grouped by session id, and one session's turns with each turn's
// trace inline (the user's message and the reply).

import { api } from "./api.js";
import { h, mount } from "./dom.js";
import { turnMessages } from "./chat.js";
import { fmtAgo, fmtCallsCost, fmtFullTime, fmtInt, fmtMs, fmtTime, fmtTokens } from "./format.js";
import { listNav } from "./keys.js";

export async function renderList(root, ctx) {
  const tbody = h("tbody");
  const foot = h("div", { class: "list-foot" });
  const content = h("div", null, h("div", { class: "muted" }, "Loading…"));
  mount(root, h("div", { class: "page-head" }, h("h1", null, "Sessions"), h("span", { class: "muted" }, "Conversations: traces that share a session id")), content, foot);
  let cursor = null;
  let count = 0;
  const nav = listNav({ items: () => [...tbody.querySelectorAll("tr")], onOpen: (row) => ctx.navigate(row.dataset.href) });
  tbody.addEventListener("click", (event) => {
    const row = event.target.closest("tr");
    if (row && !event.target.closest("a")) ctx.navigate(row.dataset.href);
  });
  async function page() {
    const found = await api.get("/api/sessions", { limit: 50, cursor });
    if (!ctx.alive()) return;
    cursor = found.next_cursor;
    count += found.data.length;
    tbody.append(...found.data.map((sess) => {
      const href = `/sessions/${encodeURIComponent(sess.session_id)}`;
      return h("tr", { dataset: { href } },
        h("td", { class: "mono ellipsis" }, h("a", { href }, sess.session_id)),
        h("td", { class: "num" }, fmtInt(sess.trace_count)),
        h("td", { class: "nowrap", title: fmtFullTime(sess.start_ns) }, fmtTime(sess.start_ns)),
        h("td", { class: "nowrap", title: fmtFullTime(sess.last_start_ns) }, fmtAgo(sess.last_start_ns)),
        h("td", null, sess.user_id || h("span", { class: "faint" }, "—")),
        h("td", { class: "num" }, sess.error_count ? h("span", { class: "badge error" }, fmtInt(sess.error_count)) : h("span", { class: "faint" }, "0")),
        h("td", { class: "num" }, fmtTokens(sess.input_tokens, sess.output_tokens)),
        h("td", { class: "num" }, fmtCallsCost(sess)));
    }));
    nav.refresh();
    mount(foot, h("span", null, `${fmtInt(count)} session${count === 1 ? "" : "s"}`), cursor ? h("button", { type: "button", on: { click: page } }, "Load more") : null);
  }
  const first = await api.get("/api/sessions", { limit: 1 });
  if (!ctx.alive()) return null;
  if (!first.data.length) {
    mount(content, h("div", { class: "empty", dataset: { empty: "sessions" } }, h("h2", null, "No sessions yet"),
      h("p", null, "A session groups the turns of one conversation. Tag your requests with a session id and they are grouped here:"),
      h("pre", { class: "snippet" }, 'client.chat.completions.create(\n    model=..., messages=...,\n    extra_headers={"x-spyglass-session-id": "conversation-42"},\n)'),
      h("p", null, "Spans you send over OpenTelemetry can carry it as the gen_ai.conversation.id attribute.")));
    return null;
  }
  mount(content, h("table", { class: "grid", dataset: { list: "sessions" } },
    h("thead", null, h("tr", null, ["Session", "Turns", "Started", "Last active", "User", "Errors", "Tokens", "Cost"].map((c, i) => h("th", { class: [1, 5, 6, 7].includes(i) ? "num" : null }, c)))), tbody));
  await page();
  return null;
}

/** A turn's question (the first LLM call's last user message) and answer (the last call's). */
async function turnOf(traceId) {
  const found = await api.get(`/api/traces/${traceId}`, { limit: 200 });
  const withContent = found.spans.filter((sp) => sp.content && !sp.is_attempt);
  const llm = withContent.filter((sp) => sp.kind === "llm");
  const calls = llm.length ? llm : withContent;
  return calls.length ? turnMessages(calls[0].content, calls[calls.length - 1].content) : null;
}

export async function renderOne(root, ctx) {
  const id = ctx.params[0];
  let found;
  try {
    found = await api.get(`/api/sessions/${encodeURIComponent(id)}`);
  } catch (error) {
    mount(root, h("div", { class: "empty" }, h("h2", null, "Session not found"), h("p", null, error.message), h("a", { href: "/sessions" }, "All sessions")));
    return null;
  }
  if (!ctx.alive()) return null;
  const traces = found.traces;
  const sum = (f) => traces.reduce((t, tr) => t + (tr[f] || 0), 0);
  const turns = traces.map((trace, n) => {
    const href = `/traces/${trace.trace_id}`;
    const body = h("div", { class: "faint" }, "Loading messages…");
    const node = h("article", { class: "card turn", dataset: { href, turn: String(n + 1) } },
      h("div", { class: "turn-head" }, h("span", { class: "badge" }, `#${n + 1}`), h("a", { href }, trace.name || "(unnamed)"),
        h("span", { class: `badge ${trace.status === "error" ? "error" : "ok"}` }, trace.status),
        h("span", { class: "muted", title: fmtFullTime(trace.start_time) }, fmtTime(trace.start_time)), h("span", { class: "spacer" }),
        h("span", { class: "muted" }, fmtMs(trace.duration_ms)), h("span", { class: "muted" }, fmtTokens(trace.input_tokens, trace.output_tokens)),
        h("span", { class: "muted" }, fmtCallsCost(trace))),
      body);
    node.querySelector(".spacer").style.flex = "1";
    return { node, body, trace };
  });
  mount(root, h("div", { class: "trace-head" }, h("a", { href: "/sessions", class: "muted" }, "Sessions"), h("span", { class: "faint" }, "/"), h("h1", { class: "mono" }, id)),
    h("div", { class: "stats" }, h("div", { class: "stat" }, h("span", { class: "k" }, "Turns"), h("span", { class: "v" }, fmtInt(traces.length))),
      h("div", { class: "stat" }, h("span", { class: "k" }, "Tokens"), h("span", { class: "v" }, fmtTokens(sum("input_tokens"), sum("output_tokens")))),
      h("div", { class: "stat" }, h("span", { class: "k" }, "Cost"), h("span", { class: "v" }, fmtCallsCost({ llm_count: sum("llm_count"), unpriced_count: sum("unpriced_count"), cost: traces.some((t) => t.cost !== null) ? sum("cost") : null }))),
      traces[0]?.user_id ? h("div", { class: "stat" }, h("span", { class: "k" }, "User"), h("span", { class: "v" }, traces[0].user_id)) : null),
    h("div", { class: "turns", dataset: { list: "turns" } }, turns.map((t) => t.node)));
  listNav({ items: () => [...root.querySelectorAll("[data-turn]")], onOpen: (node) => ctx.navigate(node.dataset.href) });
  // Each turn's messages, a few requests at a time.
  let next = 0;
  const worker = async () => {
    while (next < turns.length && ctx.alive()) {
      const turn = turns[next++];
      try {
        const messages = await turnOf(turn.trace.trace_id);
        turn.body.classList.remove("faint");
        mount(turn.body, messages || h("span", { class: "faint" }, "No messages recorded for this turn."));
      } catch (error) {
        mount(turn.body, h("span", { class: "faint" }, error.message));
      }
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  return null;
}
