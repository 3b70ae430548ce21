// What the client keeps in localStorage: the session, the last timeline seq
// seen, and the outbox of sends not yet acknowledged. Keys are per user so two
// accounts used in one browser never mix their outboxes.

const SESSION = "webchat.session";

function read(key, fallback) {
  try {
    const raw = localStorage.getItem(key);
    return raw === null ? fallback : JSON.parse(raw);
  } catch {
    return fallback;
  }
}

function write(key, value) {
  try { localStorage.setItem(key, JSON.stringify(value)); } catch { /* storage full or disabled: keep going in memory */ }
}

/** The saved session {token, user} or null. */
export const loadSession = () => read(SESSION, null);
export const saveSession = (session) => write(SESSION, session);
export const clearSession = () => localStorage.removeItem(SESSION);

/** Highest timeline seq processed by this browser for `user` (undefined if none). */
export const loadSeq = (user) => read(`webchat.seq.${user}`, undefined);
export const saveSeq = (user, seq) => write(`webchat.seq.${user}`, seq);

/** Outbox entries: {id, conversation, to?|group?, body, ts, state: "pending"|"failed", error?}. */
export const loadOutbox = (user) => read(`webchat.outbox.${user}`, []);
export const saveOutbox = (user, entries) => write(`webchat.outbox.${user}`, entries);
