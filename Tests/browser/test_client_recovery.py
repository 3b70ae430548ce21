"""The web client recovering from what goes wrong around it: a stalled server, a tab that sleeps through a
sign-out, removal from a group with a message still queued, signing out offline, a refused connection; and
where the keyboard focus and the screen reader's roles land (see conftest.py for the server)."""

import json
import tempfile
import time

import pytest
import requests
from selenium.webdriver.common.by import By

from webchat_page import Person, dm, unique


def api_status(server, token: str, path: str = "/me") -> int:
    """The status of GET /api/v1<path> with `token`: 200 while the session lives, 401 once it has ended."""
    return requests.get(f"{server.url}/api/v1{path}", headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code


def test_a_send_not_acked_in_time_is_sent_again(server, browsers, bots):
    """The server stalls for longer than the 15 s ack timeout but less than the 45 s ping timeout: the link never
    drops, so no reconnection will flush the outbox; the client tries again by itself."""
    bob = bots("bob")
    alice = Person(browsers(), server.url, unique("alice")).sign_up()
    conv = dm(alice.id, bob.id)
    alice.start_chat(bob.id)
    alice.wait_status(alice.send("before"), "delivered")
    server.pause()
    try:
        mid = alice.send("during the stall")
        time.sleep(16.5)
        assert alice.status(mid) == "pending"
    finally:
        server.resume()
    alice.wait_status(mid, "delivered", 15)
    assert alice.connection_state() == "connected", "the link was meant to stay up"
    alice.wait(lambda: alice.outbox() == [], message="outbox not emptied")
    assert bob.history(conv) == ["before", "during the stall"]


WEBSOCKET_CLOSED = "WebSocket is already in CLOSING or CLOSED state"

# Installed in a tab before the page's scripts: it hears nothing of other tabs' storage changes.
DEAF_TO_STORAGE = "window.addEventListener('storage', (e) => e.stopImmediatePropagation());"


@pytest.mark.parametrize("hears_other_tabs", [True, False], ids=["follows-storage", "misses-storage-events"])
def test_a_tab_that_sleeps_through_a_sign_out_keeps_the_new_session(server, browsers, hears_other_tabs):
    """Tab 2 is frozen (as Chrome freezes a background tab) while tab 1 signs out and in again; when it wakes,
    its token is revoked. It must not wipe the session tab 1 signed in with; it goes on with that session."""
    alice = Person(browsers(), server.url, unique("alice")).sign_up()
    page = alice.d
    tab1 = page.current_window_handle
    page.switch_to.new_window("tab")
    tab2 = page.current_window_handle
    if not hears_other_tabs:
        page.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": DEAF_TO_STORAGE})
    alice.open_app().wait_signed_in()
    old = alice.token()
    page.execute_cdp_cmd("Page.setWebLifecycleState", {"state": "frozen"})
    page.switch_to.window(tab1)
    alice.sign_out()
    alice.sign_in().wait_signed_in()
    new = alice.token()
    assert new != old and api_status(server, old) == 401
    page.switch_to.window(tab2)
    page.execute_cdp_cmd("Page.setWebLifecycleState", {"state": "active"})
    # Connected again: only the new token can do that.
    alice.wait(lambda: alice.connection_state() == "connected" and alice.tid("me").text == alice.id, 20,
               "tab 2 did not go on with the new session")
    # The server closed tab 2's socket while it was frozen; a tab that wakes to the storage events first closes
    # that socket as it signs out, before it has seen the close, and Chromium logs the DISCONNECT it sends on it.
    # The old token's last requests fail (401), as when the server was down.
    noise = [e["message"] for e in page.get_log("browser") if e["level"] == "SEVERE"]
    assert all(any(x in m for x in (WEBSOCKET_CLOSED, "WebSocket connection to", "Failed to load resource")) for m in noise), noise
    assert alice.token() == new, "tab 2 wiped or replaced the stored session"
    page.switch_to.window(tab1)
    page.refresh()
    alice.wait_signed_in()
    assert alice.token() == new


def test_tabs_follow_each_others_sign_out_and_sign_in(server, browsers, bots):
    carol = bots("carol", connect=False)
    alice = Person(browsers(), server.url, unique("alice")).sign_up()
    page = alice.d
    tab1 = page.current_window_handle
    page.switch_to.new_window("tab")
    tab2 = page.current_window_handle
    alice.open_app().wait_signed_in()
    page.switch_to.window(tab1)
    alice.sign_out()
    page.switch_to.window(tab2)
    alice.wait(lambda: alice.tid("login-id").is_displayed(), message="tab 2 still signed in after signing out in tab 1")
    assert "another tab" in alice.login_message(), alice.login_message()
    assert page.find_element(By.CSS_SELECTOR, "[data-conversations]").text == ""
    # Signing in as someone else in tab 1 signs tab 2 in as them too.
    page.switch_to.window(tab1)
    Person(page, server.url, carol.id).sign_in().wait_signed_in()
    page.switch_to.window(tab2)
    Person(page, server.url, carol.id).wait_signed_in()


def test_removed_from_a_group_with_a_message_queued_leaves_no_phantom(server, browsers, bots):
    """Bob wrote to a group while away, and was removed meanwhile. Back, the server replays his removal and
    refuses the message: the group goes from his call log, with the message, and stays gone after a reload."""
    alice = bots("alice")
    bob = Person(browsers(), server.url, unique("bob")).sign_up()
    group = alice.emit("group:create", {"name": "Team", "members": [bob.id]})["group"]["id"]
    conv = f"grp:{group}"
    alice.send("hello team", group=group)
    bob.open(conv)
    bob.wait_body("hello team")
    # Bob leaves the page (a page of the server's, so his storage can still be written); his message waits.
    bob.d.get(f"{server.url}/away")
    entry = {"id": "queued-" + unique("m"), "conversation": conv, "group": group, "body": "written while away",
             "ts": int(time.time() * 1000), "state": "pending"}
    bob.d.execute_script(f"localStorage.setItem('webchat.outbox.{bob.id}', {json.dumps(json.dumps([entry]))})")
    r = requests.delete(f"{server.url}/api/v1/groups/{group}/members/{bob.id}",
                        headers={"Authorization": f"Bearer {alice.token}"}, timeout=10)
    assert r.status_code == 204, r.status_code
    bob.d.get(f"{server.url}/")
    bob.wait_signed_in()
    bob.wait(lambda: bob.conversation(conv) is None and bob.outbox() == [],
             message=f"call log {bob.conversation_ids()}, outbox {bob.outbox()}")
    bob.d.refresh()
    bob.wait_signed_in()
    time.sleep(1)  # the call log and the replay are in
    assert bob.conversation(conv) is None, bob.conversation_ids()
    assert bob.outbox() == []
    assert alice.get(f"/conversations/{conv}/messages")["messages"][-1]["body"] == "hello team"


def test_a_failed_message_can_be_discarded(server, browsers):
    alice = Person(browsers(), server.url, unique("alice")).sign_up()
    entry = alice.queue_send_to_nobody()
    conv = entry["conversation"]
    alice.wait(lambda: alice.status(entry["id"]) == "failed", message="send to an unknown user should fail")
    alice.tid("discard").click()
    alice.wait(lambda: alice.snapshot() == [] and alice.outbox() == [], message="the failed message stays")
    assert alice.focused() == "composer"
    assert alice.preview(conv) == ""
    alice.d.refresh()
    alice.wait_signed_in()
    time.sleep(1)
    assert alice.outbox() == [] and alice.snapshot() == []


@pytest.mark.server_args("--max-connections-per-user", "1")
def test_a_refused_connection_says_why(server, browsers):
    """One connection per user: a second tab is refused (rate_limited) and says so, not just "Offline";
    once the first tab is closed it connects and the words go."""
    alice = Person(browsers(), server.url, unique("alice")).sign_up()
    page = alice.d
    tab1 = page.current_window_handle
    page.switch_to.new_window("tab")
    alice.open_app()
    alice.wait(lambda: alice.tid("me").text == alice.id)
    alice.wait(lambda: "too many connections" in alice.list_error(), 20, f"no reason given: {alice.list_error()!r}")
    assert "at most 1 connections per user" in alice.list_error()
    assert alice.connection_state() != "connected"
    tab2 = page.current_window_handle
    page.switch_to.window(tab1)
    page.close()
    page.switch_to.window(tab2)
    alice.wait_connected(30)
    alice.wait(lambda: alice.list_error() == "", message=f"the reason stays once connected: {alice.list_error()!r}")


def sign_out_while_the_server_is_down(server, alice: Person) -> str:
    """Kills the server and signs out; checks that the page says the server's part is still to be done;
    returns the token."""
    token = alice.token()
    server.kill()
    alice.wait(lambda: alice.connection_state() != "connected", 70, "client did not notice the server died")
    alice.d.find_element(By.CSS_SELECTOR, "[data-sign-out]").click()
    alice.wait(lambda: alice.tid("login-id").is_displayed(), message="not signed out while the server is down")
    assert "could not be reached" in alice.login_message(), alice.login_message()
    assert alice.token() is None
    assert json.loads(alice.d.execute_script("return localStorage.getItem('webchat.revoke')")) == [token]
    return token


def test_signing_out_while_the_server_is_down_ends_the_session_when_it_is_back(server, browsers):
    alice = Person(browsers(), server.url, unique("alice")).sign_up()
    token = sign_out_while_the_server_is_down(server, alice)
    server.restart()
    alice.wait(lambda: api_status(server, token) == 401, 30, "the signed-out token still works")
    alice.wait(lambda: "ended your session" in alice.login_message(), message=f"not told: {alice.login_message()!r}")
    assert alice.d.execute_script("return localStorage.getItem('webchat.revoke')") is None


def test_signing_out_while_the_server_is_down_ends_the_session_at_the_next_start(server, browsers):
    """The browser is closed before the server is back: the next start of the page ends the session."""
    profile = tempfile.mkdtemp(prefix="webchat-alice-")
    alice = Person(browsers(profile_dir=profile), server.url, unique("alice")).sign_up()
    token = sign_out_while_the_server_is_down(server, alice)
    alice.close()
    server.restart()
    assert api_status(server, token) == 200
    alice = Person(browsers(profile_dir=profile), server.url, alice.id).open_app()
    alice.wait(lambda: api_status(server, token) == 401, 10, "the signed-out token still works")
    alice.wait(lambda: alice.d.execute_script("return localStorage.getItem('webchat.revoke')") is None)
    assert alice.tid("login-id").is_displayed()


def test_focus_and_roles_after_sign_in(server, browsers, bots):
    bob = bots("bob")
    alice = Person(browsers(), server.url, unique("alice")).sign_up()
    assert alice.focused() == "new-chat", f"focus after sign-up: {alice.focused()}"
    alice.sign_out()
    alice.sign_in().wait_signed_in()
    assert alice.focused() == "new-chat", f"focus after sign-in: {alice.focused()}"
    alice.start_chat(bob.id)
    alice.wait_status(alice.send("hi"), "delivered")
    alice.d.execute_script("document.querySelector('[data-messages]').scrollTop = 0")
    roles = alice.d.execute_script("""const list = document.querySelector('[data-messages]');
        return {list: list.getAttribute('role'), items: [...list.children].map(c => c.getAttribute('role') || c.tagName)}""")
    assert roles["list"] == "list" and roles["items"] == ["listitem"], roles
    tick = alice.d.execute_script("const s = document.querySelector('[data-testid=message] .status'); return [s.getAttribute('role'), s.getAttribute('aria-label')]")
    assert tick == ["img", "Delivered"], tick
