// Entry point: sign-in and sign-up screens, then the chat UI wired to the model.

import { api, setToken } from "./api.js";
import { Chat, bodyLength } from "./chat.js";
import { limits, loadLimits } from "./limits.js";
import { endOnServer, revokeLater, revokePending, whenRevoked } from "./signout.js";
import * as storage from "./storage.js";
import { MessageView, paintAvatar, renderList } from "./views.js";

const $ = (sel, root = document) => root.querySelector(sel);
const byTestId = (id) => $(`[data-testid="${id}"]`);
const CONNECTION_TEXT = { connected: "Connected", connecting: "Connecting…", offline: "Offline" };
const SIGN_OUT_PENDING = "You are signed out on this device, but the server could not be reached to end your session there. "
  + "It will be ended as soon as the server can be reached.";
const SIGN_OUT_DONE = "You are signed out. The server has ended your session.";

let session = null; // the session this tab is signed in with: {token, user}, null while signed out
let chat = null;
let messageView = null;
const drafts = new Map(); // conversation id -> unsent composer text

function showError(form, message) {
  const p = $("[data-error]", form);
  p.textContent = message || "";
}

let listErrorState = { sticky: false, at: 0, message: "" }; // the message above the call log: kind, when shown, text

/** The message above the call log, for errors of actions outside a form ("" clears it). A sticky one is not
 *  about reaching the server, so only a later success of the user's own or sign-out clears it. */
function listError(message, sticky = false) {
  listErrorState = { sticky, at: performance.now(), message: message || "" };
  paintListError();
}

// Why the server refuses this tab's connection (see connectionProblemText), shown above the call log while no
// other error is; it goes with the next connection.
let connectionProblem = "";

function paintListError() {
  const node = $("[data-list-error]");
  const text = listErrorState.message || connectionProblem;
  if (node.textContent !== text) node.textContent = text; // said again only when it changes (the node is an alert)
}

/** The server's reason for refusing a connection, in plain words ("" when there is none). */
function connectionProblemText(problem) {
  if (!problem) return "";
  const detail = problem.reason ? ` (${problem.reason})` : "";
  switch (problem.code) {
    case "rate_limited":
      return `Not connected: too many connections for your account${detail}. Close webchat in another tab or window; this one keeps trying.`;
    case "unavailable":
      return "Not connected: the server is temporarily unavailable. Trying again…";
    default:
      return `Not connected: the server refused the connection (${problem.code}${problem.reason ? `: ${problem.reason}` : ""}). Trying again…`;
  }
}

