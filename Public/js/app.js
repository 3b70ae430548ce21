// Entry point: sign-in and sign-up screens, then the chat UI wired to the model.

import { api, setToken } from "./api.js";
import { Chat } from "./chat.js";
import * as storage from "./storage.js";
import { MessageView, paintAvatar, renderList } from "./views.js";

const $ = (sel, root = document) => root.querySelector(sel);
const byTestId = (id) => $(`[data-testid="${id}"]`);
const CONNECTION_TEXT = { connected: "Connected", connecting: "Connecting…", offline: "Offline" };

let chat = null;
let messageView = null;
const drafts = new Map(); // conversation id -> unsent composer text

function showError(form, message) {
  const p = $("[data-error]", form);
  p.textContent = message || "";
}

function busy(form, on) {
  for (const b of form.querySelectorAll("button[type=submit]")) b.disabled = on;
}

/** Comma/space separated ids → clean list. */
function parseIds(text) {
  return [...new Set(text.split(/[\s,]+/).map((s) => s.trim().toLowerCase()).filter(Boolean))];
}

// --- signing in and out ---

function showAuth(message) {
  $("#app-view").hidden = true;
  $("#auth-view").hidden = false;
  $("#register-form").hidden = true;
  $("#login-form").hidden = false;
  showError($("#login-form"), message);
  byTestId("login-id").focus();
}

async function signedIn(session) {
  storage.saveSession(session);
  setToken(session.token);
  $("#auth-view").hidden = true;
  $("#app-view").hidden = false;
  byTestId("me").textContent = session.user.id;
  byTestId("me").title = session.user.name ?? session.user.id;
  paintAvatar($("[data-me-avatar]"), session.user.id, session.user.name ?? session.user.id);
  startChat(session);
}

async function signOut() {
  try { await api("DELETE", "/sessions/current"); } catch { /* signing out locally matters most */ }
  endSession();
  showAuth("");
}

function endSession() {
  chat?.stop();
  chat = null;
  drafts.clear();
  if (messageView) messageView.reset(null);
  byTestId("composer").value = "";
  storage.clearSession();
  setToken(null);
  location.hash = "";
}

function wireAuth() {
  const login = $("#login-form");
  const register = $("#register-form");
  byTestId("show-register").addEventListener("click", () => {
    login.hidden = true;
    register.hidden = false;
    showError(register, "");
    byTestId("register-id").focus();
  });
  $("[data-show-login]").addEventListener("click", () => showAuth(""));

  login.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const id = byTestId("login-id").value.trim().toLowerCase();
    const password = byTestId("login-password").value;
    if (!id || !password) { showError(login, "Enter your user id and password."); return; }
    busy(login, true);
    try {
      const res = await api("POST", "/sessions", { id, password });
      login.reset();
      showError(login, "");
      await signedIn({ token: res.token, user: res.user });
    } catch (e) {
      showError(login, e.message);
    } finally {
      busy(login, false);
    }
  });

  register.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const id = byTestId("register-id").value.trim().toLowerCase();
    const name = byTestId("register-name").value.trim();
    const password = byTestId("register-password").value;
    if (!/^[a-z0-9][a-z0-9_.-]{1,31}$/.test(id)) { showError(register, "User ids are 2–32 characters: a–z, 0–9, _ . - (starting with a letter or digit)."); return; }
    if (!name) { showError(register, "Enter a display name."); return; }
    if (!password) { showError(register, "Choose a password."); return; }
    busy(register, true);
    try {
      const res = await api("POST", "/users", { id, name, password });
      register.reset();
      showError(register, "");
      await signedIn({ token: res.token, user: res.user });
    } catch (e) {
      showError(register, e.message);
    } finally {
      busy(register, false);
    }
  });
}

// --- the chat UI ---

function startChat(session) {
  chat = new Chat(session);
  messageView = new MessageView($("[data-messages]"), chat, { onRetry: (id) => chat.retry(id) });
  const status = byTestId("connection-status");
  chat.addEventListener("change", (ev) => onChange(ev.detail));
  chat.addEventListener("unauthorized", () => { endSession(); showAuth("Your session has ended. Please sign in again."); });
  chat.addEventListener("incoming", (ev) => announce(ev.detail));
  status.dataset.state = "offline";
  renderAll();
  chat.start();
  const fromHash = decodeURIComponent(location.hash.slice(1));
  if (fromHash) openConversation(fromHash);
}

