// A small Socket.IO v5 client over Engine.IO v4: WebSocket, or HTTP long-polling where
// WebSockets do not get through (enginepolling.js).
//
// Wire behaviour follows the official client: the server pings, we pong; a
// connection that sees no ping within pingInterval + pingTimeout is dead; the
// Socket.IO CONNECT carries the auth payload; acks travel both ways. Two
// deliberate differences, both because the chat has its own outbox:
//   - nothing is buffered while disconnected: `emit` without an ack is dropped
//     and an ack-expecting emit fails at once with Error("offline");
//   - pending acks fail with Error("disconnected") when the connection drops,
//     instead of waiting forever.
// After any involuntary loss (network, dead heartbeat, server DISCONNECT,
// CONNECT_ERROR) it reconnects with exponential backoff and jitter, unless the
// application called `disconnect()` (for instance from a connect_error handler).
//
// Transport choice, kept for the page's life: WebSocket first. When WebSocket attempts fail
// before the Engine.IO open packet WS_FAILURES_BEFORE_POLLING times in a row, the next attempt
// is a polling handshake; once one works the client stays on polling ("fallback"), trying
// WebSocket again on every WS_RETRY_EVERY-th attempt after that, and leaves the fallback when
// one opens. A polling handshake that fails too (the server is unreachable, e.g. restarting)
// clears the count of WebSocket failures, since they said nothing about WebSockets. When polling
// first works, a WebSocket handshake is tried alongside: if it opens, the failures were the
// server's (restarting), and the client moves to WebSocket at once. There is no in-session
// polling → WebSocket upgrade.

import { PollingSocket } from "./enginepolling.js";

const EIO = { OPEN: "0", CLOSE: "1", PING: "2", PONG: "3", MESSAGE: "4", UPGRADE: "5", NOOP: "6" };
const WS_FAILURES_BEFORE_POLLING = 2;
const WS_RETRY_EVERY = 3;
export const PacketType = { CONNECT: 0, DISCONNECT: 1, EVENT: 2, ACK: 3, CONNECT_ERROR: 4, BINARY_EVENT: 5, BINARY_ACK: 6 };

/** Encodes one Socket.IO packet: returns [text, ...binaryAttachments]. */
export function encodePacket({ type, nsp = "/", id, data }) {
  const buffers = [];
  let payload = data;
  if ((type === PacketType.EVENT || type === PacketType.ACK) && hasBinary(data)) {
    payload = deconstruct(data, buffers);
    type = type === PacketType.EVENT ? PacketType.BINARY_EVENT : PacketType.BINARY_ACK;
  }
  let out = String(type);
  if (type === PacketType.BINARY_EVENT || type === PacketType.BINARY_ACK) out += buffers.length + "-";
  if (nsp && nsp !== "/") out += nsp + ",";
  if (id !== undefined && id !== null) out += String(id);
  if (payload !== undefined) out += JSON.stringify(payload);
  return [out, ...buffers];
}

/** Decodes the text part of a Socket.IO packet; throws on malformed input. */
export function decodePacket(str) {
  let i = 0;
  const type = Number(str.charAt(0));
  if (!Number.isInteger(type) || type < 0 || type > 6 || str.length === 0) throw new Error("bad packet type");
  i = 1;
  let attachments = 0;
  if (type === PacketType.BINARY_EVENT || type === PacketType.BINARY_ACK) {
    const dash = str.indexOf("-", i);
    const count = str.slice(i, dash);
    if (dash < 0 || !/^\d+$/.test(count)) throw new Error("bad attachment count");
    attachments = Number(count);
    i = dash + 1;
  }
  let nsp = "/";
  if (str.charAt(i) === "/") {
    const comma = str.indexOf(",", i);
    const end = comma < 0 ? str.length : comma;
    nsp = str.slice(i, end);
    i = comma < 0 ? end : end + 1;
  }
  let id;
  const digits = /^\d+/.exec(str.slice(i));
  if (digits) { id = Number(digits[0]); i += digits[0].length; }
  let data;
  if (i < str.length) data = JSON.parse(str.slice(i));
  const packet = { type, nsp, id, data, attachments };
  if (!validPayload(packet)) throw new Error("bad payload");
  return packet;
}

