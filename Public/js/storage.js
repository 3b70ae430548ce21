// What the client keeps in localStorage: the session, the last timeline seq
// seen, the outbox of sends not yet acknowledged, and tokens still to revoke.
// Keys are per user so two accounts used in one browser never mix their
// outboxes. Every tab of the browser shares them: see Chat._editOutbox for how
// tabs share the outbox, and app.js followStoredSession for the session.

const SESSION = "webchat.session";

function read(key, fallback) {
  try {
    const raw = localStorage.getItem(key);
    return raw === null ? fallback : JSON.parse(raw);
  } catch {
    return fallback;
  }
}

/** Stores a value; false when storage is full or disabled (the caller then keeps going in memory). */
function write(key, value) {
  try {
    localStorage.setItem(key, JSON.stringify(value));
    return true;
  } catch {
    return false;
  }
}

/** The saved session {token, user} or null. */
export const loadSession = () => read(SESSION, null);
export const saveSession = (session) => write(SESSION, session);
/** Removes the saved session if it is still the one with `token`: another tab may have signed in since. */
export const clearSession = (token) => {
  if (loadSession()?.token !== token) return;
  try { localStorage.removeItem(SESSION); } catch { /* storage disabled: nothing was kept */ }
};
/** Whether a "storage" event is about the saved session. */
export const isSessionEvent = (ev) => ev.key === SESSION || ev.key === null;

// Tokens signed out of while the server could not be reached, to revoke (DELETE /sessions/current) once it can.
const REVOKE = "webchat.revoke";
export const loadRevocations = () => {
  const tokens = read(REVOKE, []);
  return Array.isArray(tokens) ? tokens.filter((t) => typeof t === "string") : [];
};
export const addRevocation = (token) => write(REVOKE, [...new Set([...loadRevocations(), token])]);
export const removeRevocation = (token) => {
  const rest = loadRevocations().filter((t) => t !== token);
  if (rest.length) write(REVOKE, rest);
  else try { localStorage.removeItem(REVOKE); } catch { /* storage disabled */ }
};

/** Highest timeline seq processed by this browser for `user` (undefined if none). */
export const loadSeq = (user) => read(`webchat.seq.${user}`, undefined);
export const saveSeq = (user, seq) => write(`webchat.seq.${user}`, seq);

/** Outbox entries: {id, conversation, to?|group?, body, ts, state: "pending"|"failed", error?}. */
export const outboxKey = (user) => `webchat.outbox.${user}`;
export const loadOutbox = (user) => {
  const entries = read(outboxKey(user), []);
  return Array.isArray(entries) ? entries : [];
};
/** Returns false when the outbox could not be stored. */
export const saveOutbox = (user, entries) => write(outboxKey(user), entries);
