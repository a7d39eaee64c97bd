// A line diff (longest common subsequence) laid out side by side.

import { h } from "./dom.js";

const MAX_CELLS = 4_000_000; // beyond this, the sides are shown without alignment

/** Pairs of [left line | null, right line | null, kind] with kind "same" | "del" | "add". */
export function diffLines(a, b) {
  const n = a.length;
  const m = b.length;
  if (n * m > MAX_CELLS) return a.map((l, i) => [l, b[i] ?? null, l === b[i] ? "same" : "change"]);
  const table = Array.from({ length: n + 1 }, () => new Int32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) {
    table[i][j] = a[i] === b[j] ? table[i + 1][j + 1] + 1 : Math.max(table[i + 1][j], table[i][j + 1]);
  }
  const out = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) { out.push([a[i++], b[j++], "same"]); continue; }
    // Deletions first, so that a replaced line pairs with its replacement below.
    if (i < n && (j >= m || table[i + 1][j] >= table[i][j + 1])) out.push([a[i++], null, "del"]);
    else out.push([null, b[j++], "add"]);
  }
  // A deletion followed by additions reads better as changed lines, side by side.
  const merged = [];
  for (let k = 0; k < out.length; k++) {
    if (out[k][2] !== "del") { merged.push(out[k]); continue; }
    let end = k;
    while (end < out.length && out[end][2] === "del") end++;
    let add = end;
    while (add < out.length && out[add][2] === "add") add++;
    const dels = out.slice(k, end);
    const adds = out.slice(end, add);
    for (let p = 0; p < Math.max(dels.length, adds.length); p++) merged.push([dels[p]?.[0] ?? null, adds[p]?.[1] ?? null, "change"]);
    k = add - 1;
  }
  return merged;
}

export function sideBySide(leftTitle, leftText, rightTitle, rightText) {
  const pairs = diffLines(leftText.split("\n"), rightText.split("\n"));
  const left = [h("div", { class: "side-head" }, leftTitle)];
  const right = [h("div", { class: "side-head" }, rightTitle)];
  let ln = 0;
  let rn = 0;
  for (const [l, r, kind] of pairs) {
    left.push(h("div", { class: `ln ${l === null ? "pad" : kind === "same" ? "" : "del"}` }, h("span", { class: "no" }, l === null ? "" : ++ln), h("span", { class: "tx" }, l ?? "")));
    right.push(h("div", { class: `ln ${r === null ? "pad" : kind === "same" ? "" : "add"}` }, h("span", { class: "no" }, r === null ? "" : ++rn), h("span", { class: "tx" }, r ?? "")));
  }
  const changed = pairs.filter((p) => p[2] !== "same").length;
  return h("div", null, h("div", { class: "muted", dataset: { changed: String(changed) } }, changed ? `${changed} line${changed === 1 ? "" : "s"} differ` : "No differences"),
    h("div", { class: "diff", dataset: { diff: "" } }, h("div", { class: "col" }, left), h("div", { class: "col" }, right)));
}
