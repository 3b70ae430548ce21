// Engine.IO v4 HTTP long-polling, shaped like a WebSocket so that SocketClient can use either.
//
// A GET of `?EIO=4&transport=polling` opens the session (its answer holds the open packet);
// from then on exactly one GET is outstanding, asking for incoming packets, and outgoing
// packets go out by POST, one POST at a time: what is queued meanwhile goes in the next one,
// joined by \x1e, at most 16 packets (python-engineio refuses more) and, past the first packet,
// within the server's maxPayload. Binary packets travel as "b<base64>" and arrive as
// ArrayBuffers. Like a WebSocket it reports `onmessage({data})` (one Engine.IO packet each),
// then `onerror` and `onclose` once when it fails; `close()` sends the close packet "1" after
// what is queued and stops every request.

const SEPARATOR = "\x1e";
const MAX_PACKETS_PER_POST = 16;
// How long close() waits for its close packet to be posted before it aborts everything.
const CLOSE_GRACE_MS = 2000;
const utf8 = new TextEncoder();

/** Engine.IO HTTP long-polling connection with the interface SocketClient uses of a WebSocket. */
export class PollingSocket {
  /** @param {string} url http(s) URL of the Engine.IO endpoint with `EIO=4&transport=polling` */
  constructor(url) {
    this.url = url;
    this.binaryType = "arraybuffer";
    this.onmessage = this.onerror = this.onclose = null;
    this._sid = null;
    this._maxPayload = Infinity;
    this._queue = [];
    this._posting = false;
    this._closing = false;
    this._stopped = false;
    this._requests = 0;
    this._abort = new AbortController();
    this._poll();
  }

  /** Queues one Engine.IO packet (text, or binary for a message); ignored once closing. */
  send(data) {
    if (this._closing || this._stopped) return;
    this._queue.push(typeof data === "string" ? data : encodeBinary(data));
    this._flush();
  }

  /** Ends the session: the close packet goes out after what is queued, then all requests stop. */
  close() {
    if (this._closing) return;
    this._closing = true;
    if (this._stopped || this._sid === null) { this._stop(); return; }
    this._queue.push("1");
    setTimeout(() => this._stop(), CLOSE_GRACE_MS);
    this._flush();
  }

  // The GET loop: the handshake first, then always one poll outstanding until stopped.
  async _poll() {
    try {
      while (!this._stopped) {
        const payload = await this._request("GET");
        for (const packet of payload.split(SEPARATOR)) {
          if (this._stopped) return;
          this._receive(packet);
        }
      }
    } catch {
      this._fail();
    }
  }

  _receive(packet) {
    if (this._sid === null) {
      // The handshake answer must begin with the open packet; its sid names every later request.
      const handshake = packet.charAt(0) === "0" ? JSON.parse(packet.slice(1)) : null;
      if (typeof handshake?.sid !== "string") throw new Error("bad handshake");
      this._sid = handshake.sid;
      if (handshake.maxPayload > 0) this._maxPayload = handshake.maxPayload;
      queueMicrotask(() => this._flush());
    }
    const data = packet.charAt(0) === "b" ? decodeBase64(packet.slice(1)) : packet;
    if (packet === "1") this._stop(); // the server closed the session: nothing more to ask or post
    this.onmessage?.({ data });
    if (packet === "1" && !this._closing) this.onclose?.({});
  }

  // Posts the queue, one POST at a time, until it is empty; then stops if closing.
  async _flush() {
    if (this._posting || this._sid === null) return;
    this._posting = true;
    try {
      while (this._queue.length > 0 && !this._stopped) {
        const parts = [];
        let size = 0;
        while (this._queue.length > 0 && parts.length < MAX_PACKETS_PER_POST) {
          const part = await this._queue[0];
          const bytes = utf8.encode(part).length + (parts.length > 0 ? 1 : 0);
          if (parts.length > 0 && size + bytes > this._maxPayload) break;
          parts.push(part);
          size += bytes;
          this._queue.shift();
        }
        await this._request("POST", parts.join(SEPARATOR));
      }
      this._posting = false;
      if (this._closing) this._stop();
    } catch {
      this._posting = false;
      this._fail();
    }
  }

  async _request(method, body) {
    const url = new URL(this.url);
    if (this._sid !== null) url.searchParams.set("sid", this._sid);
    // A cache buster as the official client sends, for caches that ignore no-store.
    url.searchParams.set("t", `${Date.now().toString(36)}.${this._requests++}`);
    const init = { method, cache: "no-store", signal: this._abort.signal };
    if (body !== undefined) Object.assign(init, { body, headers: { "Content-Type": "text/plain;charset=UTF-8" } });
    const res = await fetch(url, init);
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    return res.text();
  }

  _fail() {
    if (this._stopped) return;
    this._stop();
    if (this._closing) return;
    this.onerror?.({});
    this.onclose?.({});
  }

  _stop() {
    this._stopped = true;
    this._queue = [];
    this._abort.abort();
  }
}

// "b" + base64 of the bytes; a Blob becomes a promise of that (the queue awaits its head).
function encodeBinary(data) {
  if (typeof Blob !== "undefined" && data instanceof Blob) return data.arrayBuffer().then(encodeBinary);
  const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return "b" + btoa(text);
}

function decodeBase64(b64) {
  const text = atob(b64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes.buffer;
}