function onChange({ kind, conversation }) {
  if (!chat) return;
  switch (kind) {
    case "connection": {
      const status = byTestId("connection-status");
      status.dataset.state = chat.state;
      status.textContent = CONNECTION_TEXT[chat.state];
      break;
    }
    case "list": renderConversations(); break;
    case "messages": if (conversation === chat.current) messageView.render(); break;
    case "typing": if (conversation === chat.current) renderTyping(); break;
    case "open": renderChatPane(); break;
    case "presence": case "members": renderHeader(); break;
    case "error": $("[data-list-error]").textContent = conversation ?? ""; break;
  }
}

function renderAll() {
  onChange({ kind: "connection" });
  renderConversations();
  renderChatPane();
}

function renderConversations() {
  const ul = $("[data-conversations]");
  renderList(ul, chat, { onOpen: openConversation });
  $("[data-empty-list]").hidden = chat.conversations.size > 0;
  if (chat.current) renderHeader();
}

function renderChatPane() {
  const open = !!chat?.current && chat.conversations.has(chat.current);
  $("#app-view").classList.toggle("chat-open", open);
  $("[data-chat]").hidden = !open;
  $("[data-placeholder]").hidden = open;
  if (!open) return;
  if (messageView.conversation !== chat.current) {
    const composer = byTestId("composer");
    if (messageView.conversation) drafts.set(messageView.conversation, composer.value);
    composer.value = drafts.get(chat.current) ?? "";
    composer.dispatchEvent(new Event("autosize"));
    messageView.reset(chat.current);
    $("#invite-form").hidden = true;
    byTestId("group-invite").setAttribute("aria-expanded", "false");
  }
  renderHeader();
  renderTyping();
  messageView.render();
  messageView.scrollToBottom();
}

function renderHeader() {
  const conv = chat.conversations.get(chat.current);
  if (!conv) return;
  const peer = conv.peer ? chat.users.get(conv.peer) : null;
  const title = conv.kind === "dm" ? (peer?.name ?? conv.title) : conv.title;
  $("[data-chat-title]").textContent = title;
  paintAvatar($("[data-chat-avatar]"), conv.id, title);
  let subtitle = "";
  if (conv.kind === "dm") subtitle = `@${conv.peer} · ${peer?.online ? "online" : peer?.lastSeen ? `last seen ${new Date(peer.lastSeen).toLocaleString()}` : "offline"}`;
  else if (conv.group?.members) subtitle = conv.group.members.join(", ");
  $("[data-chat-subtitle]").textContent = subtitle;
  byTestId("group-invite").hidden = conv.kind !== "group";
  byTestId("group-leave").hidden = conv.kind !== "group";
  const s = chat.messages.get(conv.id);
  $("[data-history-note]").textContent = s?.loaded && s.hasMore === false ? "Start of the conversation" : s?.hasMore ? "Scroll up for older messages" : "";
}

function renderTyping() {
  const names = chat.typingNames(chat.current);
  byTestId("typing-indicator").textContent =
    names.length === 0 ? "" : names.length === 1 ? `${names[0]} is typing…` : `${names.join(", ")} are typing…`;
}

function announce(m) {
  if (document.hidden && m.conversation !== chat.current) return;
  const conv = chat.conversations.get(m.conversation);
  const who = chat.users.get(m.from)?.name ?? m.from;
  const where = conv?.kind === "group" ? ` in ${conv.title}` : "";
  const line = document.createElement("p");
  line.textContent = `New message from ${who}${where}: ${m.body}`;
  const region = $("#announcer");
  region.append(line);
  while (region.childElementCount > 5) region.firstElementChild.remove();
}

async function openConversation(id) {
  if (!chat) return;
  history.replaceState(null, "", `#${encodeURIComponent(id)}`);
  if (!chat.conversations.has(id)) {
    // A bookmarked or reloaded conversation that the call log does not list (yet).
    if (id.startsWith("dm:")) chat._conversation(id).local = true;
    else return;
  }
  const p = chat.open(id);
  renderConversations();
  byTestId("composer").focus();
  try {
    await p;
  } catch (e) {
    $("[data-list-error]").textContent = e.message;
  }
  messageView.scrollToBottom();
}

function toggle(button, form, open = form.hidden) {
  form.hidden = !open;
  button.setAttribute("aria-expanded", String(open));
  showError(form, "");
  if (open) form.querySelector("input")?.focus();
}

