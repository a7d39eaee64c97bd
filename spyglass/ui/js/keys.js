// Keyboard navigation: j/k/enter in lists, g-prefixed page jumps, "/" to search, "?" for help.

import { h } from "./dom.js";

let listHandler = null;

function typing(event) {
  const target = event.target;
  return target instanceof HTMLElement && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
}

/**
 * Make table rows (or any items) navigable with j/k and opened with enter.
 * Returns a controller; call .refresh() after the rows change.
 */
export function listNav({ items, onOpen, onSelect, scroll = true }) {
  const state = { index: -1 };
  const nav = {
    get index() { return state.index; },
    select(index) {
      const rows = items();
      if (!rows.length) return;
      state.index = Math.max(0, Math.min(rows.length - 1, index));
      rows.forEach((row, i) => row.classList.toggle("selected", i === state.index));
      const row = rows[state.index];
      if (scroll) row.scrollIntoView({ block: "nearest" });
      onSelect?.(row, state.index);
    },
    refresh() {
      const rows = items();
      rows.forEach((row, i) => row.classList.toggle("selected", i === state.index));
    },
    handle(event) {
      if (event.key === "j" || event.key === "ArrowDown") nav.select(state.index + 1);
      else if (event.key === "k" || event.key === "ArrowUp") nav.select(state.index - 1);
      else if (event.key === "Enter" && state.index >= 0) onOpen(items()[state.index], event);
      else return false;
      return true;
    },
  };
  listHandler = nav.handle;
  return nav;
}

/** A page's own key handler (the trace tree's), replacing the list's. */
export function setKeyHandler(handler) {
  listHandler = handler;
}

export function resetKeys() {
  listHandler = null;
}

const JUMPS = { t: "/traces", s: "/sessions", d: "/dashboard", p: "/prompts", e: "/evals", k: "/keys" };

export function installKeys(navigate) {
  let prefix = false;
  document.addEventListener("keydown", (event) => {
    if (event.metaKey || event.ctrlKey || event.altKey) return;
    if (event.key === "Escape") {
      document.querySelector(".overlay")?.remove();
      if (typing(event)) event.target.blur();
    }
    if (typing(event)) return;
    if (prefix) {
      prefix = false;
      if (JUMPS[event.key]) {
        event.preventDefault();
        navigate(JUMPS[event.key]);
      }
      return;
    }
    if (event.key === "g") {
      prefix = true;
      setTimeout(() => { prefix = false; }, 1200);
      return;
    }
    if (event.key === "/") {
      const search = document.querySelector("[data-search]");
      if (search) {
        event.preventDefault();
        search.focus();
        search.select?.();
      }
      return;
    }
    if (event.key === "?") {
      toggleHelp();
      return;
    }
    if (listHandler && listHandler(event)) event.preventDefault();
  });
}

const HELP = [
  ["j / k", "next / previous row or span"],
  ["Enter", "open the selected row"],
  ["← / →", "collapse / expand the selected span"],
  ["1 – 9", "a trace: score it on its first numeric score config"],
  ["y / n", "a trace: score it yes / no on its first boolean score config"],
  ["c", "a trace: write a comment to go with the next score"],
  ["/", "focus the search or query bar"],
  ["g t", "Traces"], ["g s", "Sessions"], ["g d", "Dashboard"], ["g p", "Prompts"], ["g e", "Evals"], ["g k", "Keys (admins)"],
  ["Esc", "leave a field, close this help"],
  ["?", "this help"],
];

export function toggleHelp() {
  const open = document.querySelector(".overlay");
  if (open) {
    open.remove();
    return;
  }
  const overlay = h("div", { class: "overlay", on: { click: (e) => { if (e.target === overlay) overlay.remove(); } } },
    h("div", { class: "card", role: "dialog", "aria-label": "Keyboard shortcuts" },
      h("h2", null, "Keyboard shortcuts"),
      h("div", { class: "keys" }, HELP.map(([k, what]) => [h("span", null, h("kbd", null, k)), h("span", null, what)]))));
  document.body.appendChild(overlay);
}
