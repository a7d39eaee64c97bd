// Sign-in, when the server has a master key: a key is checked with GET /api/auth/whoami, kept
// for this tab only (sessionStorage), and the page that asked for it opens.

import { checkKey, signIn } from "./api.js";
import { h, mount } from "./dom.js";

/** Only the UI's own paths are followed after sign-in (no open redirect). */
export function safeNext(value) {
  const next = String(value || "");
  return next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/signin") ? next : "/traces";
}

export async function render(root, ctx) {
  const next = safeNext(ctx.query.get("next"));
  const input = h("input", { type: "password", id: "signin-key", autocomplete: "off", spellcheck: false, placeholder: "sk-… or the master key", "aria-label": "Key", required: true });
  const message = h("div", { class: "signin-message", role: "alert" });
  const button = h("button", { type: "submit", class: "primary" }, "Sign in");
  const form = h("form", { class: "signin-form", dataset: { signin: "" } },
    h("label", { for: "signin-key" }, "Key"), input, message, button);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    if (!key) return;
    button.disabled = true;
    mount(message);
    try {
      const me = await checkKey(key);
      if (!me.authenticated) {
        mount(message, h("div", { class: "error-box" }, "This server does not ask for a key."));
        return;
      }
      signIn(key, me);
      document.dispatchEvent(new CustomEvent("spyglass:identity"));
      ctx.navigate(next, { replace: true });
    } catch (error) {
      const why = error.status === 401 ? `That key was not accepted: ${error.message}` : `Could not check the key: ${error.message}`;
      mount(message, h("div", { class: "error-box", dataset: { signinError: "" } }, why));
      input.select();
    } finally {
      button.disabled = false;
    }
  });
  mount(root, h("div", { class: "signin" }, h("div", { class: "card signin-card" },
    h("div", { class: "signin-brand" }, h("img", { src: "/ui/icon.svg", alt: "", width: 22, height: 22 }), h("span", null, "Spyglass")),
    h("h1", null, "Sign in"),
    h("p", { class: "muted" }, "This server needs a key. Use the master key or a virtual key (spyglass keys create); it is kept in this tab only and sent with each request."),
    form,
    next !== "/traces" ? h("p", { class: "faint" }, "You will go on to ", h("span", { class: "mono" }, next)) : null)));
  input.focus();
  return null;
}
