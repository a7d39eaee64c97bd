// Scores in the UI: how a score reads, the project's score configs as one-click controls (a
// comment beside them), and the scores a trace or span already has. Keyboard: 1–9 score the
// first numeric config, y / n the first boolean one, c writes a comment.

import { api, canWrite } from "./api.js";
import { h, mount } from "./dom.js";
import { fmtAgo } from "./format.js";

const configCache = new Map();

/** The score configs a project uses (cached for the page's life; "" for no project). */
export function loadConfigs(project) {
  const key = project || "";
  if (!configCache.has(key)) {
    configCache.set(key, api.get("/api/score-configs", project ? { project } : {}).then((r) => r.data).catch((error) => {
      configCache.delete(key);
      throw error;
    }));
  }
  return configCache.get(key);
}

/** A score's value as a person reads it. */
export function scoreText(score) {
  if (score.error && (score.value === null || score.value === undefined)) return "error";
  if (score.value === true) return "yes";
  if (score.value === false) return "no";
  if (typeof score.value === "number") return Number.isInteger(score.value) ? String(score.value) : score.value.toFixed(2);
  return String(score.value);
}

/** A compact badge: "helpful 4", for the trace list. */
export function scoreBadge(score) {
  const bad = score.value === false || score.error;
  return h("span", { class: `badge score${bad ? " bad" : ""}`, title: `${score.name}: ${scoreText(score)} (${score.source}${score.span_id ? ", on a span" : ""})`, dataset: { score: score.name } },
    score.name, " ", h("b", null, scoreText(score)));
}

function choices(config) {
  if (config.data_type === "boolean") return [[true, "Yes"], [false, "No"]];
  if (config.data_type === "categorical") return (config.categories || []).map((c) => [c, c]);
  const { min_value: low, max_value: high } = config;
  if (Number.isInteger(low) && Number.isInteger(high) && high - low <= 10) {
    const out = [];
    for (let v = low; v <= high; v++) out.push([v, String(v)]);
    return out;
  }
  return null; // any number: typed in
}

/**
 * The annotation panel for one target ({trace_id} or {trace_id, span_id}).
 * Returns {node, key(event) -> handled, refresh()}.
 */
export function annotator({ target, project, label = "this trace", shortcuts = false, only = [] }) {
  const node = h("div", { class: "annotate", dataset: { annotate: target.span_id ? "span" : "trace" } });
  const list = h("div", { class: "score-list", dataset: { scores: "" } });
  const comment = h("textarea", { rows: 2, placeholder: shortcuts ? "Comment (optional; c)" : "Comment (optional)", "aria-label": "Comment", class: "comment" });
  const status = h("span", { class: "faint", role: "status" });
  let configs = [];
  let scores = [];
  let writable = false;

  const mine = (name) => scores.filter((s) => s.name === name && s.source === "human").at(-1);

  async function save(config, value) {
    status.textContent = "Saving…";
    status.className = "faint";
    try {
      await api.post("/api/scores", { ...target, name: config.name, value, source: "human", comment: comment.value.trim() || null });
      comment.value = "";
      status.textContent = `Saved ${config.name}`;
      await refresh();
    } catch (error) {
      status.textContent = error.message;
      status.className = "section-err";
    }
  }

  async function remove(score) {
    try {
      await api.del(`/api/scores/${score.id}`);
      await refresh();
    } catch (error) {
      status.textContent = error.message;
    }
  }

  function controls() {
    if (!writable) return null;
    if (!configs.length) {
      return h("p", { class: "faint" }, "No score configs yet. Create one with ", h("code", null, "spyglass scores configs add NAME"), " or POST /api/score-configs.");
    }
    const firstNumeric = configs.find((c) => c.data_type === "numeric" && choices(c));
    const firstBoolean = configs.find((c) => c.data_type === "boolean");
    return h("div", { class: "score-controls" }, configs.map((config) => {
      const options = choices(config);
      const current = mine(config.name);
      const hint = !shortcuts ? "" : config === firstNumeric ? " (keys 1–9)" : config === firstBoolean ? " (y / n)" : "";
      let input;
      if (options) {
        input = options.map(([value, text]) => h("button", {
          type: "button",
          class: `choice${current && current.value === value ? " on" : ""}`,
          dataset: { choice: `${config.name}=${text}` },
          on: { click: () => save(config, value) },
        }, text));
      } else {
        const box = h("input", { type: "number", step: "any", min: config.min_value ?? undefined, max: config.max_value ?? undefined, "aria-label": config.name, value: current ? String(current.value) : "" });
        input = [box, h("button", { type: "button", on: { click: () => box.value !== "" && save(config, Number(box.value)) } }, "Save")];
      }
      return h("div", { class: "score-control", title: config.description || "", dataset: { config: config.name } },
        h("span", { class: "k" }, config.name, h("span", { class: "faint" }, hint)), h("span", { class: "choices" }, input));
    }), comment, status);
  }

  function draw() {
    const own = scores;
    mount(list, own.length
      ? own.map((s) => h("div", { class: "score-row", dataset: { scoreRow: s.name } },
        scoreBadge(s),
        h("span", { class: "faint" }, ` ${s.source}${s.author ? ` · ${s.author}` : ""}${s.scorer ? ` · ${s.scorer}` : ""} · ${fmtAgo(s.created_ns)}`),
        writable ? h("button", { type: "button", class: "ghost small", title: "Delete this score", "aria-label": `Delete ${s.name}`, on: { click: () => remove(s) } }, "×") : null,
        s.comment ? h("div", { class: "score-comment" }, s.comment) : null,
        s.error ? h("div", { class: "section-err" }, s.error) : null))
      : h("div", { class: "faint" }, `No scores on ${label} yet.`));
    mount(node, h("h3", null, "Scores"), list, controls());
  }

  async function refresh() {
    const [found, allowed, known] = await Promise.all([
      api.get("/api/scores", { ...(target.span_id ? target : { ...target, target: "trace" }), limit: 1000 }).then((r) => r.data),
      canWrite(),
      loadConfigs(project).catch(() => []),
    ]);
    scores = found.reverse(); // oldest first, as they were given
    writable = allowed;
    configs = only.length ? known.filter((c) => only.includes(c.name)) : known;
    draw();
  }

  function key(event) {
    if (!shortcuts || !writable || !configs.length) return false;
    if (event.key === "c") { comment.focus(); event.preventDefault(); return true; }
    if (/^[1-9]$/.test(event.key)) {
      const config = configs.find((c) => c.data_type === "numeric" && choices(c));
      const value = Number(event.key);
      if (config && choices(config).some(([v]) => v === value)) { save(config, value); return true; }
      return false;
    }
    if (event.key === "y" || event.key === "n") {
      const config = configs.find((c) => c.data_type === "boolean");
      if (config) { save(config, event.key === "y"); return true; }
    }
    return false;
  }

  comment.addEventListener("keydown", (event) => { if (event.key === "Escape") comment.blur(); event.stopPropagation(); });
  return { node, key, refresh };
}
