// The chat model: conversations, messages, users, typing and the outbox, kept
// in step with the server through REST (initial state, history) and the socket
// (timeline events, presence, typing). The UI subscribes to "change" events and
// renders; it never mutates this state directly.

import { api, seg, ApiError } from "./api.js";
import { SocketClient } from "./socketio.js";
import { limits } from "./limits.js";
import * as storage from "./storage.js";

// Errors that will not go away by sending the same thing again.
const PERMANENT = new Set(["bad_request", "unauthorized", "forbidden", "not_found", "conflict", "too_large"]);
const TYPING_IDLE_MS = 3000;
const TYPING_SHOW_MS = 6000;
// While typing goes on, "typing" is said again this often, well inside the TYPING_SHOW_MS the peer shows it for.
const TYPING_RESEND_MS = 3000;
const ACK_TIMEOUT_MS = 15000;
// A gap in positions up to this big is fetched in one request (the API's page limit); a bigger one reloads the newest page.
const GAP_FETCH_MAX = 100;
// Refreshes asked for within this time (receipts in a burst, focus and visibility together) make one request.
const REFRESH_COALESCE_MS = 300;
// What another tab queued is that tab's to send; this one sends it too only if it still waits this much later.
const OTHER_TAB_GRACE_MS = 3000;
// A send that may succeed later (no answer in time, rate_limited, unavailable, internal) is tried again this much later.
const RETRY_SEND_MS = 2000;
const USER_ID = "[a-z0-9][a-z0-9_.-]{1,31}";

/** Length of a text as the server counts it: code points, so an emoji is 1, not 2 UTF-16 units. */
export const bodyLength = (text) => [...text].length;

/** Conversation id of the direct chat between users a and b. */
export const dmId = (a, b) => (a < b ? `dm:${a}:${b}` : `dm:${b}:${a}`);

export class Chat extends EventTarget {
  /** @param {{token:string,user:{id:string,name:string}}} session */
  constructor(session) {
    super();
    this.me = session.user;
    this.token = session.token;
    this.conversations = new Map();
    this.messages = new Map(); // conversation id -> {byId: Map, hasMore, loaded}
    this.users = new Map([[this.me.id, { id: this.me.id, name: this.me.name }]]);
    this.typing = new Map(); // conversation id -> Map(user -> expiry ms)
    this.outbox = [];
    this._mine = new Set(); // ids of the entries this tab queued and has not seen acked
    this.seq = storage.loadSeq(this.me.id);
    this.current = null; // the open conversation id
    this.state = "offline";
    this.connectProblem = null; // why the server refused the last connection attempt, {code, reason}; null once connected
    this._flushing = false;
    this._synced = false; // the socket's replay is over (then "synced" has refreshed the call log)
    this._typingOut = null; // {conversation, timer, sentAt}
    this._userFetches = new Map();
    this._adoptOutbox(storage.loadOutbox(this.me.id));
    // Another tab of this user changed the shared outbox: show what it queued, sent or retried; help send
    // what it leaves waiting (it may have been closed, or have lost its connection).
    this._onStorage = (ev) => {
      if (ev.key !== storage.outboxKey(this.me.id)) return;
      this._adoptOutbox(storage.loadOutbox(this.me.id));
      clearTimeout(this._flushTimer);
      this._flushTimer = setTimeout(() => this._flushOutbox(), OTHER_TAB_GRACE_MS);
    };
  }

  // `conversation` is the id concerned; for "error" the message, for "refreshed" when the request began (performance.now()).
  _changed(kind, conversation) { this.dispatchEvent(new CustomEvent("change", { detail: { kind, conversation } })); }

  // --- start and stop ---

