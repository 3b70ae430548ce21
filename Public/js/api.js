// REST calls to /api/v1 with the bearer token; errors become ApiError with the
// server's {"error":{"code","message"}} message so the UI can show it as is.

/** An HTTP error from the API, carrying the contract's stable code. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let token = null;

/** Sets the bearer token used by later calls (null to clear). */
export function setToken(value) { token = value; }

/** Calls the API; resolves with the parsed JSON body (or null for empty bodies). `options.token`: a bearer
 *  token to use instead of the one set (revoking one signed out of earlier); `options.signal`: to give up
 *  (an abort is taken as the server being out of reach). */
export async function api(method, path, body, options = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const bearer = options.token ?? token;
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  let res;
  try {
    res = await fetch(`/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: options.signal });
  } catch {
    throw new ApiError(0, "unavailable", "Cannot reach the server. Check your connection and try again.");
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!res.ok) {
    const err = data && data.error;
    throw new ApiError(res.status, err?.code ?? "internal", err?.message ?? `Request failed (${res.status})`);
  }
  return data;
}

/** Encodes one path segment (user ids, conversation ids like "dm:a:b"). */
export const seg = (s) => encodeURIComponent(s);