function validPayload({ type, data }) {
  switch (type) {
    case PacketType.CONNECT: return data === undefined || isObject(data);
    case PacketType.DISCONNECT: return data === undefined;
    case PacketType.CONNECT_ERROR: return typeof data === "string" || isObject(data);
    case PacketType.EVENT: case PacketType.BINARY_EVENT:
      return Array.isArray(data) && data.length > 0 && (typeof data[0] === "string" || typeof data[0] === "number");
    case PacketType.ACK: case PacketType.BINARY_ACK: return Array.isArray(data);
    default: return false;
  }
}

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const isBinary = (v) => v instanceof ArrayBuffer || ArrayBuffer.isView(v) || (typeof Blob !== "undefined" && v instanceof Blob);

function hasBinary(v) {
  if (isBinary(v)) return true;
  if (Array.isArray(v)) return v.some(hasBinary);
  if (isObject(v)) return Object.values(v).some(hasBinary);
  return false;
}

function deconstruct(v, buffers) {
  if (isBinary(v)) { buffers.push(v); return { _placeholder: true, num: buffers.length - 1 }; }
  if (Array.isArray(v)) return v.map((x) => deconstruct(x, buffers));
  if (isObject(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, deconstruct(x, buffers)]));
  return v;
}

function reconstruct(v, buffers) {
  if (Array.isArray(v)) return v.map((x) => reconstruct(x, buffers));
  if (isObject(v)) {
    if (v._placeholder === true && typeof v.num === "number") {
      if (v.num < 0 || v.num >= buffers.length) throw new Error("bad placeholder");
      return buffers[v.num];
    }
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, reconstruct(x, buffers)]));
  }
  return v;
}

/** Socket.IO client socket for one namespace over its own Engine.IO connection. */
export class SocketClient {
  /**
   * @param {string} url base URL ("" = same origin), http(s) or ws(s)
   * @param {object} opts path, nsp, auth (object or function returning one),
   *   reconnectionDelay, reconnectionDelayMax, randomizationFactor,
   *   connectTimeout, autoConnect, WebSocket and Polling (implementations, for tests)
   */
  constructor(url = "", opts = {}) {
    this.url = url;
    this.opts = {
      path: "/socket.io/", nsp: "/", auth: undefined,
      reconnectionDelay: 500, reconnectionDelayMax: 10000, randomizationFactor: 0.5,
      connectTimeout: 20000, autoConnect: true, WebSocket: globalThis.WebSocket, Polling: PollingSocket, ...opts,
    };
    this.id = null;
    /** The transport of the current or last attempt: "websocket" or "polling". */
    this.transport = null;
    this.state = "offline";
    this.handshake = null;
    this._handlers = new Map();
    this._stateListeners = new Set();
    this._acks = new Map();
    this._nextAckId = 0;
    this._attempts = 0;
    this._wanted = false;
    this._ws = null; // the WebSocket or PollingSocket of the current attempt
    this._opening = false; // no Engine.IO open packet yet on this._ws
    this._wsFailures = 0;
    this._fallback = false;
    this._fallbackAttempts = 0;
    this._timers = {};
    this._binary = null;
    this._early = [];
    if (typeof window !== "undefined") {
      window.addEventListener("online", () => { if (this._wanted && this.state !== "connected") this._reconnectNow(); });
    }
    if (this.opts.autoConnect) this.connect();
  }

  get connected() { return this.state === "connected"; }

  /** Subscribes to state changes (`connected|connecting|offline`); returns an unsubscribe function. */
  onState(fn) { this._stateListeners.add(fn); fn(this.state); return () => this._stateListeners.delete(fn); }