  /** Loads the call log, then connects the socket. */
  async start() {
    window.addEventListener("storage", this._onStorage);
    try {
      await this.refreshConversations();
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) { this.dispatchEvent(new CustomEvent("unauthorized")); return; }
      this._changed("error", e.message);
    }
    this.socket = new SocketClient("", {
      auth: () => (this.seq === undefined ? { token: this.token } : { token: this.token, since: this.seq }),
      autoConnect: false,
    });
    this.socket.onState((s) => { this.state = s; this._changed("connection"); });
    this.socket.on("connect", () => {
      this._synced = false;
      this.connectProblem = null;
      this._flushOutbox();
    });
    this.socket.on("connect_error", (err) => {
      if (err.message === "unauthorized") {
        this.socket.disconnect();
        this.dispatchEvent(new CustomEvent("unauthorized"));
        return;
      }
      // Refused for another reason (too many connections, the server's store out of reach): the socket keeps
      // trying, and the person is told why meanwhile, not just "Offline".
      this.connectProblem = { code: err.message, reason: typeof err.data?.reason === "string" ? err.data.reason : undefined };
      this._changed("connection");
    });
    this.socket.on("message", (m, ack) => this._timeline(m, ack, () => this._onMessage(m)));
    this.socket.on("receipt", (r, ack) => this._timeline(r, ack, () => this._onReceipt(r)));
    this.socket.on("group", (g, ack) => this._timeline(g, ack, () => this._onGroup(g)));
    this.socket.on("synced", () => { this._synced = true; this.refreshConversations().catch(() => {}); });
    this.socket.on("typing", (t) => this._onTyping(t));
    this.socket.on("presence", (p) => this._onPresence(p));
    this.socket.connect();
    this._typingSweep = setInterval(() => this._sweepTyping(), 1000);
  }

  /** Disconnects for good (sign-out). */
  stop() {
    clearInterval(this._typingSweep);
    clearTimeout(this._refreshTimer);
    clearTimeout(this._flushTimer);
    clearTimeout(this._retryTimer);
    window.removeEventListener("storage", this._onStorage);
    this.socket?.disconnect();
  }

  // Every timeline event: apply, remember its seq, then ack (after processing, as the contract asks).
  _timeline(event, ack, apply) {
    try {
      apply();
    } finally {
      if (typeof event?.seq === "number" && (this.seq === undefined || event.seq > this.seq)) {
        this.seq = event.seq;
        storage.saveSeq(this.me.id, this.seq);
      }
      if (ack) ack();
    }
  }

  // --- the call log ---

  /** Loads the call log; also catches up the open conversation and the others whose messages are held. */
  async refreshConversations() {
    const startedAt = performance.now();
    const data = await api("GET", "/conversations");
    const seen = new Set();
    for (const c of data?.conversations ?? []) {
      seen.add(c.id);
      const conv = this._conversation(c.id);
      conv.kind = c.kind;
      conv.title = c.title || conv.title;
      if (c.peer !== undefined) conv.peer = typeof c.peer === "string" ? c.peer : c.peer?.id;
      if (c.peer && typeof c.peer === "object" && "online" in c.peer) this._user(conv.peer).online = c.peer.online;
      if (c.group && typeof c.group === "object") conv.group = c.group;
      if (c.last) { this._putMessage(c.last); this._updateLast(conv); }
      // Server times only (never this browser's clock, which may be off), and never backwards: a live
      // event may have come in while this answer was on its way.
      conv.updatedAt = Math.max(conv.updatedAt || 0, c.updatedAt ?? c.last?.ts ?? 0);
      conv.unread = c.id === this.current && this._canMarkRead() ? 0 : c.unread ?? 0;
      if (conv.peer) this.user(conv.peer);
      // Another tab or device of this user may have written here: the last message shows the gap.
      if (c.last && c.id !== this.current) this._fillGapsQuietly(c.id);
    }
    // Conversations the server does not know yet (a chat opened but not written to, or with sends still queued) stay.
    for (const [id, conv] of this.conversations) {
      if (!seen.has(id) && !conv.local && !this.outbox.some((e) => e.conversation === id)) this.conversations.delete(id);
    }
    this._changed("list");
    this._changed("refreshed", startedAt);
    if (this.current) {
      this._catchUp(this.current).catch(() => {});
      this.markRead();
    }
  }

  /** Refreshes the call log soon; calls close together make one request. */
  refreshSoon() {
    if (this._refreshTimer) return;
    this._refreshTimer = setTimeout(() => {
      this._refreshTimer = null;
      this.refreshConversations().catch(() => {});
    }, REFRESH_COALESCE_MS);
  }

  _conversation(id) {
    let conv = this.conversations.get(id);
    if (!conv) {
      const kind = id.startsWith("grp:") ? "group" : "dm";
      conv = { id, kind, title: id, unread: 0, updatedAt: 0 };
      if (kind === "dm") {
        const [, a, b] = id.split(":");
        conv.peer = a === this.me.id ? b : a;
        conv.title = this.users.get(conv.peer)?.name ?? conv.peer;
      } else {
        conv.groupId = id.slice(4);
      }
      this.conversations.set(id, conv);
    }
    return conv;
  }

  /** Conversations newest first: by the server's times; above them, ones whose newest item only this browser has yet. */
  sortedConversations() {
    return [...this.conversations.values()].sort((a, b) => {
      const la = localSince(a);
      const lb = localSince(b);
      if ((la === undefined) !== (lb === undefined)) return la === undefined ? 1 : -1;
      const newer = la === undefined ? (b.updatedAt || 0) - (a.updatedAt || 0) : lb - la;
      return newer || a.id.localeCompare(b.id);
    });
  }

  /** Whether `id` may be opened: a conversation in the call log, or a direct chat of mine with a well-formed other id. */
  canOpen(id) {
    if (this.conversations.has(id)) return true;
    const dm = new RegExp(`^dm:(${USER_ID}):(${USER_ID})$`).exec(id);
    return !!dm && dm[1] < dm[2] && (dm[1] === this.me.id) !== (dm[2] === this.me.id);
  }

  /** A user's cached profile; fetches it once in the background when unknown. */
  user(id) {
    const u = this._user(id);
    if (!this._userFetches.has(id)) {
      this._userFetches.set(id, api("GET", `/users/${seg(id)}`).then((p) => {
        Object.assign(u, { name: p.name, online: p.online ?? u.online, lastSeen: p.lastSeen });
        for (const conv of this.conversations.values()) if (conv.peer === id && conv.title === id) conv.title = p.name;
        this._changed("list");
        this._changed("messages", this.current);
      }).catch(() => {}));
    }
    return u;
  }

  _user(id) {
    if (!this.users.has(id)) this.users.set(id, { id, name: id });
    return this.users.get(id);
  }

  // --- starting chats and groups ---

  /** Opens (creating locally if needed) the direct chat with `id`; throws a readable Error if no such user. */
  async startChat(id) {
    id = id.trim().toLowerCase();
    if (!id) throw new Error("Enter a user id.");
    if (id === this.me.id) throw new Error("That is you. Pick someone else.");
    let profile;
    try {
      profile = await api("GET", `/users/${seg(id)}`);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) throw new Error(`No user '${id}'`);
      throw e;
    }
    Object.assign(this._user(id), profile);
    const conv = this._conversation(dmId(this.me.id, id));
    conv.title = profile.name || id;
    if (!conv.updatedAt) { conv.local = true; conv.openedAt ??= Date.now(); }
    this._changed("list");
    return conv.id;
  }

  /** Creates a group; resolves with its conversation id. */
  async createGroup(name, members) {
    const res = await this._request("group:create", { name, members });
    const conv = this._applyGroup(res.group, "created");
    return conv.id;
  }

  async invite(conversationId, members) {
    const conv = this.conversations.get(conversationId);
    const res = await this._request("group:invite", { group: conv.groupId, members });
    this._applyGroup(res.group, "joined");
  }

  async leave(conversationId) {
    const conv = this.conversations.get(conversationId);
    await this._request("group:leave", { group: conv.groupId });
    this._forget(conversationId);
  }

  // A group I left or was removed from. Its messages go too: if I am invited back, the history is
  // loaded afresh, with what was said while I was away. So do its queued sends: the server would refuse
  // them (forbidden), and they would bring the conversation back into the call log.
  _forget(conversationId) {
    this.conversations.delete(conversationId);
    this.messages.delete(conversationId);
    if (this.outbox.some((e) => e.conversation === conversationId)) {
      for (const e of this.outbox) if (e.conversation === conversationId) this._mine.delete(e.id);
      this._editOutbox((list) => list.filter((e) => e.conversation !== conversationId));
    }
    if (this.current === conversationId) { this.stopTyping(); this.current = null; }
    this._changed("list");
    this._changed("open");
  }

  // Emits a request and turns {"ok":false,...} or transport failures into Errors with readable messages.
  async _request(event, payload) {
    let res;
    try {
      res = await this.socket.timeout(ACK_TIMEOUT_MS).emitWithAck(event, payload);
    } catch (e) {
      throw new Error(e.message === "offline" || e.message === "disconnected" ? "You are offline. Try again when connected." : "The server did not answer. Try again.");
    }
    if (!res || res.ok !== true) {
      const err = new Error(res?.error?.message ?? "Request failed");
      err.code = res?.error?.code;
      throw err;
    }
    return res;
  }

  _applyGroup(group, change) {
    const conv = this._conversation(`grp:${group.id}`);
    conv.kind = "group";
    conv.groupId = group.id;
    conv.group = group;
    conv.title = group.name || conv.title;
    // Acks carry no time; the "group" event that follows does. Until then it is listed as new here.
    if (!conv.updatedAt) conv.openedAt ??= Date.now();
    this._changed("list");
    this._changed("members", conv.id);
    return conv;
  }

  // --- messages ---

  _store(conversationId) {
    let s = this.messages.get(conversationId);
    if (!s) { s = { byId: new Map(), hasMore: undefined, loaded: false }; this.messages.set(conversationId, s); }
    return s;
  }

  _putMessage(m) {
    const s = this._store(m.conversation);
    const old = s.byId.get(m.id);
    const merged = { delivered: [], read: [], ...old, ...m };
    // Receipts may have arrived before the REST copy; never lose them.
    if (old) {
      merged.delivered = union(old.delivered, m.delivered);
      merged.read = union(old.read, m.read);
    }
    // The server's copy (it has a place): whichever tab sent it, it is no longer waiting.
    if (typeof merged.pos === "number") { delete merged.outbox; delete merged.error; this._mine.delete(m.id); }
    s.byId.set(m.id, merged);
    return merged;
  }

  _putOutboxMessage(entry) {
    const held = this.messages.get(entry.conversation)?.byId.get(entry.id);
    if (typeof held?.pos === "number") return held; // already on the server; whoever flushes next drops the entry
    const m = this._putMessage({
      id: entry.id, conversation: entry.conversation, from: this.me.id, body: entry.body, ts: entry.ts,
      to: entry.to, group: entry.group, outbox: entry.state, error: entry.error,
    });
    this._updateLast(this._conversation(entry.conversation));
    return m;
  }

  // The call log's preview: the conversation's last message in display order, of those held here (the
  // call log's `last` is held too). Worked out afresh each time, as a message may change place: one
  // that another tab sent comes after everything until the server's copy gives it its pos.
  _updateLast(conv) {
    let last = null;
    for (const m of this.messages.get(conv.id)?.byId.values() ?? []) if (!last || byDisplayOrder(last, m) <= 0) last = m;
    if (last) conv.last = last;
  }

  /** Messages of a conversation in display order (by pos; unsent ones last by time). */
  messageList(conversationId) {
    return [...this._store(conversationId).byId.values()].sort(byDisplayOrder);
  }

  /** Status of one's own message: pending|sent|delivered|read|failed. */
  status(m) {
    if (m.outbox) return m.outbox;
    const others = (xs) => (xs ?? []).some((u) => u !== this.me.id);
    if (others(m.read)) return "read";
    if (others(m.delivered)) return "delivered";
    return "sent";
  }

  /** Loads the newest page, or the page before the oldest one loaded. Returns the number added. */
  loadHistory(conversationId, older = false) {
    const s = this._store(conversationId);
    if (older) return this._loadPage(conversationId, s, true);
    // Opening and a refresh may both ask for the newest page at once: one request serves both.
    s.loadingNewest ??= this._loadPage(conversationId, s, false).finally(() => { s.loadingNewest = null; });
    return s.loadingNewest;
  }

  async _loadPage(conversationId, s, older) {
    if (older && s.hasMore === false) return 0;
    const positions = [...s.byId.values()].map((m) => m.pos).filter((p) => typeof p === "number");
    let path = `/conversations/${seg(conversationId)}/messages?limit=50`;
    if (older && positions.length) path += `&before=${Math.min(...positions)}`;
    let data;
    try {
      data = await api("GET", path);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) { s.hasMore = false; s.loaded = true; return 0; } // a chat not started yet
      throw e;
    }
    const page = (data?.messages ?? []).map((m) => this._putMessage(m));
    if (page.length && this.conversations.has(conversationId)) this._touch(page[page.length - 1]);
    if (!older || s.hasMore === undefined) s.hasMore = !!data?.hasMore;
    if (older) s.hasMore = !!data?.hasMore;
    s.loaded = true;
    this._changed("messages", conversationId);
    this._changed("list");
    if (conversationId === this.current) this.markRead();
    return page.length;
  }

  // Positions are gap-free on the server, so a hole in the ones held here is messages this tab never got:
  // sent from another tab or device of mine (the server echoes them to none of my connections), or said
  // in a group while I was away. Fetches them, newest hole first.
  async _fillGaps(conversationId) {
    const s = this.messages.get(conversationId);
    if (!s?.loaded || s.filling) return; // nothing shown yet (opening loads the newest page), or already at it
    s.filling = true;
    let fetched = false;
    try {
      for (let gap = highestGap(s); gap && this.messages.get(conversationId) === s; gap = highestGap(s)) {
        if (gap.count > GAP_FETCH_MAX) {
          // Too far behind to walk back: start again from the newest page, as when first opened.
          for (const [id, m] of s.byId) if (typeof m.pos === "number") s.byId.delete(id);
          s.hasMore = undefined;
          s.loaded = false; // so that, should this fail, the next catch-up loads the newest page
          await this.loadHistory(conversationId);
          fetched = true;
          continue;
        }
        const data = await api("GET", `/conversations/${seg(conversationId)}/messages?before=${gap.before}&limit=${gap.count}`);
        const got = (data?.messages ?? []).map((m) => this._putMessage(m));
        fetched = true;
        if (got.length && this.conversations.has(conversationId)) this._touch(got[got.length - 1]);
        this._changed("messages", conversationId);
        this._changed("list");
        if (!got.length) break; // not there after all: do not ask again and again
      }
    } finally {
      s.filling = false;
    }
    if (fetched && conversationId === this.current) this.markRead();
  }

  _fillGapsQuietly(conversationId) { this._fillGaps(conversationId).catch(() => {}); }

  // Brings a conversation's messages up to date: the newest page if none could be loaded yet, then any gap.
  async _catchUp(conversationId) {
    if (!this.messages.get(conversationId)?.loaded) await this.loadHistory(conversationId);
    await this._fillGaps(conversationId);
  }

  /** Queues a message to the conversation; it goes out now if connected, else on reconnect. */
  send(conversationId, body) {
    const conv = this._conversation(conversationId);
    // ts: this browser's clock, only to order unsent messages among themselves; the server's ts replaces it.
    const entry = { id: crypto.randomUUID(), conversation: conversationId, body, ts: Date.now(), state: "pending" };
    if (conv.kind === "group") entry.group = conv.groupId; else entry.to = conv.peer;
    this._mine.add(entry.id);
    this._editOutbox((list) => [...list, entry]);
    conv.local = false;
    this.stopTyping();
    this._flushOutbox();
  }

  /** Puts a failed message back into the queue. */
  retry(id) {
    if (!this.outbox.some((e) => e.id === id)) return;
    this._editOutbox((list) => list.map((e) => (e.id === id ? { ...e, state: "pending", error: undefined } : e)));
    this._flushOutbox();
  }

  /** Gives up a failed message: it leaves the outbox (in every tab) and its bubble goes. */
  discard(id) {
    const entry = this.outbox.find((e) => e.id === id);
    if (entry?.state !== "failed") return;
    this._mine.delete(id);
    this._editOutbox((list) => list.filter((e) => e.id !== id));
    this._dropUnsent(entry.conversation, id);
  }

  // Removes the bubble of an entry that left the outbox unsent; a conversation that only it kept in the call log
  // goes at the next refresh (the open one stays, as a chat opened but not written to).
  _dropUnsent(conversationId, id) {
    const s = this.messages.get(conversationId);
    const m = s?.byId.get(id);
    if (!m || typeof m.pos === "number") return;
    s.byId.delete(id);
    const conv = this.conversations.get(conversationId);
    if (conv) {
      conv.last = undefined;
      this._updateLast(conv);
      if (conversationId === this.current && conv.kind === "dm" && !conv.updatedAt) conv.local = true;
    }
    this._changed("messages", conversationId);
    this._changed("list");
    this.refreshSoon();
  }

  // Every tab of this user shares the stored outbox. A change is made to the outbox as stored now, not to
  // this tab's copy, so that what other tabs queued or sent in the meantime is kept (the "storage" event
  // that tells this tab about them may not have come yet). Two tabs may then both send an entry: the
  // server acks a repeated id with the original message and delivers nothing twice.
  _editOutbox(change) {
    const stored = storage.loadOutbox(this.me.id);
    let next = change([...stored, ...this._ownMissingFrom(stored)]);
    if (!storage.saveOutbox(this.me.id, next)) next = change(this.outbox); // no usable storage: this tab's copy is all there is
    this._adoptOutbox(next);
  }

  // This tab's own unacked entries that `list` lacks. Most likely another tab sent them; but localStorage has
  // no atomic read-modify-write across tabs, so another tab's write may also have overwritten them. They
  // stay queued here until this tab sees them acked: a repeat is harmless, a loss is not.
  _ownMissingFrom(list) {
    const ids = new Set(list.map((e) => e.id));
    return this.outbox.filter((e) => this._mine.has(e.id) && !ids.has(e.id));
  }

  // Makes `next` this tab's outbox and shows what changed in it.
  _adoptOutbox(next) {
    next = [...next, ...this._ownMissingFrom(next)];
    const before = new Map(this.outbox.map((e) => [e.id, e]));
    const kept = new Set(next.map((e) => e.id));
    const changed = new Set();
    this.outbox = next;
    for (const gone of before.values()) {
      if (kept.has(gone.id)) continue;
      const m = this.messages.get(gone.conversation)?.byId.get(gone.id);
      // Another tab discarded it (a failed entry is never sent, so it cannot have been acked).
      if (gone.state === "failed" && m?.outbox === "failed") { this._dropUnsent(gone.conversation, gone.id); continue; }
      // Another tab had it acked. It shows as sent until the server's copy (with its place) arrives.
      if (m?.outbox) { delete m.outbox; delete m.error; changed.add(gone.conversation); this.refreshSoon(); }
    }
    for (const entry of next) {
      const was = before.get(entry.id);
      if (was && was.state === entry.state && was.error === entry.error) continue;
      this._putOutboxMessage(entry);
      changed.add(entry.conversation);
    }
    for (const id of changed) this._changed("messages", id);
    if (changed.size) this._changed("list");
  }

  // Sends pending entries one at a time, in order, with their original ids (the server dedupes by id).
  async _flushOutbox() {
    if (this._flushing) { this._flushAgain = true; return; }
    this._flushing = true;
    try {
      do {
        this._flushAgain = false;
        for (const queued of [...this.outbox]) {
          // Looked up again each time: another tab may have sent or retried it meanwhile.
          const entry = this.outbox.find((e) => e.id === queued.id);
          if (entry?.state !== "pending" || !this.socket?.connected) continue;
          const payload = { id: entry.id, body: entry.body };
          if (entry.group) payload.group = entry.group; else payload.to = entry.to;
          let res;
          try {
            res = await this.socket.timeout(ACK_TIMEOUT_MS).emitWithAck("message", payload);
          } catch {
            // Offline or disconnected: stays pending for the next connect. No answer in time while the link
            // stays up (a stalled server, shorter than the ping timeout): no connect will come, so try again.
            this._retrySoon();
            break;
          }
          if (res?.ok === true) {
            // The bubble takes the server's copy first, so that dropping the entry finds nothing left to do.
            const m = this._putMessage({ ...(res.message ?? {}), id: entry.id, conversation: res.message?.conversation ?? entry.conversation });
            this._mine.delete(entry.id);
            this._dropFromOutbox(entry.id);
            this._touch(m);
          } else if (PERMANENT.has(res?.error?.code)) {
            const error = res.error.message;
            this._editOutbox((list) => list.map((e) => (e.id === entry.id ? { ...e, state: "failed", error } : e)));
          } else {
            // rate_limited, unavailable, internal: try again a little later.
            this._retrySoon();
            break;
          }
          this._changed("messages", entry.conversation);
          this._changed("list");
        }
      } while (this._flushAgain);
    } finally {
      this._flushing = false;
    }
  }

  // One later flush, however many sends asked for it (it does nothing while disconnected: the connect flushes).
  _retrySoon() {
    clearTimeout(this._retryTimer);
    this._retryTimer = setTimeout(() => this._flushOutbox(), RETRY_SEND_MS);
  }

  _dropFromOutbox(id) {
    this._editOutbox((list) => list.filter((e) => e.id !== id));
  }

  _touch(m) {
    const conv = this._conversation(m.conversation);
    this._updateLast(conv);
    // Only the server's times order the call log; an unsent message has only this browser's.
    if (typeof m.pos === "number") conv.updatedAt = Math.max(conv.updatedAt || 0, m.ts || 0);
    return conv;
  }

  // --- timeline events ---

  _onMessage(m) {
    if (!m?.id || !m.conversation) return;
    const known = this._store(m.conversation).byId.has(m.id);
    const stored = this._putMessage(m);
    if (m.from === this.me.id && this.outbox.some((e) => e.id === m.id)) this._dropFromOutbox(m.id);
    const conv = this._touch(stored);
    if (conv.kind === "dm" && conv.title === conv.peer) this.user(conv.peer);
    if (m.from !== this.me.id) {
      this._clearTyping(m.conversation, m.from);
      if (!known) {
        if (m.conversation === this.current && this._canMarkRead()) this.markRead();
        else conv.unread = (conv.unread || 0) + 1;
        this.dispatchEvent(new CustomEvent("incoming", { detail: stored }));
      }
    }
    conv.local = false;
    this._changed("messages", m.conversation);
    this._changed("list");
    this._fillGapsQuietly(m.conversation);
  }

  _onReceipt(r) {
    if (!r?.conversation || !Array.isArray(r.ids)) return;
    const s = this._store(r.conversation);
    let unknown = false;
    for (const id of r.ids) {
      const m = s.byId.get(id);
      if (!m) { unknown = true; continue; }
      const key = r.status === "read" ? "read" : "delivered";
      m[key] = union(m[key], [r.by]);
      if (key === "read") m.delivered = union(m.delivered, [r.by]);
    }
    // A receipt for a message of mine this tab lacks: another tab or device sent it. The call log has it
    // (and the open conversation catches up). During a replay, "synced" refreshes once at the end instead.
    if (unknown && this._synced) this.refreshSoon();
    this._changed("messages", r.conversation);
    this._changed("list");
  }

  _onGroup(g) {
    if (!g?.conversation) return;
    const users = g.users ?? [];
    if (g.change === "left" && users.includes(this.me.id)) {
      this._forget(g.conversation);
      return;
    }
    const conv = g.group ? this._applyGroup(g.group, g.change) : this._conversation(g.conversation);
    conv.updatedAt = Math.max(conv.updatedAt || 0, g.ts || 0);
    conv.notice = describeGroupChange(g, this.me.id);
    conv.noticeAt = g.ts || 0; // the preview shows whichever of notice and last message the server timed later
    this._changed("list");
  }

  _onTyping(t) {
    if (!t?.conversation || t.from === this.me.id) return;
    if (!this.typing.has(t.conversation)) this.typing.set(t.conversation, new Map());
    if (t.typing) this.typing.get(t.conversation).set(t.from, Date.now() + TYPING_SHOW_MS);
    else this.typing.get(t.conversation).delete(t.from);
    this.user(t.from);
    this._changed("typing", t.conversation);
  }

  _clearTyping(conversation, from) {
    if (this.typing.get(conversation)?.delete(from)) this._changed("typing", conversation);
  }

  _sweepTyping() {
    const now = Date.now();
    for (const [conv, who] of this.typing) {
      let changed = false;
      for (const [u, until] of who) if (until < now) { who.delete(u); changed = true; }
      if (changed) this._changed("typing", conv);
    }
  }

  /** Names of the people typing in a conversation. */
  typingNames(conversationId) {
    return [...(this.typing.get(conversationId)?.keys() ?? [])].map((u) => this._user(u).name || u);
  }

  _onPresence(p) {
    if (!p?.user) return;
    Object.assign(this._user(p.user), { online: !!p.online, lastSeen: p.lastSeen });
    this._changed("list");
    this._changed("presence", this.current);
  }

  // --- reading and typing out ---

  /** Opens a conversation: loads history if needed (and what is missing from it) and marks it read. */
  async open(conversationId) {
    this.stopTyping();
    this.current = conversationId;
    this._changed("open");
    await this._catchUp(conversationId);
    this.markRead();
  }

  close() { this.stopTyping(); this.current = null; this._changed("open"); }

  _canMarkRead() {
    return document.visibilityState === "visible" && document.hasFocus();
  }

  /** Sends `read` for the open conversation's unread incoming messages, if a person can see them. */
  markRead() {
    const id = this.current;
    if (!id || !this._canMarkRead()) return;
    const conv = this.conversations.get(id);
    const unread = this.messageList(id).filter((m) => m.from !== this.me.id && m.pos !== undefined && !(m.read ?? []).includes(this.me.id));
    if (conv && conv.unread) { conv.unread = 0; this._changed("list"); }
    if (!unread.length || !this.socket?.connected) return;
    for (const m of unread) m.read = union(m.read, [this.me.id]);
    for (let i = 0; i < unread.length; i += limits.maxReadIds) {
      const ids = unread.slice(i, i + limits.maxReadIds).map((m) => m.id);
      this.socket.timeout(ACK_TIMEOUT_MS).emitWithAck("read", { conversation: id, ids }).then((res) => {
        if (res?.ok !== true) this._unmarkRead(id, ids);
      }, () => this._unmarkRead(id, ids));
    }
  }

  // A read that did not reach the server is tried again on the next occasion.
  _unmarkRead(conversationId, ids) {
    const s = this._store(conversationId);
    for (const id of ids) {
      const m = s.byId.get(id);
      if (m) m.read = (m.read ?? []).filter((u) => u !== this.me.id);
    }
  }

  /** Call on each keystroke in the composer. */
  typed() {
    const conv = this.conversations.get(this.current);
    if (!conv || !this.socket?.connected) return;
    if (this._typingOut?.conversation !== conv.id) {
      this.stopTyping();
      this._typingOut = { conversation: conv.id, timer: null, sentAt: -Infinity };
    }
    // Said again every TYPING_RESEND_MS while keystrokes go on: the peer forgets it after TYPING_SHOW_MS.
    const now = Date.now();
    if (now - this._typingOut.sentAt >= TYPING_RESEND_MS) {
      this._typingOut.sentAt = now;
      this.socket.emit("typing", { ...this._target(conv), typing: true }, () => {});
    }
    clearTimeout(this._typingOut.timer);
    this._typingOut.timer = setTimeout(() => this.stopTyping(), TYPING_IDLE_MS);
  }

  stopTyping() {
    const t = this._typingOut;
    if (!t) return;
    this._typingOut = null;
    clearTimeout(t.timer);
    const conv = this.conversations.get(t.conversation);
    if (conv && this.socket?.connected) this.socket.emit("typing", { ...this._target(conv), typing: false }, () => {});
  }

  _target(conv) { return conv.kind === "group" ? { group: conv.groupId } : { to: conv.peer }; }
}

