// Datasets: the registry's list, a dataset's versions and rows (any version), and the
// "Add to dataset" dialog of the trace page (a trace's or span's input and output, editable).

import { api, canWrite } from "./api.js";
import { h, mount } from "./dom.js";
import { fmtAgo, fmtInt } from "./format.js";
import { listNav } from "./keys.js";

const short = (value, width = 120) => {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return text === undefined ? "" : text.length > width ? `${text.slice(0, width - 1)}…` : text;
};

/** The dialog: which dataset, and the example's input and expected answer, before saving. */
export async function addToDataset({ traceId, spanId, project }) {
  const params = spanId ? { span: spanId } : {};
  if (project) params.project = project;
  let example;
  try {
    example = await api.get(`/api/traces/${traceId}/example`, params);
  } catch (error) {
    example = { input: {}, expected: null, error: error.message };
  }
  let names = [];
  try {
    names = (await api.get("/api/datasets", project ? { project } : {})).data.map((d) => d.name);
  } catch {
    names = [];
  }
  const list = h("datalist", { id: "dataset-names" }, names.map((n) => h("option", { value: n })));
  const name = h("input", { type: "text", list: "dataset-names", "aria-label": "Dataset", placeholder: "dataset name, e.g. prod-regressions", value: names[0] || "" });
  const input = h("textarea", { rows: 8, class: "mono", "aria-label": "Input (JSON)" });
  input.value = JSON.stringify(example.input, null, 2);
  const expected = h("textarea", { rows: 4, "aria-label": "Expected" });
  expected.value = example.expected === null || example.expected === undefined ? "" : typeof example.expected === "string" ? example.expected : JSON.stringify(example.expected);
  const status = h("div", { class: "faint", role: "status" }, example.error ? `Nothing to prefill: ${example.error}` : "");
  const close = () => overlay.remove();
  async function save() {
    let parsed;
    try {
      parsed = JSON.parse(input.value || "{}");
      if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("an object of columns");
    } catch (error) {
      status.textContent = `Input: expected a JSON object of columns (${error.message})`;
      status.className = "section-err";
      return;
    }
    const target = name.value.trim();
    if (!target) { status.textContent = "Name the dataset."; status.className = "section-err"; return; }
    status.textContent = "Saving…";
    status.className = "faint";
    try {
      const version = await api.post(`/api/datasets/${encodeURIComponent(target)}/rows${project ? `?project=${encodeURIComponent(project)}` : ""}`, {
        from_traces: [{ trace_id: traceId, span_id: spanId || example.span_id || null, input: parsed, expected: expected.value === "" ? null : expected.value }],
        message: `from trace ${traceId}`,
      });
      mount(dialog, h("h2", null, "Added"),
        h("p", { dataset: { added: "" } }, `Added to `, h("a", { href: `/datasets/${encodeURIComponent(target)}?v=${version.version}` }, `${target} version ${version.version}`),
          ` (${fmtInt(version.row_count)} row${version.row_count === 1 ? "" : "s"}).`),
        h("div", { class: "form-actions" }, h("button", { type: "button", class: "primary", on: { click: close } }, "Done")));
    } catch (error) {
      status.textContent = error.message;
      status.className = "section-err";
    }
  }
  const dialog = h("div", { class: "card dataset-dialog", role: "dialog", "aria-modal": "true", "aria-label": "Add to dataset" },
    h("h2", null, spanId ? "Add this span to a dataset" : "Add this trace to a dataset"),
    h("label", null, "Dataset", name, list),
    h("label", null, "Input (the columns an eval prompt uses)", input),
    h("label", null, "Expected answer", expected),
    status,
    h("div", { class: "form-actions" },
      h("button", { type: "button", class: "primary", on: { click: save } }, "Add to dataset"),
      h("button", { type: "button", on: { click: close } }, "Cancel")));
  const overlay = h("div", { class: "overlay", on: { click: (e) => { if (e.target === overlay) close(); } } }, dialog);
  dialog.addEventListener("keydown", (event) => { if (event.key === "Escape") close(); event.stopPropagation(); });
  document.querySelector(".overlay")?.remove();
  document.body.appendChild(overlay);
  name.focus();
}