function wireChat() {
  $("[data-sign-out]").addEventListener("click", signOut);
  $("[data-back]").addEventListener("click", () => { chat?.close(); history.replaceState(null, "", location.pathname); renderConversations(); });

  const newChatForm = $("#new-chat-form");
  const newGroupForm = $("#new-group-form");
  byTestId("new-chat").addEventListener("click", () => { toggle(byTestId("new-group"), newGroupForm, false); toggle(byTestId("new-chat"), newChatForm); });
  byTestId("new-group").addEventListener("click", () => { toggle(byTestId("new-chat"), newChatForm, false); toggle(byTestId("new-group"), newGroupForm); });

  newChatForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    busy(newChatForm, true);
    try {
      const id = await chat.startChat(byTestId("new-chat-id").value);
      newChatForm.reset();
      toggle(byTestId("new-chat"), newChatForm, false);
      await openConversation(id);
    } catch (e) {
      showError(newChatForm, e.message);
    } finally {
      busy(newChatForm, false);
    }
  });

  newGroupForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const name = byTestId("new-group-name").value.trim();
    const members = parseIds(byTestId("new-group-members").value);
    if (!name) { showError(newGroupForm, "Give the group a name."); return; }
    busy(newGroupForm, true);
    try {
      const id = await chat.createGroup(name, members);
      newGroupForm.reset();
      toggle(byTestId("new-group"), newGroupForm, false);
      await openConversation(id);
    } catch (e) {
      showError(newGroupForm, e.message);
    } finally {
      busy(newGroupForm, false);
    }
  });

  const inviteForm = $("#invite-form");
  byTestId("group-invite").addEventListener("click", () => toggle(byTestId("group-invite"), inviteForm));
  inviteForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const members = parseIds(byTestId("group-invite-members").value);
    if (!members.length) { showError(inviteForm, "Enter at least one user id."); return; }
    busy(inviteForm, true);
    try {
      await chat.invite(chat.current, members);
      inviteForm.reset();
      toggle(byTestId("group-invite"), inviteForm, false);
    } catch (e) {
      showError(inviteForm, e.message);
    } finally {
      busy(inviteForm, false);
    }
  });
  byTestId("group-leave").addEventListener("click", async () => {
    const conv = chat.conversations.get(chat.current);
    if (!conv) return;
    try {
      await chat.leave(conv.id);
      history.replaceState(null, "", location.pathname);
    } catch (e) {
      $("[data-list-error]").textContent = e.message;
    }
  });

  const composer = byTestId("composer");
  const form = $("[data-composer-form]");
  const submit = () => {
    const body = composer.value;
    if (!body.trim() || !chat?.current) return;
    chat.send(chat.current, body);
    composer.value = "";
    drafts.delete(chat.current);
    autosize();
    messageView.scrollToBottom();
  };
  const autosize = () => {
    composer.style.height = "auto";
    const full = composer.scrollHeight + composer.offsetHeight - composer.clientHeight;
    composer.style.height = `${Math.min(full, 160)}px`;
    composer.style.overflowY = full > 160 ? "auto" : "hidden";
  };
  form.addEventListener("submit", (ev) => { ev.preventDefault(); submit(); composer.focus(); });
  composer.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); submit(); }
  });
  composer.addEventListener("autosize", autosize);
  composer.addEventListener("input", () => { autosize(); if (composer.value) chat?.typed(); else chat?.stopTyping(); });

  const messages = $("[data-messages]");
  let loadingOlder = false;
  messages.addEventListener("scroll", async () => {
    if (messages.scrollTop > 80 || loadingOlder || !chat?.current) return;
    const s = chat.messages.get(chat.current);
    if (!s?.loaded || s.hasMore === false) return;
    loadingOlder = true;
    const id = chat.current;
    try {
      const fromBottom = messages.scrollHeight - messages.scrollTop;
      await chat.loadHistory(id, true);
      if (chat.current === id) { messageView.render(); messages.scrollTop = messages.scrollHeight - fromBottom; renderHeader(); }
    } catch (e) {
      $("[data-list-error]").textContent = e.message;
    } finally {
      loadingOlder = false;
    }
  });

  // Read receipts go out only when a person can actually see the conversation.
  const maybeRead = () => chat?.markRead();
  window.addEventListener("focus", maybeRead);
  document.addEventListener("visibilitychange", maybeRead);
}

function main() {
  wireAuth();
  wireChat();
  const session = storage.loadSession();
  if (session?.token && session.user?.id) signedIn(session);
  else showAuth("");
}

main();
