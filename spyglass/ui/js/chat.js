// A span's messages as a conversation: roles, text, tool calls and their results, JSON
// pretty-printed, long text collapsed. Reads the GenAI conventions' `parts` messages and the
// OpenAI-shaped ones other instrumentations produce.

import { h } from "./dom.js";
import { pretty } from "./format.js";

const LONG_CHARS = 1500;
const LONG_LINES = 24;

/** Text that folds when long, with a button to show it all. */
export function longText(text, { mono = false } = {}) {
  const value = String(text ?? "");
  const cls = mono ? "msg-text mono" : "msg-text";
  const lines = value.split("\n");
  if (value.length <= LONG_CHARS && lines.length <= LONG_LINES) return h("div", { class: cls }, value);
  const head = lines.slice(0, LONG_LINES).join("\n").slice(0, LONG_CHARS);
  const body = h("div", { class: cls }, `${head}…`);
  let open = false;
  const button = h("button", { type: "button", class: "more" }, `Show all (${(value.length - head.length).toLocaleString()} more characters)`);
  button.addEventListener("click", () => {
    open = !open;
    body.textContent = open ? value : `${head}…`;
    button.textContent = open ? "Show less" : `Show all (${(value.length - head.length).toLocaleString()} more characters)`;
  });
  return h("div", null, body, button);
}

/** A value as pretty JSON in a scrolling block (or folded text when it is not JSON). */
export function jsonBlock(value) {
  const text = pretty(value);
  const looksJson = typeof value !== "string" || text !== value;
  return looksJson ? h("pre", { class: "json" }, text) : longText(text);
}

function parseMaybe(value) {
  if (typeof value !== "string") return value;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

function toolCall(id, name, args) {
  return h("div", { class: "tool-call", dataset: { part: "tool_call" } },
    h("div", { class: "tc-head" }, `→ ${name || "tool"}`, id ? h("span", { class: "faint" }, `  ${id}`) : null),
    args === undefined || args === null || args === "" ? null : jsonBlock(parseMaybe(args)));
}

function toolResult(id, value) {
  return h("div", { class: "tool-call", dataset: { part: "tool_result" } },
    h("div", { class: "tc-head" }, "← result", id ? h("span", { class: "faint" }, `  ${id}`) : null),
    jsonBlock(parseMaybe(value)));
}

function textPart(text) {
  const parsed = typeof text === "string" ? text.trim() : "";
  if ((parsed.startsWith("{") || parsed.startsWith("[")) && pretty(text) !== text) return jsonBlock(text);
  return longText(text);
}

function partNodes(message) {
  const nodes = [];
  if (Array.isArray(message.parts)) {
    for (const part of message.parts) {
      const type = part?.type;
      if (type === "text" || type === "reasoning") nodes.push(type === "reasoning" ? h("div", { class: "faint" }, "reasoning") : null, textPart(part.content ?? ""));
      else if (type === "tool_call") nodes.push(toolCall(part.id, part.name, part.arguments));
      else if (type === "tool_call_response") nodes.push(toolResult(part.id, part.response ?? part.result));
      else nodes.push(jsonBlock(part));
    }
  }
  const content = message.content;
  if (typeof content === "string" && content !== "") {
    nodes.push(message.role === "tool" ? toolResult(message.tool_call_id, content) : textPart(content));
  } else if (Array.isArray(content)) {
    for (const item of content) {
      if (item?.type === "text" && typeof item.text === "string") nodes.push(textPart(item.text));
      else if (typeof item === "string") nodes.push(textPart(item));
      else if (item?.type === "image_url") nodes.push(h("div", { class: "faint mono" }, `[image] ${item.image_url?.url ?? ""}`.slice(0, 300)));
      else nodes.push(jsonBlock(item));
    }
  } else if (content && typeof content === "object") {
    nodes.push(jsonBlock(content));
  }
  for (const call of message.tool_calls || []) {
    nodes.push(toolCall(call.id, call.name ?? call.function?.name, call.arguments ?? call.function?.arguments));
  }
  if (message.function_call) nodes.push(toolCall(null, message.function_call.name, message.function_call.arguments));
  return nodes;
}

function messageNode(message, fallbackRole) {
  if (!message || typeof message !== "object") return h("div", { class: "msg" }, h("div", { class: "msg-body" }, jsonBlock(message)));
  const role = String(message.role || fallbackRole || "message");
  const nodes = partNodes(message);
  return h("div", { class: `msg role-${role.replace(/[^a-z_]/gi, "")}`, dataset: { role } },
    h("div", { class: "msg-role" }, role, message.name ? h("span", { class: "faint" }, message.name) : null,
      message.finish_reason ? h("span", { class: "faint" }, `finish: ${message.finish_reason}`) : null),
    h("div", { class: "msg-body" }, nodes.length ? nodes : h("span", { class: "faint" }, "(empty)")));
}

/** The `content` column of a span as a chat view; null when it has none. */
export function renderContent(content) {
  const value = parseMaybe(content);
  if (!value || typeof value !== "object") return null;
  const items = [];
  if (Array.isArray(value.system) && value.system.length) items.push(messageNode({ role: "system", parts: value.system }));
  for (const message of Array.isArray(value.input) ? value.input : []) items.push(messageNode(message, "user"));
  for (const message of Array.isArray(value.output) ? value.output : []) items.push(messageNode(message, "assistant"));
  for (const [key, title] of [["input_value", "input"], ["output_value", "output"]]) {
    if (value[key] !== undefined && value[key] !== null) {
      items.push(h("div", { class: "msg" }, h("div", { class: "msg-role" }, title), h("div", { class: "msg-body" }, jsonBlock(value[key]))));
    }
  }
  if (Array.isArray(value.documents) && value.documents.length) items.push(documentsNode(value.documents));
  return items.length ? h("div", { class: "chat", dataset: { chat: "" } }, items) : null;
}

/** A retriever's (or reranker's) documents, in rank order: id, score, text and metadata. */
function documentsNode(documents) {
  return h("div", { class: "msg", dataset: { section: "documents" } },
    h("div", { class: "msg-role" }, `documents (${documents.length})`),
    documents.map((d, n) => h("div", { class: "msg-body document", dataset: { document: String(n) } },
      h("div", { class: "faint mono" }, `#${n + 1}`, d.id !== undefined ? ` · ${d.id}` : "",
        typeof d.score === "number" ? ` · score ${d.score.toPrecision(3)}` : ""),
      typeof d.content === "string" ? longText(d.content) : null,
      d.metadata && Object.keys(d.metadata).length ? jsonBlock(d.metadata) : null)));
}

/** A session's turn: the last user message of one span and the reply of another (or the same). */
export function turnMessages(askedContent, answeredContent = askedContent) {
  const asked = parseMaybe(askedContent);
  const answered = parseMaybe(answeredContent);
  const input = Array.isArray(asked?.input) ? asked.input : [];
  const lastUser = [...input].reverse().find((m) => m?.role === "user") || input[input.length - 1];
  const items = [];
  if (lastUser) items.push(messageNode(lastUser, "user"));
  for (const message of Array.isArray(answered?.output) ? answered.output : []) items.push(messageNode(message, "assistant"));
  return items.length ? h("div", { class: "chat" }, items) : null;
}
