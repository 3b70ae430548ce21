"""End-to-end scenarios of the web client, as people use it (see conftest.py for the server)."""

import json
import tempfile

from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from webchat_page import Person, dm, settle, unique


def pair(server, browsers):
    alice = Person(browsers(), server.url, unique("alice")).sign_up()
    bob = Person(browsers(), server.url, unique("bob")).sign_up()
    return alice, bob


def test_two_people_sign_up_and_chat(server, browsers):
    alice, bob = pair(server, browsers)
    conv = dm(alice.id, bob.id)
    alice.start_chat(bob.id)
    mid = alice.send("hello bob")
    alice.wait_status(mid, "delivered")
    bob.open(conv)
    bob.wait_body("hello bob")
    composer = bob.tid("composer")
    composer.send_keys("hi alice")
    ActionChains(bob.d).key_down(Keys.SHIFT).send_keys(Keys.ENTER).key_up(Keys.SHIFT).perform()
    composer.send_keys("second line")
    assert composer.get_attribute("value") == "hi alice\nsecond line", "Shift+Enter must add a line, not send"
    composer.send_keys(Keys.ENTER)
    alice.wait_body("hi alice\nsecond line")
    assert [m["from"] for m in alice.snapshot()] == [alice.id, bob.id]


def test_chat_over_https(tls_server, browsers):
    """Served with --tls-cert-file: the page is https, so its socket must be wss (a browser
    refuses ws:// from an https page); a message and its receipts go both ways."""
    alice = Person(browsers(trust_spki=tls_server.tls.spki), tls_server.url, unique("alice")).sign_up()
    bob = Person(browsers(trust_spki=tls_server.tls.spki), tls_server.url, unique("bob")).sign_up()
    assert alice.d.execute_script("return location.protocol") == "https:"
    alice.start_chat(bob.id)
    mid = alice.send("over TLS")
    alice.wait_status(mid, "delivered")
    bob.open(dm(alice.id, bob.id))
    bob.wait_body("over TLS")
    alice.wait_status(mid, "read")


def test_sent_delivered_read_and_unread_badge(server, browsers):
    alice, bob = pair(server, browsers)
    conv = dm(alice.id, bob.id)
    alice.start_chat(bob.id)
    first = alice.send("one")
    second = alice.send("two")
    # Bob is online but not looking: delivered, not read; his badge counts both.
    alice.wait_status(first, "delivered")
    alice.wait_status(second, "delivered")
    bob.wait_conversation(conv)
    bob.wait(lambda: bob.unread(conv) == 2, message="badge should say 2")
    bob.wait(lambda: alice.name in bob.conversation(conv).text and "two" in bob.conversation(conv).text,
             message="list entry should show the peer and the last message")
    bob.open(conv)
    alice.wait_status(first, "read")
    alice.wait_status(second, "read")
    bob.wait(lambda: bob.unread(conv) == 0, message="badge should clear")


def test_typing_indicator(server, browsers):
    alice, bob = pair(server, browsers)
    conv = dm(alice.id, bob.id)
    alice.start_chat(bob.id)
    alice.send("hey")
    bob.open(conv)
    alice.type("I am wri")
    bob.wait(lambda: "typing" in bob.tid("typing-indicator").text, message="no typing indicator")
    assert alice.name in bob.tid("typing-indicator").text
    alice.tid("composer").send_keys(Keys.ENTER)
    bob.wait(lambda: bob.tid("typing-indicator").text == "", message="typing indicator stays after send")


def test_peer_closes_browser_then_returns(server, browsers):
    alice = Person(browsers(), server.url, unique("alice")).sign_up()
    profile = tempfile.mkdtemp(prefix="webchat-bob-")
    bob = Person(browsers(profile_dir=profile), server.url, unique("bob")).sign_up()
    alice.start_chat(bob.id)
    bob.close()
    mid = alice.send("are you there?")
    alice.wait_status(mid, "sent")
    settle(2)
    assert alice.status(mid) == "sent", "delivered although the peer is offline"
    # Bob comes back: same profile, still signed in (token in localStorage).
    bob = Person(browsers(profile_dir=profile), server.url, bob.id).open_app().wait_signed_in()
    alice.wait_status(mid, "delivered")
    bob.wait(lambda: bob.unread(dm(alice.id, bob.id)) == 1, message="badge after return")


