// DOM rendering of the chat model. All user data goes in through textContent
// or attributes, never through innerHTML.

const STATUS_LABEL = { pending: "Waiting to send", sent: "Sent", delivered: "Delivered", read: "Read", failed: "Not sent" };
const STATUS_MARK = { pending: "◷", sent: "✓", delivered: "✓✓", read: "✓✓", failed: "!" };

/** Creates an element with attributes and children (strings become text nodes). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

/** Up to two initials of a name or id. */
export function initials(name) {
  const parts = String(name || "?").trim().split(/[\s._-]+/).filter(Boolean);
  const letters = parts.length > 1 ? parts[0][0] + parts[1][0] : (parts[0] ?? "?").slice(0, 2);
  return letters.toUpperCase();
}

/** A stable hue per id, for avatar colours. */
export function hue(id) {
  let h = 0;
  for (const ch of String(id)) h = (h * 31 + ch.codePointAt(0)) % 360;
  return h;
}

export function paintAvatar(node, id, name) {
  node.textContent = initials(name);
  node.style.setProperty("--hue", hue(id));
}

/** Time for the list and bubbles: hh:mm today, else a short date. */
export function formatTime(ms) {
  if (!ms) return "";
  const d = new Date(ms);
  const now = new Date();
  if (d.toDateString() === now.toDateString()) return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  return d.toLocaleDateString([], { month: "short", day: "numeric" });
}

/** Renders the conversation list. */
export function renderList(ul, chat, { onOpen }) {
  const items = chat.sortedConversations().map((conv) => {
    const peer = conv.peer ? chat.users.get(conv.peer) : null;
    const title = conv.kind === "dm" ? peer?.name && peer.name !== conv.peer ? peer.name : conv.title : conv.title;
    const last = conv.last;
    let preview = conv.notice ?? "";
    // The later of the group notice and the last message, by the server's times; an unsent message is later.
    if (last && (!conv.notice || typeof last.pos !== "number" || (last.ts ?? 0) >= (conv.noticeAt ?? 0))) {
      const prefix = last.from === chat.me.id ? "You: " : conv.kind === "group" ? `${chat.users.get(last.from)?.name ?? last.from}: ` : "";
      preview = prefix + last.body;
    }
    const avatar = el("span", { class: "avatar", "aria-hidden": "true" });
    paintAvatar(avatar, conv.id, title);
    const presence = conv.kind === "dm"
      ? el("span", { class: `presence ${peer?.online ? "online" : ""}`, role: "img", title: peer?.online ? "Online" : "Offline", "aria-label": peer?.online ? "online" : "offline" })
      : null;
    const unread = conv.unread > 0
      ? el("span", { class: "badge", "data-testid": "unread", role: "img", "aria-label": `${conv.unread} unread`, text: String(conv.unread) })
      : null;
    const button = el("button", { type: "button", class: "conv-button", "aria-current": conv.id === chat.current ? "true" : null, onclick: () => onOpen(conv.id) },
      el("span", { class: "avatar-wrap" }, avatar, presence),
      el("span", { class: "conv-main" },
        el("span", { class: "conv-top" }, el("span", { class: "conv-title", text: title }), el("time", { class: "conv-time", text: formatTime(conv.updatedAt) })),
        el("span", { class: "conv-bottom" }, el("span", { class: "conv-last", text: preview }), unread)));
    return el("li", { class: `conversation ${conv.id === chat.current ? "active" : ""}`, "data-testid": "conversation", "data-conversation": conv.id }, button);
  });
  ul.replaceChildren(...items);
}

/** Keeps one bubble element per message id, updated in place, in display order. */
export class MessageView {
  constructor(container, chat, { onRetry, onDiscard }) {
    this.container = container;
    this.chat = chat;
    this.onRetry = onRetry;
    this.onDiscard = onDiscard;
    this.nodes = new Map();
    this.conversation = null;
  }

  reset(conversationId) {
    this.conversation = conversationId;
    for (const n of this.nodes.values()) n.remove();
    this.nodes.clear();
  }

  /** Renders the current conversation; keeps the reader's place unless they were at the bottom. */
  render({ keepOffsetFromBottom = false } = {}) {
    const c = this.container;
    const atBottom = c.scrollHeight - c.scrollTop - c.clientHeight < 40;
    const fromBottom = c.scrollHeight - c.scrollTop;
    const conv = this.chat.conversations.get(this.conversation);
    const list = this.chat.messageList(this.conversation);
    const wanted = new Set(list.map((m) => m.id));
    for (const [id, node] of this.nodes) if (!wanted.has(id)) { node.remove(); this.nodes.delete(id); }
    let prev = null; // the container holds the bubbles only (it is a list)
    let prevFrom = null;
    for (const m of list) {
      const node = this._node(m, conv?.kind === "group" && m.from !== prevFrom);
      if (prev ? prev.nextSibling !== node : c.firstChild !== node) {
        if (prev) prev.after(node); else c.prepend(node);
      }
      prev = node;
      prevFrom = m.from;
    }
    if (keepOffsetFromBottom) c.scrollTop = c.scrollHeight - fromBottom;
    else if (atBottom) c.scrollTop = c.scrollHeight;
  }

  scrollToBottom() { this.container.scrollTop = this.container.scrollHeight; }

  _node(m, showName) {
    const mine = m.from === this.chat.me.id;
    const status = mine ? this.chat.status(m) : null;
    const key = [m.body, m.ts, status, showName, this.chat.users.get(m.from)?.name, m.error].join("\u0000");
    let node = this.nodes.get(m.id);
    if (node && node._key === key) return node;
    const bubble = el("div", {
      class: `message ${mine ? "mine" : "theirs"}`, role: "listitem", "data-testid": "message", "data-id": m.id,
      "data-status": status ?? null, "data-from": m.from,
    });
    if (showName && !mine) bubble.append(el("div", { class: "sender", text: this.chat.user(m.from).name ?? m.from }));
    bubble.append(el("div", { class: "body", text: m.body ?? "" }));
    const meta = el("div", { class: "meta" }, el("time", { datetime: m.ts ? new Date(m.ts).toISOString() : null, text: formatTime(m.ts) }));
    if (mine) {
      // role="img": a name on a generic span is not allowed (nor read out everywhere); the tick is a picture.
      meta.append(el("span", { class: `status ${status}`, role: "img", title: STATUS_LABEL[status], "aria-label": STATUS_LABEL[status], text: STATUS_MARK[status] }));
    }
    bubble.append(meta);
    if (status === "failed") {
      bubble.append(el("div", { class: "failed-row" },
        el("span", { text: m.error ? `Not sent: ${m.error}` : "Not sent" }),
        el("button", { type: "button", class: "link", "data-testid": "retry", onclick: () => this.onRetry(m.id), text: "Retry" }),
        el("button", { type: "button", class: "link", "data-testid": "discard", onclick: () => this.onDiscard(m.id), text: "Discard" })));
    }
    bubble._key = key;
    if (node) node.replaceWith(bubble);
    this.nodes.set(m.id, bubble);
    return bubble;
  }
}
