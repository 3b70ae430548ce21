// The server's input limits (GET /api/v1/limits), so that input is checked here as the server will check it.
// Until they arrive, or if they cannot be had, the server's defaults hold: a server with lower limits then
// answers too_large (or bad_request), which the UI shows.

import { api } from "./api.js";

/** The limits in force, lengths in Unicode code points; `loadLimits` updates this object in place. */
export const limits = { maxMessageChars: 4000, maxGroupMembers: 1000, maxGroupNameChars: 64, maxNameChars: 64, maxReadIds: 100 };

let loading = null;

/** Fetches the limits once; after a failure the next call tries again. Resolves with `limits` either way. */
export function loadLimits() {
  loading ??= api("GET", "/limits").then((got) => {
    for (const key of Object.keys(limits)) {
      if (Number.isInteger(got?.[key]) && got[key] > 0) limits[key] = got[key];
    }
    return limits;
  }, () => {
    loading = null;
    return limits;
  });
  return loading;
}