/** The bulk dialog: traces (each as its first span with messages) added to a dataset at once. */
export async function addManyToDataset({ traceIds }) {
  let names = [];
  try {
    names = (await api.get("/api/datasets")).data.map((d) => d.name);
  } catch {
    names = [];
  }
  const list = h("datalist", { id: "dataset-names-bulk" }, names.map((n) => h("option", { value: n })));
  const name = h("input", { type: "text", list: "dataset-names-bulk", "aria-label": "Dataset", value: names[0] || "" });
  const status = h("div", { class: "faint", role: "status" }, `Each trace's input and answer becomes a row (${fmtInt(traceIds.length)} traces).`);
  const close = () => overlay.remove();
  async function save() {
    const target = name.value.trim();
    if (!target) { status.textContent = "Name the dataset."; status.className = "section-err"; return; }
    status.textContent = "Saving…";
    try {
      const version = await api.post(`/api/datasets/${encodeURIComponent(target)}/rows`, {
        from_traces: traceIds.map((id) => ({ trace_id: id })), message: `${traceIds.length} traces from the trace list`,
      });
      mount(dialog, h("h2", null, "Added"), h("p", { dataset: { added: "" } }, "Added to ",
        h("a", { href: `/datasets/${encodeURIComponent(target)}?v=${version.version}` }, `${target} version ${version.version}`), ` (${fmtInt(version.row_count)} row${version.row_count === 1 ? "" : "s"}).`),
      h("div", { class: "form-actions" }, h("button", { type: "button", class: "primary", on: { click: close } }, "Done")));
    } catch (error) {
      status.textContent = error.message;
      status.className = "section-err";
    }
  }
  const dialog = h("div", { class: "card dataset-dialog", role: "dialog", "aria-modal": "true", "aria-label": "Add to dataset" },
    h("h2", null, `Add ${fmtInt(traceIds.length)} traces to a dataset`), h("label", null, "Dataset", name, list), status,
    h("div", { class: "form-actions" }, h("button", { type: "button", class: "primary", on: { click: save } }, "Add to dataset"),
      h("button", { type: "button", on: { click: close } }, "Cancel")));
  const overlay = h("div", { class: "overlay", on: { click: (e) => { if (e.target === overlay) close(); } } }, dialog);
  dialog.addEventListener("keydown", (event) => { if (event.key === "Escape") close(); event.stopPropagation(); });
  document.querySelector(".overlay")?.remove();
  document.body.appendChild(overlay);
  name.focus();
}

export async function renderList(root, ctx) {
  mount(root, h("div", { class: "muted" }, "Loading datasets…"));
  const found = (await api.get("/api/datasets")).data;
  if (!ctx.alive()) return null;
  if (!found.length) {
    mount(root, h("div", { class: "page-head" }, h("h1", null, "Datasets")),
      h("div", { class: "empty", dataset: { empty: "datasets" } }, h("h2", null, "No datasets yet"),
        h("p", null, "Push a file with ", h("code", null, "spyglass datasets push FILE"), ", or open a trace and choose ", h("b", null, "Add to dataset"), ".")));
    return null;
  }
  const tbody = h("tbody", null, found.map((d) => h("tr", { dataset: { href: `/datasets/${encodeURIComponent(d.name)}` } },
    h("td", { class: "name" }, h("a", { href: `/datasets/${encodeURIComponent(d.name)}` }, d.name)),
    h("td", { class: "num" }, `v${d.latest_version}`), h("td", { class: "num" }, fmtInt(d.row_count)),
    h("td", null, fmtAgo(d.updated_ns)), h("td", { class: "ellipsis faint" }, d.description || ""))));
  listNav({ items: () => [...tbody.querySelectorAll("tr")], onOpen: (row) => ctx.navigate(row.dataset.href) });
  tbody.addEventListener("click", (event) => { const row = event.target.closest("tr"); if (row && !event.target.closest("a")) ctx.navigate(row.dataset.href); });
  mount(root, h("div", { class: "page-head" }, h("h1", null, "Datasets")),
    h("table", { class: "grid", dataset: { list: "datasets" } },
      h("thead", null, h("tr", null, ["Name", "Version", "Rows", "Updated", "Description"].map((c, i) => h("th", { class: i === 1 || i === 2 ? "num" : null }, c)))), tbody));
  return null;
}

