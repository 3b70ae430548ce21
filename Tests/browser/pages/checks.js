// The harness of the in-browser check pages: each check's result goes to window.__results (read by
// helpers.run_check_page), and to the page's log.

export const results = [];
window.__results = results;

export const log = (s) => { document.getElementById("log").textContent += s + "\n"; };
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const eq = (a, b) => JSON.stringify(a) === JSON.stringify(b);
export function assert(cond, msg) { if (!cond) throw new Error(msg); }

/** The arguments of `sock`'s next `event`, or a rejection after `ms`. */
export function waitFor(sock, event, ms = 5000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => { sock.off(event, h); reject(new Error("timeout waiting for " + event)); }, ms);
    const h = (...args) => { clearTimeout(t); sock.off(event, h); resolve(args); };
    sock.on(event, h);
  });
}

/** Runs one named check and records whether it passed. */
export async function check(name, fn) {
  try {
    await fn();
    results.push({ name, ok: true });
    log("ok   " + name);
  } catch (e) {
    results.push({ name, ok: false, detail: String(e && e.stack || e) });
    log("FAIL " + name + ": " + e);
  }
}
