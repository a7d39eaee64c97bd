// The single-page app: a router over the history API, the theme, and the page modules.

import { setUnauthorizedHandler, signOut, whoami } from "./api.js";
import { h, mount } from "./dom.js";
import { installKeys, resetKeys, toggleHelp } from "./keys.js";
import * as traces from "./traces.js";
import * as trace from "./trace.js";
import * as sessions from "./sessions.js";
import * as dashboard from "./dashboard.js";
import * as prompts from "./prompts.js";
import * as evals from "./evals.js";
import * as datasets from "./datasets.js";
import * as reviews from "./reviews.js";
import * as signin from "./signin.js";
import * as apikeys from "./apikeys.js";

const ROUTES = [
  [/^\/traces\/?$/, "traces", traces.render],
  [/^\/traces\/([0-9a-fA-F]{32})$/, "traces", trace.render],
  [/^\/sessions\/?$/, "sessions", sessions.renderList],
  [/^\/sessions\/(.+)$/, "sessions", sessions.renderOne],
  [/^\/dashboard\/?$/, "dashboard", dashboard.render],
  [/^\/prompts\/?$/, "prompts", prompts.renderList],
  [/^\/prompts\/(.+)$/, "prompts", prompts.renderOne],
  [/^\/evals\/?$/, "evals", evals.renderList],
  [/^\/evals\/(.+)$/, "evals", evals.renderOne],
  [/^\/datasets\/?$/, "datasets", datasets.renderList],
  [/^\/datasets\/([^/]+)$/, "datasets", datasets.renderOne],
  [/^\/reviews\/?$/, "reviews", reviews.renderList],
  [/^\/reviews\/([0-9a-f]{32})$/, "reviews", reviews.renderOne],
  [/^\/keys\/?$/, "keys", apikeys.render],
  [/^\/signin\/?$/, "signin", signin.render],
];

const main = document.getElementById("main");
let cleanup = null;
let token = 0;

export function navigate(url, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  route();
}

/** Update the URL's query without re-rendering (filter state, selected span). */
export function setQuery(params, { replace = true } = {}) {
  const url = new URL(location.href);
  url.search = "";
  for (const [key, value] of Object.entries(params)) {
    if (value === null || value === undefined || value === "") continue;
    if (Array.isArray(value)) value.forEach((v) => url.searchParams.append(key, v));
    else url.searchParams.set(key, value);
  }
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
}

async function route() {
  if (cleanup) cleanup();
  cleanup = null;
  resetKeys();
  document.querySelector(".overlay")?.remove();
  const mine = ++token;
  let path = decodeURIComponent(location.pathname);
  if (path === "/" || path === "") {
    history.replaceState(null, "", "/traces");
    path = "/traces";
  }
  for (const [pattern, section, render] of ROUTES) {
    const match = path.match(pattern);
    if (!match) continue;
    document.querySelectorAll("[data-nav]").forEach((a) => a.classList.toggle("active", a.dataset.nav === section));
    const root = h("div", { class: "page" });
    mount(main, root);
    main.scrollTop = 0;
    const context = {
      params: match.slice(1),
      query: new URLSearchParams(location.search),
      alive: () => mine === token,
      navigate,
      setQuery,
    };
    try {
      cleanup = (await render(root, context)) || null;
      if (mine !== token && cleanup) cleanup();
    } catch (error) {
      if (mine === token) mount(root, h("div", { class: "error-box" }, `Could not load this page: ${error.message}`));
    }
    return;
  }
  mount(main, h("div", { class: "page" }, h("div", { class: "empty" }, h("h2", null, "Nothing here"),
    h("p", null, "This page does not exist. "), h("a", { href: "/traces" }, "Go to Traces"))));
}

// Same-origin links navigate in place; modified clicks (new tab) are left to the browser.
document.addEventListener("click", (event) => {
  const link = event.target instanceof Element ? event.target.closest("a[href]") : null;
  if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
  const href = link.getAttribute("href");
  if (!href || !href.startsWith("/") || href.startsWith("//") || href.startsWith("/api") || link.target) return;
  event.preventDefault();
  navigate(href);
});
window.addEventListener("popstate", route);

// Theme: the system's unless chosen; the choice is remembered.
const THEMES = ["system", "dark", "light"];
function applyTheme(theme) {
  if (theme === "system") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = theme;
  const button = document.getElementById("theme-button");
  button.textContent = { system: "◐ Auto", dark: "● Dark", light: "○ Light" }[theme];
  button.title = `Theme: ${theme} (click to change)`;
}
let theme = localStorage.getItem("spyglass.theme") || "system";
if (!THEMES.includes(theme)) theme = "system";
applyTheme(theme);
document.getElementById("theme-button").addEventListener("click", () => {
  theme = THEMES[(THEMES.indexOf(theme) + 1) % THEMES.length];
  localStorage.setItem("spyglass.theme", theme);
  applyTheme(theme);
});
document.getElementById("shortcuts-button").addEventListener("click", toggleHelp);

// Sign-in: a 401 from the API opens the sign-in page, which returns to this page after.
setUnauthorizedHandler(() => {
  if (location.pathname.startsWith("/signin")) return;
  signOut();
  showIdentity();
  navigate(`/signin?next=${encodeURIComponent(location.pathname + location.search)}`, { replace: true });
});

/** The top bar's key: its role and name, and a sign-out button (only when keys are in use). */
async function showIdentity() {
  const who = document.getElementById("who");
  const out = document.getElementById("signout-button");
  const me = await whoami();
  const signedIn = Boolean(me.authenticated);
  who.hidden = !signedIn;
  out.hidden = !signedIn;
  document.body.classList.toggle("read-only", signedIn && ["viewer", "ingest"].includes(me.role));
  document.querySelectorAll("[data-admin-only]").forEach((node) => { node.hidden = !apikeys.isAdmin(me); });
  if (!signedIn) return;
  mount(who, h("span", { class: `badge role role-${String(me.role).replace(/[^a-z]/g, "")}`, dataset: { role: me.role } }, me.role),
    h("span", { class: "who-name" }, me.name || me.id || ""));
  who.title = `Signed in with ${me.name || me.id}${me.team ? ` (team ${me.team})` : ""}`;
}
document.getElementById("signout-button").addEventListener("click", async () => {
  const me = await whoami();
  signOut();
  showIdentity();
  if (me.auth_required) navigate("/signin", { replace: true });
  else route();
});
document.addEventListener("spyglass:identity", showIdentity);

installKeys(navigate);
showIdentity();
route();
