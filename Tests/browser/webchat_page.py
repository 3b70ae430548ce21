"""A person using the web client, in terms of the data-testid hooks."""

import json
import secrets
import time
from urllib.parse import quote

import requests
import socketio
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from helpers import script_errors

PASSWORD = "correct horse battery"
TIMEOUT = 15


def unique(prefix: str) -> str:
    """A fresh user id, so tests never collide on a shared server."""
    return f"{prefix}-{secrets.token_hex(3)}"


def dm(a: str, b: str) -> str:
    return f"dm:{min(a, b)}:{max(a, b)}"


class Person:
    def __init__(self, driver, base_url: str, uid: str, name: str | None = None):
        self.d = driver
        self.base = base_url
        self.id = uid
        self.name = name or uid.split("-")[0].capitalize()

    # --- finding things ---

    def tid(self, testid: str, root=None):
        return (root or self.d).find_element(By.CSS_SELECTOR, f'[data-testid="{testid}"]')

    def tids(self, testid: str, root=None):
        return (root or self.d).find_elements(By.CSS_SELECTOR, f'[data-testid="{testid}"]')

    def wait(self, cond, timeout: float = TIMEOUT, message: str = ""):
        def safe(_):
            try:
                return cond()
            except StaleElementReferenceException:
                return False
        return WebDriverWait(self.d, timeout, poll_frequency=0.1).until(safe, message)

    # --- account ---

    def open_app(self):
        self.d.get(self.base + "/")
        return self

    def sign_up(self):
        self.open_app()
        self.wait(lambda: self.tid("login-id").is_displayed() or self.tid("me").is_displayed())
        if self.tid("show-register").is_displayed():
            self.tid("show-register").click()
        self.tid("register-id").send_keys(self.id)
        self.tid("register-name").send_keys(self.name)
        self.tid("register-password").send_keys(PASSWORD)
        self.tid("register-submit").click()
        self.wait_signed_in()
        return self

    def sign_in(self, password: str = PASSWORD):
        self.open_app()
        self.wait(lambda: self.tid("login-id").is_displayed())
        self.tid("login-id").send_keys(self.id)
        self.tid("login-password").send_keys(password)
        self.tid("login-submit").click()
        return self

    def queue_send_to_nobody(self) -> dict:
        """Puts a message to a user who does not exist into the outbox and reloads on its conversation, where it
        fails for good once sent; returns the outbox entry."""
        ghost = unique("ghost")
        conv = dm(self.id, ghost)
        entry = {"id": "test-" + ghost, "conversation": conv, "to": ghost, "body": "to nobody", "ts": 1, "state": "pending"}
        self.d.execute_script(f"localStorage.setItem('webchat.outbox.{self.id}', {json.dumps(json.dumps([entry]))})")
        self.d.execute_script(f"location.hash = {json.dumps(conv)}; location.reload()")
        self.wait_signed_in()
        return entry

    def wait_signed_in(self):
        self.wait(lambda: self.tid("me").text == self.id, message=f"{self.id} not signed in")
        self.wait_connected()
        return self

    def open_second_tab(self, conversation: str):
        """Opens the app on `conversation` in a new tab of this browser (same user, same storage),
        signed in; returns the handles of the tab it was in and of the new one."""
        first = self.d.current_window_handle
        self.d.switch_to.new_window("tab")
        second = self.d.current_window_handle
        self.d.get(f"{self.base}/#{conversation}")
        self.wait_signed_in()
        return first, second

    def sign_out(self):
        self.d.find_element(By.CSS_SELECTOR, "[data-sign-out]").click()
        self.wait(lambda: self.tid("login-id").is_displayed(), message=f"{self.id}: not back at sign-in")
        return self

    def login_message(self) -> str:
        """What the sign-in form says (why one is there, or what went wrong)."""
        return self.d.find_element(By.CSS_SELECTOR, "#login-form [data-error]").get_attribute("textContent")

    def token(self) -> str | None:
        """The token of the session stored in this browser profile, if any."""
        stored = self.d.execute_script("return localStorage.getItem('webchat.session')")
        return json.loads(stored)["token"] if stored else None

    def connection_state(self) -> str:
        return self.tid("connection-status").get_attribute("data-state")

    def wait_connected(self, timeout: float = TIMEOUT):
        self.wait(lambda: self.connection_state() == "connected", timeout, f"{self.id} not connected")

    # --- conversations ---

    def new_chat(self, peer: str):
        self.tid("new-chat").click()
        box = self.tid("new-chat-id")
        box.clear()
        box.send_keys(peer)
        self.tid("new-chat-submit").click()
        return self

    def start_chat(self, peer: str):
        self.new_chat(peer)
        self.wait_open(dm(self.id, peer))
        return self

    def new_group(self, name: str, members: list[str]):
        self.tid("new-group").click()
        self.tid("new-group-name").send_keys(name)
        self.tid("new-group-members").send_keys(", ".join(members))
        self.tid("new-group-submit").click()

    def leave_group(self):
        """Leave, and confirm when asked (test_leave_asks_first_and_focus_stays_in_the_page checks that it asks)."""
        self.tid("group-leave").click()
        confirm = self.tids("group-leave-confirm")
        if confirm and confirm[0].is_displayed():
            confirm[0].click()

    def conversation_ids(self) -> list[str]:
        """The call log's conversation ids, top to bottom."""
        return [e.get_attribute("data-conversation") for e in self.tids("conversation")]

    def preview(self, conv_id: str) -> str:
        """The entry's last-message line as shown, read in one go (the list re-renders when it refreshes)."""
        return self.d.execute_script("""
            const entry = [...document.querySelectorAll('[data-testid="conversation"]')].find(e => e.dataset.conversation === arguments[0]);
            return (entry?.querySelector('.conv-last')?.innerText ?? "").trim();""", conv_id)

    def list_error(self) -> str:
        return self.d.find_element(By.CSS_SELECTOR, "[data-list-error]").get_attribute("textContent")

    def conversation(self, conv_id: str):
        found = [e for e in self.tids("conversation") if e.get_attribute("data-conversation") == conv_id]
        return found[0] if found else None

    def wait_conversation(self, conv_id: str | None = None, title: str | None = None):
        def find():
            for e in self.tids("conversation"):
                if (conv_id and e.get_attribute("data-conversation") == conv_id) or (title and title in e.text):
                    return e
            return None
        return self.wait(find, message=f"{self.id}: conversation {conv_id or title} not listed")

    def conversation_id(self, title: str) -> str:
        """The id of the listed conversation whose entry shows `title`, once there is one (read in
        one go, so a re-render between finding the entry and reading it only means a retry)."""
        def find():
            return next((e.get_attribute("data-conversation") for e in self.tids("conversation") if title in e.text), None)
        return self.wait(find, message=f"{self.id}: conversation {title} not listed")

    def unread(self, conv_id: str) -> int:
        e = self.conversation(conv_id)
        if not e:
            return 0
        badges = self.tids("unread", e)
        return int(badges[0].text) if badges and badges[0].text else 0

    def open(self, conv_id: str):
        # The list re-renders when it refreshes (on focus, on a receipt): an entry found just
        # before may be gone by the click, which `wait` then tries again on the new one.
        def click():
            entry = self.conversation(conv_id)
            if entry is None:
                return False
            entry.find_element(By.TAG_NAME, "button").click()
            return True
        self.wait(click, message=f"{self.id}: conversation {conv_id} not listed")
        self.wait_open(conv_id)
        return self

    def wait_open(self, conv_id: str):
        self.wait(lambda: self.d.execute_script("return decodeURIComponent(location.hash.slice(1))") == conv_id
                  and self.tid("composer").is_displayed(), message=f"{conv_id} not open")

    # --- messages ---

    def type(self, text: str):
        self.tid("composer").send_keys(text)

    def send(self, text: str) -> str:
        """Types and presses Enter; returns the new message's id."""
        before = {m["id"] for m in self.snapshot()}
        self.tid("composer").send_keys(text, Keys.ENTER)
        new = self.wait(lambda: [m for m in self.snapshot() if m["id"] not in before and m["from"] == self.id],
                        message="sent message not shown")
        return new[-1]["id"]

    def snapshot(self) -> list[dict]:
        """The bubbles as shown, read in one go (bubbles are replaced when they change)."""
        return self.d.execute_script("""
            return [...document.querySelectorAll('[data-testid="message"]')].map(e => ({
              id: e.dataset.id, from: e.dataset.from, status: e.dataset.status || null,
              body: e.querySelector('.body').textContent }));""")

    def messages(self):
        return self.tids("message")

    def message(self, mid: str):
        return self.d.find_element(By.CSS_SELECTOR, f'[data-testid="message"][data-id="{mid}"]')

    def status(self, mid: str) -> str | None:
        return next((m["status"] for m in self.snapshot() if m["id"] == mid), None)

    def wait_status(self, mid: str, status: str, timeout: float = TIMEOUT):
        try:
            self.wait(lambda: self.status(mid) == status, timeout)
        except Exception as e:
            raise AssertionError(f"{self.id}: message {mid} never {status} (is {self.status(mid)})") from e

    def outbox(self) -> list[dict]:
        """The stored outbox of this user in this browser profile."""
        return json.loads(self.d.execute_script(f"return localStorage.getItem('webchat.outbox.{self.id}')") or "[]")

    def focused(self) -> str:
        """What has the keyboard focus: its data-testid, else a short description."""
        return self.d.execute_script("""const e = document.activeElement;
            return e.dataset.testid || (e.closest('[data-conversation]') ? 'conversation:' + e.closest('[data-conversation]').dataset.conversation : e.tagName);""")

    def bodies(self) -> list[str]:
        return [m["body"] for m in self.snapshot()]

    def wait_body(self, body: str, timeout: float = TIMEOUT):
        self.wait(lambda: body in self.bodies(), timeout, f"{self.id}: never saw {body!r} in {self.bodies()}")

    # --- ending ---

    def errors(self) -> list[str]:
        return [e for e in script_errors(self.d)
                if not any(x in e for x in ("Failed to load resource", "WebSocket connection to"))]

    def close(self):
        """Quits the browser (after asserting the page had no script errors)."""
        errs = self.errors()
        self.d.quit()
        assert not errs, errs


