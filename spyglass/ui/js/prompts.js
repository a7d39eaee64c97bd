// Prompts: the registry's list; a prompt's versions with their labels, a side-by-side diff,
// a render preview, the traces that used a version, and moving a label.

import { api, canWrite, promptPath } from "./api.js";
import { h, mount, toast } from "./dom.js";
import { fmtAgo, fmtFullTime, fmtInt } from "./format.js";
import { jsonBlock, longText } from "./chat.js";
import { sideBySide } from "./diff.js";
import { listNav } from "./keys.js";

function labelChips(labels) {
  return h("span", { class: "chips" }, labels.map((l) => h("span", { class: "badge label" }, l)));
}

/** A template as text: a string as is, a chat template as role-headed blocks. */
export function templateText(template) {
  if (typeof template === "string") return template;
  return (template || []).map((m) => `[${m.role}]\n${typeof m.content === "string" ? m.content : JSON.stringify(m.content, null, 2)}`).join("\n\n");
}

function templateView(template) {
  if (typeof template === "string") return h("pre", { class: "json", dataset: { template: "" } }, template);
  return h("div", { class: "chat", dataset: { template: "" } }, (template || []).map((m) => h("div", { class: `msg role-${String(m.role).replace(/[^a-z_]/gi, "")}` },
    h("div", { class: "msg-role" }, m.role), h("div", { class: "msg-body" }, typeof m.content === "string" ? longText(m.content) : jsonBlock(m.content)))));
}

export async function renderList(root, ctx) {
  const q = ctx.query.get("q") || "";
  const input = h("input", { type: "search", value: q, placeholder: "Search prompts…", "aria-label": "Search prompts", dataset: { search: "" } });
  input.addEventListener("keydown", (e) => { if (e.key === "Enter") ctx.navigate(`/prompts${input.value ? `?q=${encodeURIComponent(input.value)}` : ""}`, { replace: true }); });
  const content = h("div", null, h("div", { class: "muted" }, "Loading…"));
  mount(root, h("div", { class: "page-head" }, h("h1", null, "Prompts"), input), content);
  const found = await api.get("/api/prompts", { q, limit: 200 });
  if (!ctx.alive()) return null;
  if (!found.data.length) {
    const example = `spyglass prompts push support/greeter -f greeter.txt -m "first version" -l production`;
    mount(content, q ? h("div", { class: "empty" }, h("h2", null, "No prompts match"), h("a", { href: "/prompts" }, "Show all prompts"))
      : h("div", { class: "empty", dataset: { empty: "prompts" } }, h("h2", null, "No prompts yet"),
        h("p", null, "Keep your prompt templates here, versioned and labelled, and have the gateway render them by name. Push one from a file:"),
        h("pre", { class: "snippet" }, example),
        h("p", null, 'Then ask for it in a chat request with "prompt": {"name": "support/greeter", "label": "production", "variables": {...}}.')));
    return null;
  }
  const tbody = h("tbody", null, found.data.map((p) => {
    const href = `/prompts/${promptPath(p.name)}`;
    return h("tr", { dataset: { href } }, h("td", { class: "name" }, h("a", { href }, p.name)),
      h("td", { class: "num" }, p.latest_version ? `v${p.latest_version}` : "—"),
      h("td", null, h("span", { class: "chips" }, Object.entries(p.labels || {}).map(([l, v]) => h("span", { class: "badge label" }, `${l} → v${v}`)))),
      h("td", { class: "ellipsis muted" }, p.description || ""),
      h("td", null, h("span", { class: "chips" }, (p.tags || []).map((t) => h("span", { class: "badge" }, t)))),
      h("td", { class: "nowrap muted", title: fmtFullTime(p.updated_at) }, fmtAgo(p.updated_at)));
  }));
  tbody.addEventListener("click", (e) => { const row = e.target.closest("tr"); if (row && !e.target.closest("a")) ctx.navigate(row.dataset.href); });
  mount(content, h("table", { class: "grid", dataset: { list: "prompts" } }, h("thead", null, h("tr", null, ["Name", "Latest", "Labels", "Description", "Tags", "Updated"]
    .map((c, i) => h("th", { class: i === 1 ? "num" : null }, c)))), tbody));
  listNav({ items: () => [...tbody.querySelectorAll("tr")], onOpen: (row) => ctx.navigate(row.dataset.href) });
  return null;
}