// A new connection, or a request that began after the error and succeeded, shows that the server can be
// reached again: an error of reaching it goes (one that began before proves nothing).
function clearPassingError(requestStartedAt = Infinity) {
  if (!listErrorState.sticky && listErrorState.at < requestStartedAt) listError("");
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

/** Shows the chat for `next`; `save`: store it (not when it came from storage); `focus`: the person signed in
 *  from a form here, whose focus would otherwise be left on the hidden form. */
function signedIn(next, { save = true, focus = false } = {}) {
  if (save) storage.saveSession(next);
  session = next;
  setToken(next.token);
  $("#auth-view").hidden = true;
  $("#app-view").hidden = false;
  byTestId("me").textContent = next.user.id;
  byTestId("me").title = next.user.name ?? next.user.id;
  paintAvatar($("[data-me-avatar]"), next.user.id, next.user.name ?? next.user.id);
  startChat(next);
  if (focus) byTestId("new-chat").focus();
}

async function signOut() {
  const token = session?.token;
  // The server disconnects the socket as it revokes the token: its reconnection must not take that for a
  // session that ended by itself.
  chat?.stop();
  const missed = !(await endOnServer());
  if (!token || session?.token !== token) return; // signed out or switched meanwhile (another tab)
  if (missed) revokeLater(token);
  endSession();
  showAuth(missed ? SIGN_OUT_PENDING : "");
}

function endSession() {
  const token = session?.token;
  session = null;
  chat?.stop();
  chat = null;
  drafts.clear();
  if (messageView) messageView.reset(null);
  clearUserInterface();
  storage.clearSession(token); // only if it is still this tab's: another tab may have signed in since
  setToken(null);
  history.replaceState(null, "", location.pathname + location.search);
}

// Every tab follows the stored session: a sign-out in another tab signs this one out, a sign-in there (as
// anyone) signs this one in with it. So no tab goes on with a token that was revoked or replaced.
function followStoredSession(ev) {
  if (!storage.isSessionEvent(ev)) return;
  const stored = storage.loadSession();
  const next = stored?.token && stored.user?.id ? stored : null;
  if ((next?.token ?? null) === (session?.token ?? null)) return;
  if (session) endSession();
  if (next) {
    for (const form of ["#login-form", "#register-form"]) { $(form).reset(); showError($(form), ""); }
    signedIn(next, { save: false });
  } else {
    showAuth("You signed out in another tab.");
  }
}

// Nothing of one user may stay in the page for the next one to sign in (or for a screen reader to read out):
// forms and their errors, the announcer, the list, the header, the typing line, the composer.
function clearUserInterface() {
  const forms = [["new-chat", "#new-chat-form"], ["new-group", "#new-group-form"], ["group-invite", "#invite-form"]];
  for (const [button, form] of forms) {
    $(form).reset();
    toggle(byTestId(button), $(form), false);
  }
  closeLeaveConfirm(false);
  $("#announcer").replaceChildren();
  connectionProblem = "";
  listError("");
  $("[data-conversations]").replaceChildren();
  for (const sel of ["[data-chat-title]", "[data-chat-subtitle]", "[data-chat-avatar]", "[data-history-note]", "[data-testid=typing-indicator]"]) $(sel).textContent = "";
  byTestId("composer").value = "";
  composerChanged();
  $("#app-view").classList.remove("chat-open");
  $("[data-chat]").hidden = true;
  $("[data-placeholder]").hidden = false;
  const status = byTestId("connection-status");
  status.dataset.state = "offline";
  status.textContent = CONNECTION_TEXT.offline;
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
      signedIn({ token: res.token, user: res.user }, { focus: true });
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
    if (bodyLength(name) > limits.maxNameChars) { showError(register, `A display name is at most ${limits.maxNameChars} characters.`); return; }
    if (!password) { showError(register, "Choose a password."); return; }
    busy(register, true);
    try {
      const res = await api("POST", "/users", { id, name, password });
      register.reset();
      showError(register, "");
      signedIn({ token: res.token, user: res.user }, { focus: true });
    } catch (e) {
      showError(register, e.message);
    } finally {
      busy(register, false);
    }
  });
}

// --- the chat UI ---

function startChat(session) {
  const mine = new Chat(session);
  chat = mine;
  messageView = new MessageView($("[data-messages]"), chat, {
    onRetry: (id) => chat.retry(id),
    // The bubble and its button go: the focus moves on to the composer, not to the page.
    onDiscard: (id) => { chat.discard(id); byTestId("composer").focus(); },
  });
  const status = byTestId("connection-status");
  // A request of a signed-out session may still finish: what it reports is no longer for this page.
  const current = (fn) => (ev) => { if (chat === mine) fn(ev); };
  chat.addEventListener("change", current((ev) => onChange(ev.detail)));
  chat.addEventListener("unauthorized", current(() => {
    endSession();
    // A tab that finds out late (it was asleep) that its token is gone: another tab may have signed in since.
    const stored = storage.loadSession();
    if (stored?.token && stored.user?.id) signedIn(stored, { save: false });
    else showAuth("Your session has ended. Please sign in again.");
  }));
  chat.addEventListener("incoming", current((ev) => announce(ev.detail)));
  status.dataset.state = "offline";
  hashPending = true;
  renderAll();
  chat.start();
}

// The conversation in the URL is opened once the call log has loaded: only then is it known whether it is
// one of ours (a group's id alone does not say).
let hashPending = false;

function openFromHash() {
  hashPending = false;
  if (!location.hash || chat.current) return;
  let id = null;
  try {
    id = decodeURIComponent(location.hash.slice(1));
  } catch { /* malformed percent-encoding: no conversation */ }
  if (id && chat.canOpen(id)) {
    openConversation(id);
  } else {
    history.replaceState(null, "", location.pathname + location.search);
    listError("The conversation in the address was not found.", true);
  }
}

function onChange({ kind, conversation }) {
  if (!chat) return;
  switch (kind) {
    case "connection": {
      const status = byTestId("connection-status");
      status.dataset.state = chat.state;
      status.textContent = CONNECTION_TEXT[chat.state];
      connectionProblem = chat.state === "connected" ? "" : connectionProblemText(chat.connectProblem);
      paintListError();
      if (chat.state === "connected") { clearPassingError(); loadLimits().then(applyLimits); }
      break;
    }
    case "list": renderConversations(); break;
    case "refreshed":
      clearPassingError(conversation); // here: when that request began
      if (hashPending) openFromHash();
      break;
    case "messages": if (conversation === chat.current) messageView.render(); break;
    case "typing": if (conversation === chat.current) renderTyping(); break;
    case "open": renderChatPane(); break;
    case "presence": case "members": renderHeader(); break;
    case "error": listError(conversation); break;
  }
}

