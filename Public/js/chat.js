// The chat model: conversations, messages, users, typing and the outbox, kept
// in step with the server through REST (initial state, history) and the socket
// (timeline events, presence, typing). The UI subscribes to "change" events and
// renders; it never mutates this state directly.

import { api, seg, ApiError } from "./api.js";
import { SocketClient } from "./socketio.js";
import * as storage from "./storage.js";

// Errors that will not go away by sending the same thing again.
const PERMANENT = new Set(["bad_request", "unauthorized", "forbidden", "not_found", "conflict", "too_large"]);
const TYPING_IDLE_MS = 3000;
const TYPING_SHOW_MS = 6000;
const ACK_TIMEOUT_MS = 15000;

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
    this.outbox = storage.loadOutbox(this.me.id);
    this.seq = storage.loadSeq(this.me.id);
    this.current = null; // the open conversation id
    this.state = "offline";
    this._flushing = false;
    this._typingOut = null; // {conversation, timer}
    this._userFetches = new Map();
    for (const entry of this.outbox) this._putOutboxMessage(entry);
  }

  _changed(kind, conversation) { this.dispatchEvent(new CustomEvent("change", { detail: { kind, conversation } })); }

  // --- start and stop ---

  /** Loads the call log, then connects the socket. */
  async start() {
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
    this.socket.on("connect", () => this._flushOutbox());
    this.socket.on("connect_error", (err) => {
      if (err.message === "unauthorized") {
        this.socket.disconnect();
        this.dispatchEvent(new CustomEvent("unauthorized"));
      }
    });
    this.socket.on("message", (m, ack) => this._timeline(m, ack, () => this._onMessage(m)));
    this.socket.on("receipt", (r, ack) => this._timeline(r, ack, () => this._onReceipt(r)));
    this.socket.on("group", (g, ack) => this._timeline(g, ack, () => this._onGroup(g)));
    this.socket.on("synced", () => this.refreshConversations().catch(() => {}));
    this.socket.on("typing", (t) => this._onTyping(t));
    this.socket.on("presence", (p) => this._onPresence(p));
    this.socket.connect();
    this._typingSweep = setInterval(() => this._sweepTyping(), 1000);
  }

  /** Disconnects for good (sign-out). */
  stop() {
    clearInterval(this._typingSweep);
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

  async refreshConversations() {
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
      if (c.last) { conv.last = c.last; this._putMessage(c.last); }
      conv.updatedAt = c.updatedAt ?? conv.last?.ts ?? conv.updatedAt;
      conv.unread = c.id === this.current && this._canMarkRead() ? 0 : c.unread ?? 0;
      if (conv.peer) this.user(conv.peer);
    }
    // Conversations the server does not know yet (a chat opened but not written to) stay.
    for (const [id, conv] of this.conversations) if (!seen.has(id) && !conv.local) this.conversations.delete(id);
    this._changed("list");
    if (this.current) this.markRead();
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

  /** Conversations newest first. */
  sortedConversations() {
    return [...this.conversations.values()].sort((a, b) => (b.updatedAt || 0) - (a.updatedAt || 0) || a.id.localeCompare(b.id));
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
    if (!conv.updatedAt) { conv.local = true; conv.updatedAt = Date.now(); }
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
    this.conversations.delete(conversationId);
    if (this.current === conversationId) this.current = null;
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
    if (!conv.updatedAt || change === "created") conv.updatedAt = Date.now();
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
    s.byId.set(m.id, merged);
    return merged;
  }

  _putOutboxMessage(entry) {
    const m = this._putMessage({
      id: entry.id, conversation: entry.conversation, from: this.me.id, body: entry.body, ts: entry.ts,
      to: entry.to, group: entry.group, outbox: entry.state, error: entry.error,
    });
    const conv = this._conversation(entry.conversation);
    if (!conv.last || (conv.last.ts ?? 0) <= entry.ts) { conv.last = m; conv.updatedAt = Math.max(conv.updatedAt || 0, entry.ts); }
    return m;
  }

  /** Messages of a conversation in display order (by pos; unsent ones last by time). */
  messageList(conversationId) {
    const list = [...this._store(conversationId).byId.values()];
    return list.sort((a, b) => {
      const pa = a.pos ?? Infinity;
      const pb = b.pos ?? Infinity;
      return pa - pb || (a.ts ?? 0) - (b.ts ?? 0);
    });
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
  async loadHistory(conversationId, older = false) {
    const s = this._store(conversationId);
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
    for (const m of data?.messages ?? []) this._putMessage(m);
    if (!older || s.hasMore === undefined) s.hasMore = !!data?.hasMore;
    if (older) s.hasMore = !!data?.hasMore;
    s.loaded = true;
    this._changed("messages", conversationId);
    if (conversationId === this.current) this.markRead();
    return data?.messages?.length ?? 0;
  }

  /** Queues a message to the conversation; it goes out now if connected, else on reconnect. */
  send(conversationId, body) {
    const conv = this._conversation(conversationId);
    const entry = { id: crypto.randomUUID(), conversation: conversationId, body, ts: Date.now(), state: "pending" };
    if (conv.kind === "group") entry.group = conv.groupId; else entry.to = conv.peer;
    this.outbox.push(entry);
    storage.saveOutbox(this.me.id, this.outbox);
    this._putOutboxMessage(entry);
    conv.local = false;
    this.stopTyping();
    this._changed("messages", conversationId);
    this._changed("list");
    this._flushOutbox();
  }

  /** Puts a failed message back into the queue. */
  retry(id) {
    const entry = this.outbox.find((e) => e.id === id);
    if (!entry) return;
    entry.state = "pending";
    delete entry.error;
    storage.saveOutbox(this.me.id, this.outbox);
    this._putOutboxMessage(entry);
    this._changed("messages", entry.conversation);
    this._flushOutbox();
  }

  // Sends pending entries one at a time, in order, with their original ids (the server dedupes by id).
  async _flushOutbox() {
    if (this._flushing) { this._flushAgain = true; return; }
    this._flushing = true;
    try {
      do {
        this._flushAgain = false;
        for (const entry of [...this.outbox]) {
          if (entry.state !== "pending" || !this.socket?.connected) continue;
          const payload = { id: entry.id, body: entry.body };
          if (entry.group) payload.group = entry.group; else payload.to = entry.to;
          let res;
          try {
            res = await this.socket.timeout(ACK_TIMEOUT_MS).emitWithAck("message", payload);
          } catch {
            break; // offline, disconnected or no answer: stays pending for the next connect
          }
          if (res?.ok === true) {
            this._dropFromOutbox(entry.id);
            const m = this._putMessage({ ...(res.message ?? {}), id: entry.id, conversation: res.message?.conversation ?? entry.conversation, outbox: undefined, error: undefined });
            delete m.outbox;
            this._touch(m);
          } else if (PERMANENT.has(res?.error?.code)) {
            entry.state = "failed";
            entry.error = res.error.message;
            storage.saveOutbox(this.me.id, this.outbox);
            this._putOutboxMessage(entry);
          } else {
            // rate_limited, unavailable, internal: try again a little later.
            setTimeout(() => this._flushOutbox(), 2000);
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

  _dropFromOutbox(id) {
    this.outbox = this.outbox.filter((e) => e.id !== id);
    storage.saveOutbox(this.me.id, this.outbox);
  }

  _touch(m) {
    const conv = this._conversation(m.conversation);
    if (!conv.last || (m.pos ?? Infinity) >= (conv.last.pos ?? -1) || !conv.last.pos) conv.last = m;
    conv.updatedAt = Math.max(conv.updatedAt || 0, m.ts || 0);
    return conv;
  }

  // --- timeline events ---

  _onMessage(m) {
    if (!m?.id || !m.conversation) return;
    const known = this._store(m.conversation).byId.has(m.id);
    if (m.from === this.me.id) this._dropFromOutbox(m.id);
    const stored = this._putMessage(m);
    if (m.from === this.me.id) delete stored.outbox;
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
  }

  _onReceipt(r) {
    if (!r?.conversation || !Array.isArray(r.ids)) return;
    const s = this._store(r.conversation);
    for (const id of r.ids) {
      const m = s.byId.get(id);
      if (!m) continue;
      const key = r.status === "read" ? "read" : "delivered";
      m[key] = union(m[key], [r.by]);
      if (key === "read") m.delivered = union(m.delivered, [r.by]);
    }
    this._changed("messages", r.conversation);
    this._changed("list");
  }

  _onGroup(g) {
    if (!g?.conversation) return;
    const users = g.users ?? [];
    if (g.change === "left" && users.includes(this.me.id)) {
      this.conversations.delete(g.conversation);
      if (this.current === g.conversation) { this.current = null; this._changed("open"); }
      this._changed("list");
      return;
    }
    const conv = g.group ? this._applyGroup(g.group, g.change) : this._conversation(g.conversation);
    conv.updatedAt = Math.max(conv.updatedAt || 0, g.ts || 0);
    conv.notice = describeGroupChange(g, this.me.id);
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

  /** Opens a conversation: loads history if needed and marks it read. */
  async open(conversationId) {
    this.stopTyping();
    this.current = conversationId;
    this._changed("open");
    const s = this._store(conversationId);
    if (!s.loaded) await this.loadHistory(conversationId);
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
    for (let i = 0; i < unread.length; i += 100) {
      const ids = unread.slice(i, i + 100).map((m) => m.id);
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
      this._typingOut = { conversation: conv.id, timer: null };
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

function describeGroupChange(g, me) {
  const who = (g.users ?? []).join(", ");
  if (g.change === "created") return g.by === me ? "You created the group" : `${g.by} added you`;
  if (g.change === "joined") return `${who} joined`;
  if (g.change === "left") return `${who} left`;
  return "";
}
