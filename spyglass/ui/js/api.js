// The one place the UI talks to the server. When the master-key login lands (issue 7), the
// credential is added here and a 401 leads to its sign-in page.

export class ApiError extends Error {
  constructor(status, message, param) {
    super(message);
    this.status = status;
    this.param = param;
  }
}

function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params || {})) {
    if (value === null || value === undefined || value === "") continue;
    if (Array.isArray(value)) value.forEach((v) => search.append(key, v));
    else search.append(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

async function request(method, path, { params, body, signal } = {}) {
  const init = { method, headers: { Accept: "application/json" }, signal, credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path + query(params), init);
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = data?.error || {};
    const detail = typeof data?.detail === "string" ? data.detail : null;
    throw new ApiError(response.status, error.message || detail || `${response.status} ${response.statusText}`, error.param);
  }
  return data;
}

export const api = {
  get: (path, params, signal) => request("GET", path, { params, signal }),
  post: (path, body) => request("POST", path, { body }),
  put: (path, body) => request("PUT", path, { body }),
  del: (path) => request("DELETE", path),
};

/** A prompt name in a URL path: each segment encoded, the slashes kept. */
export function promptPath(name) {
  return name.split("/").map(encodeURIComponent).join("/");
}
