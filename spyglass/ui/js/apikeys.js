// Keys (admins only): the virtual keys with their role, limits, budget and state; creating one
// (its key shown once), revoking one, and usage per key and per model. Route:
// /keys?revoked=hide&days=7 (the toggle and the usage range are the page's only state).

import { api, whoami } from "./api.js";
import { h, mount, toast } from "./dom.js";
import { fmtAgo, fmtCompact, fmtCost, fmtFullTime, fmtInt, toDate } from "./format.js";
import { createForm, reveal } from "./keyform.js";

const DAYS = [7, 30];

/** Whether this key manages keys: an admin's, or anyone's when the server asks for no key. */
export function isAdmin(me) {
  return me.authenticated ? me.role === "admin" : !me.auth_required;
}

export function fmtPeriod(seconds) {
  if (!seconds) return "—";
  for (const [unit, size] of [["d", 86400], ["h", 3600], ["m", 60]]) if (seconds % size === 0) return `${seconds / size}${unit}`;
  return `${seconds}s`;
}

function fmtUntil(value) {
  const seconds = (toDate(value).getTime() - Date.now()) / 1000;
  if (seconds <= 0) return fmtAgo(value);
  if (seconds < 3600) return `in ${Math.max(1, Math.floor(seconds / 60))} min`;
  if (seconds < 86400) return `in ${Math.floor(seconds / 3600)} h`;
  return `in ${Math.floor(seconds / 86400)} d`;
}

function keyState(key) {
  if (key.revoked_at) return ["revoked", "error"];
  if (key.expires_at && toDate(key.expires_at) <= new Date()) return ["expired", "warn"];
  return ["active", "ok"];
}

function metaText(value) {
  return typeof value === "string" ? value : JSON.stringify(value);
}

function adminsOnly(root, role) {
  const whose = role ? `Your key is ${/^[aeiou]/.test(role) ? "an" : "a"} ${role}'s: it` : "Your key";
  mount(root, h("div", { class: "page-head" }, h("h1", null, "Keys")),
    h("div", { class: "empty", dataset: { adminsOnly: "" } },
      h("h2", null, "Keys are for admins only"),
      h("p", null, `${whose} cannot list, create or revoke keys, or read their usage. `,
        "Sign out and sign in with an admin key (or the master key) to manage keys.")));
}

function keyRow(key, onRevoke) {
  const [state, tone] = keyState(key);
  const details = [key.owner && `owner ${key.owner}`, key.project && `project ${key.project}`,
    ...Object.entries(key.metadata || {}).map(([k, v]) => `${k}=${metaText(v)}`)].filter(Boolean);
  const models = key.models === null || key.models === undefined
    ? h("span", { class: "faint" }, "all")
    : h("span", { class: "chips", title: key.models.join(", ") }, key.models.slice(0, 3).map((m) => h("span", { class: "badge" }, m)),
      key.models.length > 3 ? h("span", { class: "faint" }, `+${key.models.length - 3}`) : null);
  const limits = [key.rpm && `${fmtInt(key.rpm)} rpm`, key.tpm && `${fmtCompact(key.tpm)} tpm`].filter(Boolean);
  return h("tr", { dataset: { keyId: key.id, state }, class: state === "active" ? null : "inactive" },
    h("td", { class: "name" }, key.name || h("span", { class: "faint" }, "unnamed"),
      details.length ? h("span", { class: "sub ellipsis", title: details.join("\n") }, details.join(" · ")) : null),
    h("td", { class: "nowrap" }, h("span", { class: "mono" }, `${key.prefix}…`), h("span", { class: "sub mono" }, key.id)),
    h("td", null, h("span", { class: `badge role role-${key.role}` }, key.role)),
    h("td", { class: "ellipsis" }, key.team || h("span", { class: "faint" }, "—")),
    h("td", null, models),
    h("td", { class: "num" }, limits.length ? limits.join(" · ") : h("span", { class: "faint" }, "—")),
    h("td", { class: "num" }, key.budget_usd === null || key.budget_usd === undefined
      ? h("span", { class: "faint" }, "—") : `${fmtCost(key.budget_usd)} / ${fmtPeriod(key.budget_period_s)}`),
    h("td", { class: "nowrap", title: key.expires_at ? fmtFullTime(key.expires_at) : null },
      key.expires_at ? fmtUntil(key.expires_at) : h("span", { class: "faint" }, "never")),
    h("td", null, h("span", { class: `badge ${tone}`, title: key.revoked_at ? `revoked ${fmtFullTime(key.revoked_at)}` : null }, state)),
    h("td", { class: "nowrap muted", title: fmtFullTime(key.created_at) }, fmtAgo(key.created_at)),
    h("td", { class: "actions" }, key.revoked_at ? null
      : h("button", { type: "button", class: "danger-ghost", dataset: { revoke: key.id }, on: { click: () => onRevoke(key) } }, "Revoke")));
}

