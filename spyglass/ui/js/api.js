// The one place the UI talks to the server. With a master key configured, every /api call
// needs a key: the one signed in with is kept in sessionStorage (this tab only, gone when it
// closes; never in a URL or a cookie) and sent as a bearer token; a 401 leads to sign-in.

const KEY = "spyglass.key";
let onUnauthorized = null;
let who = null;

/** Called (once per refusal) when the server answers 401: the sign-in page takes over. */
export function setUnauthorizedHandler(handler) {
  onUnauthorized = handler;
}

function storedKey() {
  try {
    return sessionStorage.getItem(KEY);
  } catch {
    return null;
  }
}

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
  const key = storedKey();
  if (key) init.headers.Authorization = `Bearer ${key}`;
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
    if (response.status === 401) onUnauthorized?.(error.message || detail);
    throw new ApiError(response.status, error.message || detail || `${response.status} ${response.statusText}`, error.param);
  }
  return data;
}

/** Ask the server who a key is (GET /api/auth/whoami); a 401 rejects without leaving the page. */
export async function checkKey(key) {
  const headers = { Accept: "application/json" };
  if (key) headers.Authorization = `Bearer ${key}`;
  const response = await fetch("/api/auth/whoami", { headers, credentials: "same-origin" });
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const message = data?.error?.message || (typeof data?.detail === "string" ? data.detail : `${response.status} ${response.statusText}`);
    throw new ApiError(response.status, message, data?.error?.code);
  }
  return data;
}

/** The signed-in key's identity ({authenticated, auth_required, role, name, ...}); cached. */
export function whoami({ fresh = false } = {}) {
  if (!who || fresh) who = checkKey(storedKey()).catch((error) => ({ authenticated: false, auth_required: error.status === 401, error }));
  return who;
}

export function signIn(key, identity) {
  sessionStorage.setItem(KEY, key);
  who = Promise.resolve(identity);
}

export function signOut() {
  sessionStorage.removeItem(KEY);
  who = null;
}

/** Whether the signed-in key may change things (a viewer only reads). */
export async function canWrite() {
  const me = await whoami();
  return !me.authenticated || !["viewer", "ingest"].includes(me.role);
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
