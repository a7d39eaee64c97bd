// Small SVG charts drawn by hand: stacked bars and lines over time buckets, with axes, a
// legend and a hover read-out. No library; every label is set as text.

import { h, s } from "./dom.js";
import { fmtAxis, fmtFullTime } from "./format.js";

export const PALETTE = ["#4f6bed", "#0e9f6e", "#e07b00", "#c8322a", "#7c4dff", "#0891b2", "#d946ef", "#65a30d"];
const W = 600;
const H = 180;
const PAD = { left: 48, right: 10, top: 10, bottom: 22 };

function niceMax(value) {
  if (!(value > 0)) return 1;
  const exp = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * exp >= value) return step * exp;
  return 10 * exp;
}

let tip = null;
function showTip(event, lines) {
  tip ||= document.body.appendChild(h("div", { class: "tip" }));
  tip.replaceChildren(...lines.map((line) => h("div", null, line)));
  tip.hidden = false;
  const x = Math.min(event.clientX + 12, window.innerWidth - tip.offsetWidth - 8);
  tip.style.left = `${x}px`;
  tip.style.top = `${event.clientY + 12}px`;
}
function hideTip() {
  if (tip) tip.hidden = true;
}

/**
 * A chart card.
 * @param {object} o title, times (ms), series [{name, values}], kind "bar"|"line", format(v).
 */
export function chart({ title, times, series, kind = "line", format = String, stacked = true }) {
  const n = times.length;
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const totals = times.map((_, t) => (kind === "bar" && stacked
    ? series.reduce((sum, se) => sum + (se.values[t] || 0), 0)
    : Math.max(0, ...series.map((se) => se.values[t] || 0))));
  const max = niceMax(Math.max(0, ...totals));
  const x = (t) => PAD.left + (n <= 1 ? plotW / 2 : (t / (n - 1)) * plotW);
  const step = n > 0 ? plotW / n : plotW;
  const y = (v) => PAD.top + plotH - (v / max) * plotH;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title });
  for (let g = 0; g <= 4; g++) {
    const value = (max * g) / 4;
    svg.appendChild(s("line", { class: "gridline", x1: PAD.left, x2: W - PAD.right, y1: y(value), y2: y(value) }));
    svg.appendChild(s("text", { class: "axis", x: PAD.left - 6, y: y(value) + 3, "text-anchor": "end", text: format(value) }));
  }
  const spanMs = n > 1 ? times[n - 1] - times[0] : 0;
  const labelEvery = Math.max(1, Math.ceil(n / 6));
  for (let t = 0; t < n; t += labelEvery) {
    const bx = kind === "bar" ? PAD.left + step * t + step / 2 : x(t);
    svg.appendChild(s("text", { class: "axis", x: bx, y: H - 6, "text-anchor": "middle", text: fmtAxis(new Date(times[t]), spanMs) }));
  }
  if (kind === "bar") {
    const width = Math.max(1, step * 0.72);
    for (let t = 0; t < n; t++) {
      let base = 0;
      series.forEach((se, k) => {
        const v = se.values[t] || 0;
        if (!v) return;
        const bx = PAD.left + step * t + (step - width) / 2;
        if (stacked) {
          svg.appendChild(s("rect", { x: bx, y: y(base + v), width, height: Math.max(0.5, y(base) - y(base + v)), fill: se.color || PALETTE[k % PALETTE.length], rx: 1 }));
          base += v;
        } else {
          const w = width / series.length;
          svg.appendChild(s("rect", { x: bx + w * k, y: y(v), width: w, height: Math.max(0.5, y(0) - y(v)), fill: se.color || PALETTE[k % PALETTE.length] }));
        }
      });
    }
  } else {
    series.forEach((se, k) => {
      let d = "";
      let pen = false;
      se.values.forEach((v, t) => {
        if (v === null || v === undefined) { pen = false; return; }
        d += `${pen ? "L" : "M"}${x(t).toFixed(1)},${y(v).toFixed(1)}`;
        pen = true;
      });
      if (d) svg.appendChild(s("path", { d, fill: "none", stroke: se.color || PALETTE[k % PALETTE.length], "stroke-width": 1.8, "stroke-linejoin": "round", "stroke-dasharray": se.dashed ? "4 3" : null }));
      se.values.forEach((v, t) => {
        if (v !== null && v !== undefined && (n < 60)) svg.appendChild(s("circle", { cx: x(t), cy: y(v), r: 2, fill: se.color || PALETTE[k % PALETTE.length] }));
      });
    });
  }
  const guide = s("line", { class: "hover-line", y1: PAD.top, y2: PAD.top + plotH, x1: -10, x2: -10 });
  svg.appendChild(guide);
  for (let t = 0; t < n; t++) {
    const cx = kind === "bar" ? PAD.left + step * t + step / 2 : x(t);
    svg.appendChild(s("rect", {
      x: cx - step / 2, y: PAD.top, width: step, height: plotH, fill: "transparent",
      on: {
        mousemove: (event) => {
          guide.setAttribute("x1", cx);
          guide.setAttribute("x2", cx);
          showTip(event, [fmtFullTime(times[t]), ...series.map((se) => `${se.name}: ${se.values[t] === null || se.values[t] === undefined ? "—" : format(se.values[t])}`)]);
        },
        mouseleave: () => { hideTip(); guide.setAttribute("x1", -10); guide.setAttribute("x2", -10); },
      },
    }));
  }
  const legend = series.length > 1 || series[0]?.name
    ? h("div", { class: "legend" }, series.map((se, k) => {
      const swatch = h("i");
      swatch.style.background = se.color || PALETTE[k % PALETTE.length];
      return h("span", null, swatch, se.name);
    }))
    : null;
  return h("div", { class: "card chart", dataset: { chart: title } }, h("h2", null, title), svg, legend);
}