class Bot:
    """Someone on the other side without a browser, which is much cheaper than a second Chromium:
    signed up over REST and, when `connect`, on the socket through python-socketio, which acks
    every timeline event (so what it is sent becomes delivered)."""

    def __init__(self, base_url: str, uid: str, name: str | None = None, connect: bool = True):
        self.base = base_url
        self.id = uid
        self.name = name or uid.split("-")[0].capitalize()
        r = requests.post(f"{base_url}/api/v1/users", json={"id": uid, "name": self.name, "password": PASSWORD}, timeout=10)
        r.raise_for_status()
        self.token = r.json()["token"]
        self.sio = None
        if connect:
            self.sio = socketio.Client(reconnection=False)
            self.sio.on("*", lambda event, *args: None)  # the empty ack every timeline event wants
            self.sio.connect(base_url, auth={"token": self.token}, transports=["websocket"], wait_timeout=10)

    def emit(self, event: str, payload: dict) -> dict:
        return self.sio.call(event, payload, timeout=10)

    def send(self, body: str, to: str | None = None, group: str | None = None) -> dict:
        """Sends to a user or a group id (without "grp:"); returns the stored message."""
        payload = {"id": secrets.token_hex(8), "body": body}
        payload.update({"to": to} if to else {"group": group})
        res = self.emit("message", payload)
        assert res.get("ok"), res
        return res["message"]

    def get(self, path: str) -> dict:
        r = requests.get(f"{self.base}/api/v1{path}", headers={"Authorization": f"Bearer {self.token}"}, timeout=10)
        r.raise_for_status()
        return r.json()

    def history(self, conv_id: str) -> list[str]:
        """The conversation's newest 100 bodies as the server has them."""
        return [m["body"] for m in self.get(f"/conversations/{quote(conv_id, safe='')}/messages?limit=100")["messages"]]

    def close(self) -> None:
        if self.sio:
            self.sio.disconnect()


def settle(seconds: float = 1.0) -> None:
    time.sleep(seconds)