/** Ask before revoking: a dialog in the page (no window.confirm), Esc or Cancel to keep the key. */
function confirmRevoke(key, onConfirm) {
  const close = () => overlay.remove();
  const yes = h("button", { type: "button", class: "danger", on: { click: () => { close(); onConfirm(); } } }, "Revoke key");
  const no = h("button", { type: "button", on: { click: close } }, "Cancel");
  const overlay = h("div", { class: "overlay", on: { click: (e) => { if (e.target === overlay) close(); } } },
    h("div", { class: "card confirm", role: "dialog", "aria-modal": "true", "aria-label": "Revoke key" },
      h("h2", null, "Revoke ", h("span", { class: "mono" }, key.name || key.id), "?"),
      h("p", null, `Calls with ${key.prefix}… are refused at once here, and by other replicas within a few seconds. This cannot be undone.`),
      h("div", { class: "form-actions" }, yes, no)));
  document.querySelector(".overlay")?.remove();
  document.body.appendChild(overlay);
  no.focus();
}

function usageTable(title, column, rows, label) {
  const total = rows.reduce((t, r) => ({ requests: t.requests + r.requests, errors: t.errors + r.errors, input: t.input + r.input_tokens, output: t.output + r.output_tokens, cost: t.cost + r.cost }),
    { requests: 0, errors: 0, input: 0, output: 0, cost: 0 });
  const nums = (r) => [fmtInt(r.requests), fmtInt(r.errors), fmtInt(r.input_tokens), fmtInt(r.output_tokens), fmtCost(r.cost)]
    .map((v, i) => h("td", { class: `num${i === 1 && r.errors ? " fail" : ""}` }, v));
  return h("div", { class: "usage-block" }, h("h3", null, title),
    h("table", { class: "grid compact static", dataset: { usage: column } },
      h("thead", null, h("tr", null, h("th", null, column), ["Requests", "Errors", "Tokens in", "Tokens out", "Cost"].map((c) => h("th", { class: "num" }, c)))),
      h("tbody", null, rows.map((r) => h("tr", null, h("td", { class: "ellipsis" }, label(r)), nums(r)))),
      rows.length > 1 ? h("tfoot", null, h("tr", null, h("td", null, "Total"),
        nums({ requests: total.requests, errors: total.errors, input_tokens: total.input, output_tokens: total.output, cost: total.cost }))) : null));
}

async function loadUsage(body, days, names) {
  const [byKey, byModel] = await Promise.all([
    api.get("/api/usage", { group_by: "key", days }), api.get("/api/usage", { group_by: "model", days })]);
  const order = (a, b) => b.cost - a.cost || b.requests - a.requests;
  if (!byKey.data.length) {
    mount(body, h("div", { class: "muted usage-empty", dataset: { usageEmpty: "" } },
      `No calls with a virtual key in the last ${days} days. (Calls with the master key are not counted per key.)`));
    return;
  }
  mount(body, h("div", { class: "usage-grid" },
    usageTable("By key", "Key", byKey.data.sort(order), (r) => [names.get(r.key) || r.key, names.get(r.key) ? h("span", { class: "sub mono" }, r.key) : null]),
    usageTable("By model", "Model", byModel.data.sort(order), (r) => r.model || h("span", { class: "faint" }, "unknown"))));
}