def test_pending_message_survives_server_restart(server, browsers):
    alice, bob = pair(server, browsers)
    conv = dm(alice.id, bob.id)
    alice.start_chat(bob.id)
    alice.wait_status(alice.send("before"), "delivered")
    server.kill()
    alice.wait(lambda: alice.connection_state() != "connected", 70, "client did not notice the server died")
    mid = alice.send("while the server is down")
    alice.wait_status(mid, "pending")
    # The outbox is persistent: it is in localStorage before anything is sent.
    outbox = alice.d.execute_script(f"return localStorage.getItem('webchat.outbox.{alice.id}')")
    assert mid in outbox
    server.restart()
    alice.wait_connected(30)
    alice.wait_status(mid, "delivered", 30)
    bob.wait_connected(30)
    bob.open(conv)
    bob.wait_body("while the server is down")
    assert bob.bodies().count("while the server is down") == 1


def test_history_after_reload_and_scroll_back(server, browsers):
    alice, bob = pair(server, browsers)
    conv = dm(alice.id, bob.id)
    alice.start_chat(bob.id)
    composer = alice.tid("composer")
    for i in range(1, 61):
        composer.send_keys(f"m{i}", Keys.ENTER)
    alice.wait(lambda: alice.bodies().count("m60") == 1 and all(
        m["status"] != "pending" for m in alice.snapshot()), 30, "sends did not finish")
    alice.d.refresh()
    alice.wait_signed_in()
    alice.open(conv)
    alice.wait(lambda: "m60" in alice.bodies(), message="history not loaded after reload")
    assert len(alice.messages()) == 50
    assert alice.bodies()[-1] == "m60" and alice.bodies()[0] == "m11"
    assert alice.snapshot()[-1]["status"] in ("delivered", "read")
    # Scroll to the top: the older page loads, and order holds.
    alice.d.execute_script("document.querySelector('[data-messages]').scrollTop = 0")
    alice.wait(lambda: len(alice.messages()) == 60, message="older page not loaded")
    assert alice.bodies() == [f"m{i}" for i in range(1, 61)]


def test_group_chat_with_three_people(server, browsers):
    alice, bob = pair(server, browsers)
    carol = Person(browsers(), server.url, unique("carol")).sign_up()
    dave = Person(browsers(), server.url, unique("dave")).sign_up()
    alice.new_group("Trip", [bob.id, carol.id])
    group_li = alice.wait_conversation(title="Trip")
    conv = group_li.get_attribute("data-conversation")
    assert conv.startswith("grp:")
    alice.wait_open(conv)
    alice.send("who is in?")
    for p in (bob, carol):
        p.open(conv)
        p.wait_body("who is in?")
    bob.send("me")
    carol.send("me too")
    alice.wait_body("me too")
    alice.wait_body("me")
    # Sender names are shown on others' bubbles in a group.
    names = alice.d.find_elements(By.CSS_SELECTOR, '[data-testid="message"] .sender')
    assert {n.text for n in names} >= {bob.name, carol.name}
    # Invite Dave; he sees the group and the next message.
    alice.tid("group-invite").click()
    alice.tid("group-invite-members").send_keys(dave.id)
    alice.tid("group-invite-submit").click()
    dave.wait_conversation(conv)
    alice.send("welcome dave")
    dave.open(conv)
    dave.wait_body("welcome dave")
    # Carol leaves: the group disappears from her list; the others go on.
    carol.tid("group-leave").click()
    carol.wait(lambda: carol.conversation(conv) is None, message="group still listed after leaving")
    bob.send("bye carol")
    dave.wait_body("bye carol")