function union(a, b) { return [...new Set([...(a ?? []), ...(b ?? [])])]; }

// Display order: the messages the server has placed, by pos; after them the unsent ones, by when they were
// written (this browser's clock, compared only with itself).
function byDisplayOrder(a, b) {
  const pa = typeof a.pos === "number" ? a.pos : Infinity;
  const pb = typeof b.pos === "number" ? b.pos : Infinity;
  if (pa !== pb) return pa - pb;
  return (a.ts ?? 0) - (b.ts ?? 0);
}

// When a conversation's newest item exists only in this browser (a message not sent yet, a chat or group
// just made), its local time; undefined when the server has timed it.
function localSince(conv) {
  if (conv.last && typeof conv.last.pos !== "number") return conv.last.ts ?? 0;
  return conv.updatedAt ? undefined : conv.openedAt;
}

// The highest hole in the positions held, as {before, count}. Below the lowest one held only when the
// start of the conversation is known to be loaded (hasMore false); otherwise that is for scrolling back.
function highestGap(s) {
  const held = new Set();
  for (const m of s.byId.values()) if (typeof m.pos === "number") held.add(m.pos);
  const positions = [...held].sort((a, b) => a - b);
  if (s.hasMore === false) positions.unshift(0);
  for (let i = positions.length - 1; i > 0; i--) {
    const count = positions[i] - positions[i - 1] - 1;
    if (count > 0) return { before: positions[i], count };
  }
  return null;
}

function describeGroupChange(g, me) {
  const who = (g.users ?? []).join(", ");
  if (g.change === "created") return g.by === me ? "You created the group" : `${g.by} added you`;
  if (g.change === "joined") return `${who} joined`;
  if (g.change === "left") return `${who} left`;
  return "";
}