export async function renderOne(root, ctx) {
  const name = ctx.params[0];
  mount(root, h("div", { class: "muted" }, "Loading dataset…"));
  let info;
  try {
    info = await api.get(`/api/datasets/${encodeURIComponent(name)}`);
  } catch (error) {
    mount(root, h("div", { class: "empty" }, h("h2", null, error.status === 404 ? "Dataset not found" : "Could not load the dataset"),
      h("p", null, error.message), h("a", { href: "/datasets" }, "Back to Datasets")));
    return null;
  }
  if (!ctx.alive()) return null;
  const writable = await canWrite();
  const versions = info.versions;
  const wanted = Number(ctx.query.get("v")) || versions[0].version;
  const select = h("select", { "aria-label": "Version" }, versions.map((v) => h("option", { value: String(v.version), selected: v.version === wanted },
    `v${v.version} · ${fmtInt(v.row_count)} rows · ${fmtAgo(v.created_ns)}${v.message ? ` · ${short(v.message, 40)}` : ""}`)));
  const body = h("div");
  const detail = h("div", { class: "card card-pad", dataset: { rowDetail: "" }, hidden: true });

  async function show(version) {
    ctx.setQuery({ v: version === versions[0].version ? null : version });
    mount(body, h("div", { class: "muted" }, "Loading rows…"));
    const page = await api.get(`/api/datasets/${encodeURIComponent(name)}/rows`, { version });
    if (!ctx.alive()) return;
    const latest = version === versions[0].version;
    const rows = page.rows.map((row) => h("tr", { dataset: { rowId: row.row_id } },
      h("td", { class: "mono faint" }, row.row_id.slice(0, 8)),
      h("td", { class: "ellipsis" }, short(row.input)),
      h("td", { class: "ellipsis" }, row.expected === null ? h("span", { class: "faint" }, "—") : short(row.expected)),
      h("td", { class: "mono" }, row.source_trace_id ? h("a", { href: `/traces/${row.source_trace_id}${row.source_span_id ? `?span=${row.source_span_id}` : ""}` }, row.source_trace_id.slice(0, 12)) : h("span", { class: "faint" }, "—")),
      h("td", { class: "num faint" }, `v${row.version_added}`),
      writable && latest ? h("td", null, h("button", { type: "button", class: "ghost small", "aria-label": "Remove row", on: { click: async (event) => {
        event.stopPropagation();
        const version = await api.del(`/api/datasets/${encodeURIComponent(name)}/rows/${row.row_id}`);
        ctx.navigate(`/datasets/${encodeURIComponent(name)}?v=${version.version}`, { replace: true });
      } } }, "×")) : h("td")));
    const tbody = h("tbody", null, rows);
    tbody.addEventListener("click", (event) => {
      const tr = event.target.closest("tr");
      if (!tr || event.target.closest("a")) return;
      const row = page.rows.find((r) => r.row_id === tr.dataset.rowId);
      detail.hidden = false;
      mount(detail, h("h3", null, `Row ${row.row_id}`), h("h4", null, "Input"), h("pre", { class: "mono" }, JSON.stringify(row.input, null, 2)),
        h("h4", null, "Expected"), h("pre", null, row.expected === null ? "—" : typeof row.expected === "string" ? row.expected : JSON.stringify(row.expected, null, 2)),
        Object.keys(row.metadata || {}).length ? [h("h4", null, "Metadata"), h("pre", { class: "mono" }, JSON.stringify(row.metadata, null, 2))] : null);
    });
    mount(body, h("p", { class: "faint" }, `Version ${page.version}: ${fmtInt(page.rows.length)} rows. Evaluate it with `, h("code", null, `dataset: {registry: ${name}, version: ${page.version}}`), "."),
      h("table", { class: "grid", dataset: { list: "rows" } },
        h("thead", null, h("tr", null, ["Row", "Input", "Expected", "From trace", "Added", ""].map((c) => h("th", null, c)))), tbody));
  }

  select.addEventListener("change", () => show(Number(select.value)));
  mount(root, h("div", { class: "page-head" }, h("a", { href: "/datasets", class: "muted" }, "Datasets"), h("span", { class: "faint" }, "/"), h("h1", null, name), select),
    body, detail);
  await show(wanted);
  return null;
}