export async function renderOne(root, ctx) {
  const name = ctx.params[0].replace(/\/+$/, "");
  let versions;
  try {
    versions = (await api.get(`/api/prompts/${promptPath(name)}/versions`)).data;
  } catch (error) {
    mount(root, h("div", { class: "empty" }, h("h2", null, "Prompt not found"), h("p", null, error.message), h("a", { href: "/prompts" }, "All prompts")));
    return null;
  }
  if (!ctx.alive()) return null;
  versions.sort((a, b) => b.version - a.version);
  if (!versions.length) {
    mount(root, h("div", { class: "empty" }, h("h2", null, `${name} has no versions yet`), h("pre", { class: "snippet" }, `spyglass prompts push ${name} -f template.txt`)));
    return null;
  }
  const byNumber = new Map(versions.map((v) => [v.version, v]));
  const state = {
    v: byNumber.has(Number(ctx.query.get("v"))) ? Number(ctx.query.get("v")) : versions[0].version,
    tab: ["version", "compare", "render", "labels"].includes(ctx.query.get("tab")) ? ctx.query.get("tab") : "version",
    a: ctx.query.get("a"),
    b: ctx.query.get("b"),
  };
  const list = h("div", { class: "card versions", dataset: { list: "versions" } });
  const panel = h("div", { class: "card card-pad" });
  const tabs = h("div", { class: "tabs", role: "tablist" });

  function sync() {
    ctx.setQuery({ v: state.v, tab: state.tab === "version" ? null : state.tab, a: state.tab === "compare" ? state.a : null, b: state.tab === "compare" ? state.b : null });
  }
  function drawList() {
    mount(list, versions.map((v) => h("a", { class: `version${v.version === state.v ? " selected" : ""}`, href: `/prompts/${promptPath(name)}?v=${v.version}`, dataset: { version: String(v.version) },
      on: { click: (e) => { e.preventDefault(); e.stopPropagation(); choose(v.version); } } },
    h("div", { class: "vh" }, h("strong", null, `v${v.version}`), labelChips(v.labels || []), h("span", { class: "spacer" }), h("span", { class: "faint", title: fmtFullTime(v.created_at) }, fmtAgo(v.created_at))),
    v.message ? h("div", { class: "muted ellipsis" }, v.message) : null, v.author ? h("div", { class: "faint" }, v.author) : null)));
    list.querySelectorAll(".spacer").forEach((sp) => { sp.style.flex = "1"; });
  }
  function choose(version) {
    state.v = version;
    if (state.tab === "compare") { state.a = null; state.b = null; }
    drawList();
    draw();
  }
  const nav = listNav({ items: () => [...list.querySelectorAll(".version")], onOpen: (node) => choose(Number(node.dataset.version)), onSelect: (node) => choose(Number(node.dataset.version)) });

  function versionTab(v) {
    return h("div", { class: "detail", dataset: { tab: "version" } },
      h("div", { class: "detail-title" }, h("h2", null, `${name} v${v.version}`), labelChips(v.labels || []), h("span", { class: "badge" }, v.engine), h("span", { class: "badge" }, v.type),
        h("span", { class: "spacer" }), h("a", { href: `/traces?prompt=${encodeURIComponent(`${name}/${v.version}`)}`, dataset: { tracesLink: "" } }, `Traces using v${v.version} →`)),
      v.message ? h("div", { class: "muted" }, v.message) : null,
      h("div", null, h("h3", null, "Template"), templateView(v.template)),
      h("div", null, h("h3", null, "Variables"), v.variables.length ? h("span", { class: "chips" }, v.variables.map((x) => h("span", { class: "chip" }, x))) : h("span", { class: "faint" }, "none")),
      v.model_config && Object.keys(v.model_config).length ? h("div", null, h("h3", null, "Model config"), jsonBlock(v.model_config)) : null,
      v.tools ? h("div", null, h("h3", null, "Tools"), jsonBlock(v.tools)) : null,
      v.response_format ? h("div", null, h("h3", null, "Response format"), jsonBlock(v.response_format)) : null,
      h("div", { class: "faint" }, `Created ${fmtFullTime(v.created_at)}${v.author ? ` by ${v.author}` : ""}`));
  }

  function picker(value, onChange, label) {
    const select = h("select", { "aria-label": label }, versions.map((v) => h("option", { value: String(v.version), selected: v.version === value }, `v${v.version}${v.labels?.length ? ` (${v.labels.join(", ")})` : ""}`)));
    select.addEventListener("change", () => onChange(Number(select.value)));
    return select;
  }

  function compareTab() {
    const b = byNumber.has(Number(state.b)) ? Number(state.b) : state.v;
    const older = versions.find((x) => x.version < b);
    const a = byNumber.has(Number(state.a)) ? Number(state.a) : (older ? older.version : b);
    const va = byNumber.get(a);
    const vb = byNumber.get(b);
    const config = (v) => JSON.stringify({ engine: v.engine, model_config: v.model_config, tools: v.tools, response_format: v.response_format }, null, 2);
    return h("div", { class: "detail", dataset: { tab: "compare" } },
      h("div", { class: "form-row" }, "Compare", picker(a, (x) => { state.a = x; state.b = b; sync(); draw(); }, "Left version"), "with",
        picker(b, (x) => { state.b = x; state.a = a; sync(); draw(); }, "Right version")),
      h("h3", null, "Template"), sideBySide(`v${a}`, templateText(va.template), `v${b}`, templateText(vb.template)),
      h("h3", null, "Settings"), sideBySide(`v${a}`, config(va), `v${b}`, config(vb)));
  }

  function renderTab(v) {
    const inputs = new Map();
    const out = h("div", { dataset: { rendered: "" } });
    const run = async () => {
      const variables = {};
      for (const [k, input] of inputs) variables[k] = input.value;
      try {
        const result = await api.post(`/api/prompts/${promptPath(name)}/render`, { version: v.version, variables });
        mount(out, h("h3", null, "Rendered"), result.warnings?.length ? h("div", { class: "badge warn" }, result.warnings.join("; ")) : null,
          typeof result.rendered === "string" ? h("pre", { class: "json" }, result.rendered) : templateView(result.rendered));
      } catch (error) {
        mount(out, h("div", { class: "error-box", role: "alert" }, error.message));
      }
    };
    return h("div", { class: "detail", dataset: { tab: "render" } },
      h("div", { class: "muted" }, `Fill in the variables of v${v.version} and render it as the gateway would.`),
      v.variables.length ? h("div", { class: "vars" }, v.variables.map((x) => {
        const input = h("textarea", { rows: 2, "aria-label": x, dataset: { variable: x } });
        inputs.set(x, input);
        return [h("label", null, x), input];
      })) : h("div", { class: "faint" }, "This version has no variables."),
      h("div", null, h("button", { type: "button", class: "primary", on: { click: run } }, "Render")), out);
  }

  async function labelsTab() {
    const node = h("div", { class: "detail", dataset: { tab: "labels" } });
    const current = new Map();
    versions.forEach((v) => (v.labels || []).forEach((l) => current.set(l, v.version)));
    const labelInput = h("input", { type: "text", list: "label-names", value: [...current.keys()][0] || "production", "aria-label": "Label", spellcheck: false });
    let target = state.v;
    const move = async () => {
      const label = labelInput.value.trim();
      if (!label) return;
      try {
        await api.put(`/api/prompts/${promptPath(name)}/labels/${encodeURIComponent(label)}`, { version: target });
        toast(`${label} → v${target}`);
        versions = (await api.get(`/api/prompts/${promptPath(name)}/versions`)).data.sort((x, y) => y.version - x.version);
        versions.forEach((v) => byNumber.set(v.version, v));
        drawList();
        draw();
      } catch (error) {
        toast(error.message);
      }
    };
    // A viewer's key only reads: the control is replaced by a note rather than refused later.
    const writable = await canWrite();
    mount(node,
      h("h2", null, "Labels"),
      current.size ? h("table", { class: "grid compact" }, h("tbody", null, [...current].map(([l, v]) => h("tr", null, h("td", null, h("span", { class: "badge label" }, l)), h("td", null, `v${v}`))))) : h("div", { class: "faint" }, "No labels yet."),
      h("h3", null, "Move a label"),
      writable ? h("div", { class: "form-row", dataset: { moveLabel: "" } }, labelInput, h("datalist", { id: "label-names" }, [...current.keys()].map((l) => h("option", { value: l }))), "to", picker(target, (x) => { target = x; }, "Target version"),
        h("button", { type: "button", class: "primary", on: { click: move } }, "Move label"))
        : h("div", { class: "read-only-note", dataset: { readOnly: "" } }, "Your key is a viewer's: it can read prompts but not move labels. Sign in with a member or admin key to move one."),
      h("h3", null, "History"), h("div", { class: "faint" }, "Loading…"));
    try {
      const history = (await api.get(`/api/prompts/${promptPath(name)}/history`)).data;
      node.lastChild.replaceWith(history.length ? h("table", { class: "grid compact", dataset: { history: "" } }, h("tbody", null, history.map((e) => h("tr", null,
        h("td", { class: "nowrap" }, fmtFullTime(e.at)), h("td", null, h("span", { class: "badge label" }, e.label)),
        h("td", null, `${e.from_version ? `v${e.from_version}` : "—"} → ${e.to_version ? `v${e.to_version}` : "removed"}`), h("td", { class: "muted" }, e.actor || ""))))) : h("div", { class: "faint" }, "No label moves yet."));
    } catch {
      node.lastChild.remove();
    }
    return node;
  }

  async function draw() {
    sync();
    [...tabs.children].forEach((b) => b.classList.toggle("active", b.dataset.name === state.tab));
    const v = byNumber.get(state.v);
    if (state.tab === "version") mount(panel, versionTab(v));
    else if (state.tab === "compare") mount(panel, compareTab());
    else if (state.tab === "render") mount(panel, renderTab(v));
    else mount(panel, await labelsTab());
    panel.querySelectorAll(".spacer").forEach((sp) => { sp.style.flex = "1"; });
  }
  for (const [key, title] of [["version", "Version"], ["compare", "Compare"], ["render", "Render preview"], ["labels", "Labels"]]) {
    tabs.appendChild(h("button", { type: "button", role: "tab", dataset: { name: key }, on: { click: () => { state.tab = key; draw(); } } }, title));
  }
  const prompt = await api.get("/api/prompts", { q: name, limit: 50 }).then((r) => r.data.find((p) => p.name === name)).catch(() => null);
  mount(root,
    h("div", { class: "trace-head" }, h("a", { href: "/prompts", class: "muted" }, "Prompts"), h("span", { class: "faint" }, "/"), h("h1", null, name),
      prompt?.description ? h("span", { class: "muted" }, prompt.description) : null, h("span", { class: "muted" }, `${fmtInt(versions.length)} versions`)),
    h("div", { class: "prompt-layout" }, list, h("div", null, tabs, panel)));
  drawList();
  nav.refresh();
  await draw();
  return null;
}