  /** Registers a handler; for events that expect an ack the last argument is the ack function. */
  on(event, fn) {
    if (!this._handlers.has(event)) this._handlers.set(event, new Set());
    this._handlers.get(event).add(fn);
    return this;
  }

  off(event, fn) { this._handlers.get(event)?.delete(fn); return this; }

  /** Emits an event; a trailing function argument becomes the ack callback. Returns false if not sent. */
  emit(event, ...args) {
    let ack;
    if (typeof args[args.length - 1] === "function") ack = args.pop();
    if (!this.connected) {
      if (ack) queueMicrotask(() => ack(new Error("offline")));
      return false;
    }
    const packet = { type: PacketType.EVENT, nsp: this.opts.nsp, data: [event, ...args] };
    if (ack) {
      const id = this._nextAckId++;
      packet.id = id;
      this._acks.set(id, (err, values) => (err ? ack(err) : ack(null, ...values)));
    }
    this._sendPacket(packet);
    return true;
  }

  /** Emits and resolves with the first ack argument; rejects on timeout, offline or disconnect. */
  emitWithAck(event, ...args) { return this.timeout(this.opts.ackTimeout ?? 0).emitWithAck(event, ...args); }

  /** Returns an emitter whose acks fail with Error("timeout") after `ms` (0 = no timeout). */
  timeout(ms) {
    const emitAck = (event, args, cb) => {
      let timer;
      let done = false;
      const finish = (err, ...values) => { if (done) return; done = true; clearTimeout(timer); cb(err, ...values); };
      const sent = this.emit(event, ...args, finish);
      if (sent && ms > 0) {
        const id = this._nextAckId - 1;
        timer = setTimeout(() => { this._acks.delete(id); finish(new Error("timeout")); }, ms);
      }
    };
    return {
      emit: (event, ...args) => { const cb = args.pop(); emitAck(event, args, cb); },
      emitWithAck: (event, ...args) => new Promise((resolve, reject) =>
        emitAck(event, args, (err, value) => (err ? reject(err) : resolve(value)))),
    };
  }

  /** Starts connecting (and keeps reconnecting after losses) until `disconnect()`. */
  connect() {
    this._wanted = true;
    if (this._ws || this._timers.retry) return this;
    this._open();
    return this;
  }

  /** Closes the connection for good (no reconnection) until `connect()` is called again. */
  disconnect() {
    this._wanted = false;
    clearTimeout(this._timers.retry);
    this._timers.retry = null;
    if (this._ws && this.state === "connected") this._sendPacket({ type: PacketType.DISCONNECT, nsp: this.opts.nsp });
    this._teardown("io client disconnect");
    return this;
  }

  // --- Engine.IO ---

  /** The Engine.IO URL of `transport`. */
  _url(transport) {
    const base = new URL(this.url || location.href, location.href);
    const secure = base.protocol === "https:" || base.protocol === "wss:";
    if (transport === "websocket") base.protocol = secure ? "wss:" : "ws:";
    else base.protocol = secure ? "https:" : "http:";
    base.pathname = this.opts.path;
    base.search = `?EIO=4&transport=${transport}`;
    base.hash = "";
    return base.toString();
  }

  _open() {
    const transport = this._pickTransport();
    // Once several attempts have failed we stay "offline" until one succeeds.
    this._setState(this._attempts > 2 ? "offline" : "connecting");
    this.transport = transport;
    this._opening = true;
    let ws;
    try {
      ws = transport === "websocket" ? new this.opts.WebSocket(this._url(transport)) : new this.opts.Polling(this._url(transport));
    } catch (e) {
      this._lost("transport error");
      return;
    }
    ws.binaryType = "arraybuffer";
    this._ws = ws;
    this._timers.connect = setTimeout(() => this._lost("connect timeout"), this.opts.connectTimeout);
    ws.onmessage = (ev) => { if (this._ws === ws) this._onFrame(ev.data); };
    ws.onclose = () => { if (this._ws === ws) this._lost("transport close"); };
    ws.onerror = () => { if (this._ws === ws) this._lost("transport error"); };
  }