export async function render(root, ctx) {
  const me = await whoami();
  if (!ctx.alive()) return null;
  if (me.authenticated && me.role !== "admin") {
    adminsOnly(root, me.role);
    return null;
  }
  let showRevoked = ctx.query.get("revoked") !== "hide";
  let days = DAYS.includes(Number(ctx.query.get("days"))) ? Number(ctx.query.get("days")) : 30;
  const sync = () => ctx.setQuery({ revoked: showRevoked ? null : "hide", days: days === 30 ? null : days });

  const revealSlot = h("div");
  const formSlot = h("div");
  const list = h("div", null, h("div", { class: "muted" }, "Loading…"));
  const usage = h("div", null, h("div", { class: "muted" }, "Loading…"));
  const create = h("button", { type: "button", class: "primary", dataset: { openCreate: "" } }, "Create key");
  const revokedBox = h("input", { type: "checkbox", checked: showRevoked });
  const daysSelect = h("select", { "aria-label": "Usage range" }, DAYS.map((d) => h("option", { value: d, selected: d === days }, `Last ${d} days`)));
  const refresh = h("button", { type: "button", class: "ghost", dataset: { refreshUsage: "" }, title: "Read the usage again" }, "↻ Refresh");
  let keys = [];

  const draw = () => {
    const shown = keys.filter((k) => showRevoked || !k.revoked_at);
    if (!keys.length) {
      mount(list, h("div", { class: "empty", dataset: { empty: "keys" } }, h("h2", null, "No keys yet"),
        h("p", null, "Create a virtual key for each app or person: its own role, models, rate limits, budget and expiry. Or from a shell:"),
        h("pre", { class: "snippet" }, "spyglass keys create --name billing-service --team payments --rpm 600 --budget 50")));
      return;
    }
    const hidden = keys.length - shown.length;
    mount(list,
      h("div", { class: "table-scroll" }, h("table", { class: "grid static keys-table", dataset: { list: "keys" } },
        h("thead", null, h("tr", null, ["Name", "Key", "Role", "Team", "Models", "Limits", "Budget", "Expires", "State", "Created", ""]
          .map((c, i) => h("th", { class: [5, 6].includes(i) ? "num" : null }, c)))),
        h("tbody", null, shown.map((k) => keyRow(k, revoke))))),
      h("div", { class: "list-foot" }, `${fmtInt(shown.length)} key${shown.length === 1 ? "" : "s"}`,
        hidden ? h("span", { class: "faint" }, `(${fmtInt(hidden)} revoked hidden)`) : null));
  };
  const loadKeys = async () => {
    keys = (await api.get("/api/keys", { include_revoked: true })).data;
    if (ctx.alive()) draw();
  };
  const names = () => new Map(keys.map((k) => [k.id, k.name || `${k.prefix}…`]));
  const reloadUsage = () => loadUsage(usage, days, names()).catch((error) => {
    if (error.status !== 401) mount(usage, h("div", { class: "error-box" }, `Could not load usage: ${error.message}`));
  });
  async function revoke(key) {
    confirmRevoke(key, async () => {
      try {
        await api.del(`/api/keys/${encodeURIComponent(key.id)}`);
        toast(`Revoked ${key.name || key.id}`);
        await loadKeys();
      } catch (error) {
        if (error.status !== 401) toast(`Could not revoke: ${error.message}`);
      }
    });
  }
  const closeForm = () => {
    mount(formSlot);
    create.disabled = false;
  };
  create.addEventListener("click", () => {
    const { form, focus } = createForm({
      onCreated: (key, record) => {
        closeForm();
        reveal(revealSlot, key, record, () => create.focus());
        loadKeys();
      },
      onCancel: closeForm,
    });
    mount(revealSlot);
    mount(formSlot, form);
    create.disabled = true;
    focus();
  });
  revokedBox.addEventListener("change", () => { showRevoked = revokedBox.checked; sync(); draw(); });
  daysSelect.addEventListener("change", () => { days = Number(daysSelect.value); sync(); reloadUsage(); });
  refresh.addEventListener("click", reloadUsage);

  mount(root,
    h("div", { class: "page-head" }, h("h1", null, "Keys"), h("span", { class: "muted" }, "Virtual keys: who may call, which models, how fast and how much"),
      h("span", { class: "spacer" }), h("label", { class: "toggle" }, revokedBox, "Show revoked"), create),
    revealSlot, formSlot, list,
    h("div", { class: "page-head toolbar" }, h("h2", null, "Usage"), h("span", { class: "muted" }, "Gateway calls made with each virtual key"),
      h("span", { class: "spacer" }), refresh, daysSelect),
    usage);
  try {
    await loadKeys();
  } catch (error) {
    if (error.status === 403) {
      adminsOnly(root, null);
      return null;
    }
    throw error;
  }
  if (ctx.alive()) await reloadUsage();
  return () => document.querySelector(".overlay .confirm")?.closest(".overlay")?.remove();
}
