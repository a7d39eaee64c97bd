// Numbers and times as people read them; times in the viewer's own timezone.

const timeFormat = new Intl.DateTimeFormat(undefined, {
  month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
});
const fullFormat = new Intl.DateTimeFormat(undefined, {
  year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
  second: "2-digit", fractionalSecondDigits: 3, hour12: false, timeZoneName: "short",
});
const axisTime = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", hour12: false });
const axisDay = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });

export function toDate(value) {
  if (value === null || value === undefined) return null;
  if (typeof value === "number") return new Date(value > 1e14 ? value / 1e6 : value);
  return new Date(value);
}

export const fmtTime = (value) => (value ? timeFormat.format(toDate(value)) : "—");
export const fmtFullTime = (value) => (value ? fullFormat.format(toDate(value)) : "—");
export const fmtAxis = (date, spanMs) => (spanMs > 2 * 86400e3 ? axisDay : axisTime).format(date);

export function fmtAgo(value) {
  const seconds = (Date.now() - toDate(value).getTime()) / 1000;
  if (seconds < 60) return "just now";
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86400)} d ago`;
}

export function fmtMs(ms) {
  if (ms === null || ms === undefined) return "—";
  if (ms === 0) return "0";
  if (ms < 1) return `${(ms * 1000).toFixed(0)} µs`;
  if (ms < 1000) return `${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
  const minutes = Math.floor(ms / 60000);
  return `${minutes}m ${Math.round((ms % 60000) / 1000)}s`;
}

// A trace's or session's cost: "—" without LLM calls, "unknown" when none of its calls has a
// known price (never "$0" for that), "≥ $x" when only some have.
export function fmtCallsCost(row) {
  if (!row.llm_count) return "—";
  if (row.cost === null || row.cost === undefined) return "unknown";
  return row.unpriced_count > 0 ? `≥ ${fmtCost(row.cost)}` : fmtCost(row.cost);
}

export function fmtCost(cost) {
  if (cost === null || cost === undefined) return "—";
  if (cost === 0) return "$0";
  if (cost < 0.0001) return `$${cost.toExponential(1)}`;
  if (cost < 1) return `$${cost.toFixed(4)}`;
  return `$${cost.toFixed(2)}`;
}

const compact = new Intl.NumberFormat(undefined, { notation: "compact", maximumFractionDigits: 1 });
const plain = new Intl.NumberFormat();
export const fmtInt = (n) => (n === null || n === undefined ? "—" : plain.format(n));
export const fmtCompact = (n) => (n === null || n === undefined ? "—" : compact.format(n));
export const fmtPct = (x) => (x === null || x === undefined ? "—" : `${(x * 100).toFixed(x < 0.1 ? 1 : 0)}%`);

export function fmtTokens(input, output) {
  if (!input && !output) return "—";
  return `${fmtCompact(input || 0)} → ${fmtCompact(output || 0)}`;
}

/** Pretty JSON for a value that may be JSON text. */
export function pretty(value) {
  if (typeof value === "string") {
    const trimmed = value.trim();
    if ((trimmed.startsWith("{") && trimmed.endsWith("}")) || (trimmed.startsWith("[") && trimmed.endsWith("]"))) {
      try {
        return JSON.stringify(JSON.parse(trimmed), null, 2);
      } catch {
        return value;
      }
    }
    return value;
  }
  return JSON.stringify(value, null, 2);
}