  _onFrame(data) {
    if (typeof data !== "string") { this._onBinary(data); return; }
    const kind = data.charAt(0);
    const body = data.slice(1);
    switch (kind) {
      case EIO.OPEN: {
        try { this.handshake = JSON.parse(body); } catch { this._lost("parse error"); return; }
        this._transportWorks();
        this._resetPing();
        const auth = typeof this.opts.auth === "function" ? this.opts.auth() : this.opts.auth;
        this._sendPacket({ type: PacketType.CONNECT, nsp: this.opts.nsp, data: auth ?? undefined });
        break;
      }
      case EIO.PING:
        this._resetPing();
        this._rawSend(EIO.PONG + body);
        break;
      case EIO.CLOSE: this._lost("transport close"); break;
      case EIO.MESSAGE: this._onSocketIO(body); break;
      case EIO.NOOP: case EIO.PONG: case EIO.UPGRADE: break;
      default: this._lost("parse error");
    }
  }

  _pickTransport() {
    if (this._fallback) return ++this._fallbackAttempts % WS_RETRY_EVERY === 0 ? "websocket" : "polling";
    return this._wsFailures >= WS_FAILURES_BEFORE_POLLING ? "polling" : "websocket";
  }

  _transportWorks() {
    this._opening = false;
    if (this.transport === "websocket") {
      this._wsFailures = 0;
      this._fallback = false;
    } else if (!this._fallback) {
      this._fallback = true;
      this._fallbackAttempts = 0;
      this._probeWebSocket();
    }
  }