function renderAll() {
  onChange({ kind: "connection" });
  renderConversations();
  renderChatPane();
}

function renderConversations() {
  const ul = $("[data-conversations]");
  // The list is rebuilt: a keyboard user's focus on an entry moves to that entry's new button.
  const focused = ul.contains(document.activeElement) ? document.activeElement.closest("[data-conversation]")?.dataset.conversation : null;
  renderList(ul, chat, { onOpen: openConversation });
  if (focused) conversationButton(focused)?.focus();
  $("[data-empty-list]").hidden = chat.conversations.size > 0;
  if (chat.current) renderHeader();
}

const conversationButton = (id) => $(`[data-conversation="${CSS.escape(id)}"] button`, $("[data-conversations]"));

// Where the keyboard focus goes when the conversation pane closes under it: to the entry of the conversation
// just left if still listed, else the first one, else "New chat"; never the page body.
function focusList(conversationId) {
  const target = (conversationId && conversationButton(conversationId)) || $("[data-conversations] button") || byTestId("new-chat");
  target.focus();
}

function renderChatPane() {
  const open = !!chat?.current && chat.conversations.has(chat.current);
  const pane = $("[data-chat]");
  const hadFocus = pane.contains(document.activeElement);
  $("#app-view").classList.toggle("chat-open", open);
  pane.hidden = !open;
  $("[data-placeholder]").hidden = open;
  if (!open) {
    // Closed under the user (removed from the group): the address no longer names an open conversation.
    if (!hashPending && location.hash) history.replaceState(null, "", location.pathname + location.search);
    if (hadFocus) focusList(messageView?.conversation);
    return;
  }
  if (messageView.conversation !== chat.current) {
    const composer = byTestId("composer");
    if (messageView.conversation) drafts.set(messageView.conversation, composer.value);
    composer.value = drafts.get(chat.current) ?? "";
    composerChanged();
    messageView.reset(chat.current);
    $("#invite-form").hidden = true;
    byTestId("group-invite").setAttribute("aria-expanded", "false");
    closeLeaveConfirm(false);
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
  if (!chat || !chat.canOpen(id)) return;
  history.replaceState(null, "", `#${encodeURIComponent(id)}`);
  // A bookmarked or reloaded direct chat of mine that the call log does not list (not written to yet).
  if (!chat.conversations.has(id)) chat._conversation(id).local = true;
  const p = chat.open(id);
  renderConversations();
  byTestId("composer").focus();
  try {
    await p;
    listError("");
  } catch (e) {
    listError(e.message);
  }
  messageView.scrollToBottom();
}

function toggle(button, form, open = form.hidden) {
  form.hidden = !open;
  button.setAttribute("aria-expanded", String(open));
  showError(form, "");
  if (open) form.querySelector("input")?.focus();
}

// Leaving a group cannot be undone by oneself (it takes someone's invitation), so Leave asks first.
function openLeaveConfirm() {
  const conv = chat?.conversations.get(chat.current);
  if (!conv) return;
  $("#invite-form").hidden = true;
  byTestId("group-invite").setAttribute("aria-expanded", "false");
  $("[data-leave-question]").textContent = `Leave “${conv.title}”? You will need an invitation to come back.`;
  showError($("#leave-confirm"), "");
  $("#leave-confirm").hidden = false;
  byTestId("group-leave").setAttribute("aria-expanded", "true");
  byTestId("group-leave-cancel").focus(); // the harmless choice under Enter
}

function closeLeaveConfirm(refocus) {
  $("#leave-confirm").hidden = true;
  showError($("#leave-confirm"), "");
  byTestId("group-leave").setAttribute("aria-expanded", "false");
  if (refocus) byTestId("group-leave").focus();
}

// The composer's text is counted as the server counts it; a text over the limit is kept, not cut, and said so.
function composerChanged() {
  const composer = byTestId("composer");
  composer.style.height = "auto";
  if (composer.offsetParent) { // a hidden box measures 0: it is sized when shown
    const full = composer.scrollHeight + composer.offsetHeight - composer.clientHeight;
    composer.style.height = `${Math.min(full, 160)}px`;
    composer.style.overflowY = full > 160 ? "auto" : "hidden";
  }
  const most = limits.maxMessageChars;
  const length = bodyLength(composer.value);
  const over = length > most;
  composer.setAttribute("aria-invalid", String(over));
  const note = $("[data-composer-note]");
  note.classList.toggle("over", over);
  note.textContent = over
    ? `Too long to send: ${length} characters, the limit is ${most}. Shorten it or split it into several messages.`
    : length > most * 0.9 ? `${length} of ${most} characters` : "";
  return !over;
}

// The fields with a length limit take the server's (maxlength counts UTF-16 units, so it is never looser than the
// server's code points); a text already in the composer is counted again.
function applyLimits() {
  byTestId("register-name").maxLength = limits.maxNameChars;
  byTestId("new-group-name").maxLength = limits.maxGroupNameChars;
  composerChanged();
}

/** Why a group of `count` members (the owner included) cannot be, or "". */
function groupTooLarge(count) {
  return count > limits.maxGroupMembers ? `A group has at most ${limits.maxGroupMembers} members, you included.` : "";
}

function wireChat() {
  $("[data-sign-out]").addEventListener("click", signOut);
  $("[data-back]").addEventListener("click", () => {
    const left = chat?.current;
    chat?.close();
    history.replaceState(null, "", location.pathname + location.search);
    renderConversations();
    focusList(left);
  });

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
    if (bodyLength(name) > limits.maxGroupNameChars) { showError(newGroupForm, `A group name is at most ${limits.maxGroupNameChars} characters.`); return; }
    const tooLarge = groupTooLarge(1 + members.filter((m) => m !== chat.me.id).length);
    if (tooLarge) { showError(newGroupForm, tooLarge); return; }
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
    const current = chat.conversations.get(chat.current)?.group?.members ?? [];
    const tooLarge = groupTooLarge(current.length + members.filter((m) => !current.includes(m)).length);
    if (tooLarge) { showError(inviteForm, tooLarge); return; }
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
  byTestId("group-leave").addEventListener("click", () => {
    if ($("#leave-confirm").hidden) openLeaveConfirm(); else closeLeaveConfirm(true);
  });
  byTestId("group-leave-cancel").addEventListener("click", () => closeLeaveConfirm(true));
  byTestId("group-leave-confirm").addEventListener("click", async () => {
    const conv = chat?.conversations.get(chat.current);
    if (!conv) return;
    const confirm = byTestId("group-leave-confirm");
    confirm.disabled = true;
    try {
      await chat.leave(conv.id);
      closeLeaveConfirm(false);
      history.replaceState(null, "", location.pathname + location.search);
      listError("");
      focusList();
    } catch (e) {
      showError($("#leave-confirm"), e.message);
    } finally {
      confirm.disabled = false;
    }
  });

  const composer = byTestId("composer");
  const form = $("[data-composer-form]");
  const submit = () => {
    const body = composer.value;
    if (!body.trim() || !chat?.current) return;
    if (!composerChanged()) return; // too long: the note says so, and the text stays for the user to shorten
    chat.send(chat.current, body);
    composer.value = "";
    drafts.delete(chat.current);
    composerChanged();
    messageView.scrollToBottom();
  };
  form.addEventListener("submit", (ev) => { ev.preventDefault(); submit(); composer.focus(); });
  composer.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); submit(); }
  });
  composer.addEventListener("input", () => { composerChanged(); if (composer.value) chat?.typed(); else chat?.stopTyping(); });
  // Typing ends when the person leaves the box (the peer would otherwise see it for up to the idle timeout).
  composer.addEventListener("blur", () => chat?.stopTyping());

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
      listError("");
    } catch (e) {
      listError(e.message);
    } finally {
      loadingOlder = false;
    }
  });

  // Read receipts go out only when a person can actually see the conversation. Coming back to the page
  // also refreshes the call log and the open conversation: the server tells this tab nothing of what
  // another tab of the same user sent or read meanwhile.
  const shown = () => {
    if (!chat || document.visibilityState !== "visible") return;
    chat.markRead();
    chat.refreshSoon();
  };
  window.addEventListener("focus", shown);
  document.addEventListener("visibilitychange", shown);
}

function main() {
  wireAuth();
  wireChat();
  applyLimits();
  loadLimits().then(applyLimits);
  window.addEventListener("storage", followStoredSession);
  whenRevoked(() => {
    if ($("#login-form [data-error]").textContent === SIGN_OUT_PENDING) showError($("#login-form"), SIGN_OUT_DONE);
  });
  window.addEventListener("online", () => revokePending());
  revokePending();
  const stored = storage.loadSession();
  if (stored?.token && stored.user?.id) signedIn(stored, { save: false });
  else showAuth("");
}

main();
