// Building DOM without markup strings: every value becomes a text node or an attribute set
// through the DOM, so stored data (trace content, prompts, dataset rows) can never run.

const SVG_NS = "http://www.w3.org/2000/svg";

function append(node, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else if (child instanceof Node) node.appendChild(child);
    else node.appendChild(document.createTextNode(String(child)));
  }
}

function apply(node, props) {
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.setAttribute("class", value);
    else if (key === "text") node.textContent = String(value);
    else if (key === "on") for (const [type, fn] of Object.entries(value)) node.addEventListener(type, fn);
    else if (key === "style") for (const [name, v] of Object.entries(value)) node.style[name] = v;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "href") node.setAttribute("href", safeHref(value));
    else if (key in node && typeof value !== "string") node[key] = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
}

/** Only our own paths (and anchors) are links; anything else is neutralised. */
export function safeHref(value) {
  const text = String(value);
  return text.startsWith("/") && !text.startsWith("//") ? text : "#";
}

/** An HTML element: h("td", {class: "num"}, "12", child, [more]). */
export function h(tag, props, ...children) {
  const node = document.createElement(tag);
  apply(node, props);
  append(node, children);
  return node;
}

/** An SVG element; attributes are set with setAttribute (no markup). */
export function s(tag, attrs, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined) continue;
    if (key === "text") node.textContent = String(value);
    else if (key === "on") for (const [type, fn] of Object.entries(value)) node.addEventListener(type, fn);
    else node.setAttribute(key, String(value));
  }
  append(node, children);
  return node;
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

export function mount(node, ...children) {
  clear(node);
  append(node, children);
  return node;
}

let toastTimer = null;
export function toast(message) {
  document.querySelector(".toast")?.remove();
  const node = h("div", { class: "toast", role: "status" }, message);
  document.body.appendChild(node);
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => node.remove(), 2200);
}

export function copyButton(getText, label = "Copy") {
  return h("button", {
    type: "button",
    class: "copy",
    on: {
      click: async () => {
        try {
          await navigator.clipboard.writeText(getText());
          toast("Copied");
        } catch {
          toast("Copy failed: select the text instead");
        }
      },
    },
  }, label);
}
