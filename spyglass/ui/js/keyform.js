// The Keys page's form: create a virtual key (POST /api/keys), with the API's validation
// errors shown beside the field they name, and the one-time reveal of the new key.

import { api } from "./api.js";
import { copyButton, h, mount } from "./dom.js";

export const ROLES = ["member", "admin", "viewer", "ingest"];

// [field, label, hint, input props]; the API's error `param` names one of these (expires_in
// and expires_at both belong to "expires").
const FIELDS = [
  ["name", "Name", "what the key is for", { placeholder: "billing-service", maxlength: 200 }],
  ["owner", "Owner", "who holds it", { placeholder: "ada@example.com", maxlength: 200 }],
  ["team", "Team", "team limits apply", { placeholder: "payments", maxlength: 200 }],
  ["project", "Project", null, { placeholder: "checkout", maxlength: 200 }],
  ["role", "Role", null, null],
  ["models", "Models", "comma-separated; empty: all", { placeholder: "all models" }],
  ["expires", "Expires", "a period or a date", { placeholder: "never (90d, 2027-01-31)" }],
  ["metadata", "Metadata", "k=v, k=v or JSON", { placeholder: "env=prod, tier=gold" }],
  ["rpm", "Requests / min", null, { inputmode: "numeric", placeholder: "no limit" }],
  ["tpm", "Tokens / min", null, { inputmode: "numeric", placeholder: "no limit" }],
  ["budget_usd", "Budget (USD)", null, { inputmode: "decimal", placeholder: "no budget" }],
  ["budget_period", "Budget period", null, { placeholder: "30d" }],
];
const FIELD_OF = { expires_in: "expires", expires_at: "expires" };

/** A number when the text is one; otherwise the text itself, for the API to name the field. */
function number(text) {
  const value = Number(text);
  return text !== "" && Number.isFinite(value) ? value : text;
}

function parseMetadata(text) {
  if (!text) return {};
  if (text.startsWith("{")) {
    let value;
    try {
      value = JSON.parse(text);
    } catch {
      throw new Error("not valid JSON");
    }
    if (value === null || typeof value !== "object" || Array.isArray(value)) throw new Error("expected a JSON object");
    return value;
  }
  const metadata = {};
  for (const line of text.split(/\n|,/)) {
    if (!line.trim()) continue;
    const at = line.indexOf("=");
    if (at <= 0) throw new Error(`expected key=value, got "${line.trim()}"`);
    metadata[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return metadata;
}

/**
 * The create form. `onCreated(key, record)` gets the new key and its record; the form keeps
 * neither (its fields are cleared).
 */
export function createForm({ onCreated, onCancel }) {
  const controls = {};
  const errors = {};
  const cells = FIELDS.map(([name, label, hint, props]) => {
    const id = `key-${name.replace(/_/g, "-")}`;
    const control = name === "role"
      ? h("select", { id, name }, ROLES.map((r) => h("option", { value: r }, r)))
      : name === "metadata"
        ? h("textarea", { id, name, rows: 1, spellcheck: false, ...props })
        : h("input", { id, name, type: "text", autocomplete: "off", spellcheck: false, ...props });
    const error = h("div", { class: "field-error", id: `${id}-error`, dataset: { fieldError: name } });
    control.setAttribute("aria-describedby", error.id);
    controls[name] = control;
    errors[name] = error;
    return h("div", { class: `field field-${name}`, dataset: { field: name } },
      h("label", { for: id }, label, hint ? h("span", { class: "hint" }, hint) : null), control, error);
  });
  const formError = h("div", { class: "form-error", role: "alert" });
  const submit = h("button", { type: "submit", class: "primary" }, "Create key");
  const cancel = h("button", { type: "button", on: { click: () => onCancel?.() } }, "Cancel");
  const form = h("form", { class: "card key-form", novalidate: true, dataset: { createKey: "" }, "aria-label": "Create a key" },
    h("div", { class: "key-form-grid" }, cells),
    formError,
    h("div", { class: "form-actions" }, submit, cancel,
      h("span", { class: "muted" }, "The key is shown once, when it is created.")));

  const clearErrors = () => {
    mount(formError);
    for (const [name, error] of Object.entries(errors)) {
      mount(error);
      controls[name].removeAttribute("aria-invalid");
    }
  };
  const showError = (param, message) => {
    const name = FIELD_OF[param] || param?.split(".")[0];
    if (name && errors[name]) {
      // The field is named beside it already; the message need not repeat it.
      const text = String(message);
      mount(errors[name], text.startsWith(`${param}: `) ? text.slice(param.length + 2) : text);
      controls[name].setAttribute("aria-invalid", "true");
      controls[name].focus();
    } else {
      mount(formError, h("div", { class: "error-box" }, message));
    }
  };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors();
    const text = (name) => controls[name].value.trim();
    const body = { role: controls.role.value };
    for (const name of ["name", "owner", "team", "project", "budget_period"]) if (text(name)) body[name] = text(name);
    if (text("models")) body.models = text("models").split(/[\s,]+/).filter(Boolean);
    for (const name of ["rpm", "tpm", "budget_usd"]) if (text(name)) body[name] = number(text(name));
    const expires = text("expires");
    if (expires) body[/^\d+\s*[a-z]+$/i.test(expires) ? "expires_in" : "expires_at"] = expires;
    try {
      body.metadata = parseMetadata(text("metadata"));
    } catch (error) {
      showError("metadata", error.message);
      return;
    }
    submit.disabled = true;
    try {
      const { key, ...record } = await api.post("/api/keys", body);
      form.reset();
      onCreated(key, record);
    } catch (error) {
      if (error.status !== 401) showError(error.param, error.message);
    } finally {
      submit.disabled = false;
    }
  });
  return { form, focus: () => controls.name.focus() };
}

/**
 * Show a new key once, with a copy button. Dismissing it drops the only reference the page
 * holds: the key is never stored, put in a URL or logged.
 */
export function reveal(slot, key, record, onDone) {
  let secret = key;
  const dismiss = () => {
    secret = null;
    mount(slot);
    onDone?.();
  };
  const done = h("button", { type: "button", class: "primary", dataset: { dismissKey: "" }, on: { click: dismiss } }, "Done: I have stored it");
  mount(slot, h("section", { class: "card reveal", dataset: { newKey: "" }, "aria-label": "The new key" },
    h("div", { class: "reveal-head" }, h("span", { class: "badge ok" }, "created"),
      h("strong", null, record.name || record.id), h("span", { class: "mono muted" }, record.id)),
    h("p", { class: "reveal-warn", role: "alert" }, h("strong", null, "Copy this key now: it will not be shown again. "),
      "Spyglass keeps only its hash and prefix; if it is lost, revoke it and create another."),
    h("div", { class: "reveal-key" }, h("code", { class: "secret", dataset: { secret: "" } }, secret),
      copyButton(() => secret || "", "Copy key")),
    h("div", { class: "form-actions" }, done)));
  done.focus();
}