def test_markup_in_a_body_is_shown_as_text(server, browsers):
    alice, bob = pair(server, browsers)
    evil = "<img src=x onerror=alert(1)><b>x</b>"
    for p in (alice, bob):
        p.d.execute_script("window.__alerts = []; window.alert = (m) => window.__alerts.push(String(m));")
    alice.start_chat(bob.id)
    alice.send(evil)
    conv = dm(alice.id, bob.id)
    bob.wait_conversation(conv)
    bob.wait(lambda: evil in bob.conversation(conv).text, message="list preview should show the literal text")
    bob.open(conv)
    bob.wait_body(evil)
    for p in (alice, bob):
        assert not p.d.find_elements(By.CSS_SELECTOR, '[data-testid="message"] img, [data-testid="message"] b')
        assert evil in p.bodies()
        assert p.d.execute_script("return window.__alerts.length") == 0
        try:
            p.d.switch_to.alert
            raise AssertionError("an alert opened")
        except NoAlertPresentException:
            pass
        assert not p.errors()


def test_new_chat_with_unknown_user_says_so(server, browsers):
    alice = Person(browsers(), server.url, unique("alice")).sign_up()
    alice.new_chat("nobody-here")
    alice.wait(lambda: "No user 'nobody-here'" in alice.d.find_element(By.ID, "new-chat-form").text,
               message="no clear message for an unknown user")


def test_sign_in_errors_reload_and_sign_out(server, browsers):
    alice = Person(browsers(), server.url, unique("alice")).sign_up()
    alice.d.refresh()
    alice.wait_signed_in()  # token kept across reloads
    alice.d.find_element(By.CSS_SELECTOR, "[data-sign-out]").click()
    alice.wait(lambda: alice.tid("login-id").is_displayed(), message="not back at sign-in")
    assert alice.d.execute_script("return localStorage.getItem('webchat.session')") is None
    alice.sign_in(password="wrong password")
    alice.wait(lambda: alice.d.find_element(By.CSS_SELECTOR, "#login-form [data-error]").text != "",
               message="no message for a wrong password")
    alice.sign_in()
    alice.wait_signed_in()


def test_permanent_error_shows_failed_and_retry(server, browsers):
    alice = Person(browsers(), server.url, unique("alice")).sign_up()
    ghost = unique("ghost")
    conv = dm(alice.id, ghost)
    entry = {"id": "test-" + ghost, "conversation": conv, "to": ghost, "body": "to nobody", "ts": 1, "state": "pending"}
    alice.d.execute_script(f"localStorage.setItem('webchat.outbox.{alice.id}', {json.dumps(json.dumps([entry]))})")
    alice.d.execute_script(f"location.hash = {json.dumps(conv)}; location.reload()")
    alice.wait_signed_in()
    alice.wait(lambda: alice.d.find_elements(By.CSS_SELECTOR, f'[data-id="{entry["id"]}"][data-status="failed"]'),
               message="send to an unknown user should fail")
    alice.tid("retry").click()
    alice.wait(lambda: alice.status(entry["id"]) == "failed", message="retry should fail again")


def test_mobile_375_layout(server, browsers):
    alice = Person(browsers(width=375, height=740), server.url, unique("alice")).sign_up()
    bob = Person(browsers(), server.url, unique("bob")).sign_up()
    alice.start_chat(bob.id)
    alice.send("small screen")
    width = alice.d.execute_script("return document.documentElement.scrollWidth")
    assert width <= 375, f"horizontal overflow: {width}"
    assert not alice.d.find_element(By.CSS_SELECTOR, ".sidebar").is_displayed()
    alice.d.find_element(By.CSS_SELECTOR, "[data-back]").click()
    alice.wait(lambda: alice.d.find_element(By.CSS_SELECTOR, ".sidebar").is_displayed())
    assert alice.conversation(dm(alice.id, bob.id)) is not None
