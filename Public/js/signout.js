// Ending a session on the server. Signing out on the device matters most, but the token must not stay valid on
// the server because the server could not be reached just then: such sign-outs are kept in storage and tried
// again, after REVOKE_FIRST_MS doubling up to REVOKE_MAX_MS, at once when the browser is online again, and at
// the next start.

import { ApiError, api } from "./api.js";
import * as storage from "./storage.js";

// How long one attempt waits for the server.
const WAIT_MS = 5000;
const REVOKE_FIRST_MS = 3000;
const REVOKE_MAX_MS = 60000;

let revoking = false;
let timer = null;
let delay = REVOKE_FIRST_MS;
let onRevoked = () => {};

/** Ends the session of `token` (the current one when undefined) on the server. False when it must be tried
 *  again: the server was not reached or could not do it now; any other answer (401: already ended) is final. */
export async function endOnServer(token) {
  try {
    await api("DELETE", "/sessions/current", undefined, { token, signal: AbortSignal.timeout(WAIT_MS) });
    return true;
  } catch (e) {
    return e instanceof ApiError && e.status !== 0 && e.status !== 429 && e.status < 500;
  }
}

/** Keeps `token` to end on the server later, and tries soon. */
export function revokeLater(token) {
  storage.addRevocation(token);
  schedule(REVOKE_FIRST_MS);
}

/** `listener()` runs when a sign-out kept for later has been done on the server. */
export function whenRevoked(listener) { onRevoked = listener; }

function schedule(ms) {
  clearTimeout(timer);
  timer = setTimeout(revokePending, ms);
}

/** Ends on the server the sessions signed out of while it could not be reached; tries again later if it still cannot. */
export async function revokePending() {
  clearTimeout(timer);
  timer = null;
  if (revoking) return;
  revoking = true;
  let left = false;
  let done = false;
  try {
    for (const token of storage.loadRevocations()) {
      if (await endOnServer(token)) {
        storage.removeRevocation(token);
        done = true;
      } else {
        left = true;
      }
    }
  } finally {
    revoking = false;
  }
  if (left) {
    schedule(delay);
    delay = Math.min(delay * 2, REVOKE_MAX_MS);
    return;
  }
  delay = REVOKE_FIRST_MS;
  if (done) onRevoked();
}