  // Polling after WebSocket failures may only mean that the server came back just then (it was
  // restarting): a WebSocket handshake alongside tells, and if it works the client moves to
  // WebSocket at once rather than staying on polling for as long as the connection lasts.
  _probeWebSocket() {
    const polling = this._ws;
    let probe;
    try { probe = new this.opts.WebSocket(this._url("websocket")); } catch { return; }
    let settled = false;
    const settle = (works) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      probe.onmessage = probe.onerror = probe.onclose = null;
      try { probe.close(); } catch { /* already closed */ }
      if (!works || this._ws !== polling || !this._wanted) return;
      this._fallback = false;
      this._wsFailures = 0;
      this._teardown("transport change");
      this._reconnectNow();
    };
    const timer = setTimeout(() => settle(false), this.opts.connectTimeout);
    probe.onmessage = (ev) => settle(typeof ev.data === "string" && ev.data.startsWith(EIO.OPEN));
    probe.onerror = probe.onclose = () => settle(false);
  }

  // Only a failure before the Engine.IO open packet says something about the transport.
  _transportFailed() {
    if (!this._opening) return;
    this._opening = false;
    if (this.transport === "websocket") this._wsFailures++;
    else if (!this._fallback) this._wsFailures = 0;
  }

  _resetPing() {
    clearTimeout(this._timers.ping);
    const h = this.handshake || {};
    const limit = (h.pingInterval ?? 25000) + (h.pingTimeout ?? 20000);
    this._timers.ping = setTimeout(() => this._lost("ping timeout"), limit);
  }

  _rawSend(frame) {
    // A WebSocket the server closed may not have said so yet: sending on it only logs an error.
    if (this._ws && (this._ws.readyState ?? 1) !== 1) return;
    try { this._ws?.send(frame); } catch { /* a closing socket; onclose will follow */ }
  }

  _sendPacket(packet) {
    const [text, ...buffers] = encodePacket(packet);
    this._rawSend(EIO.MESSAGE + text);
    for (const b of buffers) this._rawSend(b);
  }

  // --- Socket.IO ---

  _onSocketIO(text) {
    let packet;
    try { packet = decodePacket(text); } catch (e) { this._lost("parse error"); return; }
    if (packet.nsp !== this.opts.nsp) return;
    if (packet.attachments > 0) { this._binary = { packet, buffers: [] }; return; }
    this._dispatch(packet);
  }

  _onBinary(data) {
    if (!this._binary) return; // stray binary frame: nothing expects it
    this._binary.buffers.push(data);
    if (this._binary.buffers.length < this._binary.packet.attachments) return;
    const { packet, buffers } = this._binary;
    this._binary = null;
    try { packet.data = reconstruct(packet.data, buffers); } catch { this._lost("parse error"); return; }
    this._dispatch(packet);
  }

  _dispatch(packet) {
    switch (packet.type) {
      case PacketType.CONNECT:
        clearTimeout(this._timers.connect);
        this.id = packet.data?.sid ?? null;
        this._attempts = 0;
        this._setState("connected");
        this._fire("connect");
        // Events the server sent before its CONNECT answer (e.g. from its connect handler).
        for (const early of this._early.splice(0)) this._dispatch(early);
        break;
      case PacketType.CONNECT_ERROR: {
        const err = new Error(typeof packet.data === "string" ? packet.data : packet.data?.message ?? "connect error");
        err.data = packet.data?.data;
        this._fire("connect_error", err);
        this._lost("connect error");
        break;
      }
      case PacketType.DISCONNECT: this._lost("io server disconnect"); break;
      case PacketType.EVENT: case PacketType.BINARY_EVENT: {
        if (!this.connected) { this._early.push(packet); break; }
        const [event, ...args] = packet.data;
        if (packet.id !== undefined) {
          let sent = false;
          args.push((...values) => {
            if (sent || !this.connected) return;
            sent = true;
            this._sendPacket({ type: PacketType.ACK, nsp: this.opts.nsp, id: packet.id, data: values });
          });
        }
        this._fire(String(event), ...args);
        break;
      }
      case PacketType.ACK: case PacketType.BINARY_ACK: {
        const cb = this._acks.get(packet.id);
        if (cb) { this._acks.delete(packet.id); cb(null, packet.data); }
        break;
      }
    }
  }

  _fire(event, ...args) {
    for (const fn of [...(this._handlers.get(event) ?? [])]) {
      try { fn(...args); } catch (e) { setTimeout(() => { throw e; }); }
    }
  }

  // --- connection lifecycle ---

  _teardown(reason) {
    const wasConnected = this.connected;
    clearTimeout(this._timers.ping);
    clearTimeout(this._timers.connect);
    const ws = this._ws;
    this._ws = null;
    this._opening = false;
    this._binary = null;
    this._early = [];
    if (ws) {
      ws.onmessage = ws.onclose = ws.onerror = null;
      try { ws.close(); } catch { /* already closed */ }
    }
    const acks = [...this._acks.values()];
    this._acks.clear();
    this.id = null;
    this._setState(this._wanted ? "connecting" : "offline");
    for (const cb of acks) cb(new Error("disconnected"));
    if (wasConnected) this._fire("disconnect", reason);
  }

  _lost(reason) {
    this._transportFailed();
    this._teardown(reason);
    if (!this._wanted) return;
    const base = Math.min(this.opts.reconnectionDelayMax, this.opts.reconnectionDelay * 2 ** this._attempts);
    const jitter = 1 + (Math.random() * 2 - 1) * this.opts.randomizationFactor;
    const delay = Math.min(this.opts.reconnectionDelayMax, Math.round(base * jitter));
    this._attempts++;
    // After a few failures we say "offline" so the user sees it; we keep trying.
    if (this._attempts > 2) this._setState("offline");
    clearTimeout(this._timers.retry);
    this._timers.retry = setTimeout(() => { this._timers.retry = null; if (this._wanted) this._open(); }, delay);
  }

  _reconnectNow() {
    clearTimeout(this._timers.retry);
    this._timers.retry = null;
    this._attempts = 0;
    if (!this._ws) this._open();
  }

  _setState(state) {
    if (state === this.state) return;
    this.state = state;
    for (const fn of [...this._stateListeners]) fn(state);
  }
}
