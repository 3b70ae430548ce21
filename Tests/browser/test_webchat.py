"""End-to-end scenarios of the web client, as people use it (see conftest.py for the server)."""

import json
import tempfile
import time

import pytest
import requests
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


def chatting_pair(server, browsers):
    """Alice and Bob, each in a browser of their own, with their chat open on both sides."""
    alice, bob = pair(server, browsers)
    conv = dm(alice.id, bob.id)
    alice.start_chat(bob.id)
    alice.send("hey")
    bob.open(conv)
    return alice, bob, conv


def test_typing_indicator(server, browsers):
    alice, bob, conv = chatting_pair(server, browsers)
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
    conv = alice.conversation_id("Trip")
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
    carol.leave_group()
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
    entry = alice.queue_send_to_nobody()
    alice.wait(lambda: alice.d.find_elements(By.CSS_SELECTOR, f'[data-id="{entry["id"]}"][data-status="failed"]'),
               message="send to an unknown user should fail")
    alice.tid("retry").click()
    alice.wait(lambda: alice.status(entry["id"]) == "failed", message="retry should fail again")


def test_mobile_375_layout(server, browsers, bots):
    alice = Person(browsers(width=375, height=740), server.url, unique("alice")).sign_up()
    bob = bots("bob")
    alice.start_chat(bob.id)
    alice.send("small screen")
    width = alice.d.execute_script("return document.documentElement.scrollWidth")
    assert width <= 375, f"horizontal overflow: {width}"
    assert not alice.d.find_element(By.CSS_SELECTOR, ".sidebar").is_displayed()
    alice.d.find_element(By.CSS_SELECTOR, "[data-back]").click()
    alice.wait(lambda: alice.d.find_element(By.CSS_SELECTOR, ".sidebar").is_displayed())
    assert alice.conversation(dm(alice.id, bob.id)) is not None
    # Back puts the focus on the conversation just left, not on the page.
    alice.wait(lambda: alice.focused() == f"conversation:{dm(alice.id, bob.id)}", message=f"focus after Back: {alice.focused()}")
    # A long unbroken preview and a long group name are cut with an ellipsis; they must not widen the list.
    bob.send("https://example.com/" + "x" * 200, to=alice.id)
    alice.wait(lambda: "example.com" in alice.preview(dm(alice.id, bob.id)))
    bob.emit("group:create", {"name": "Weekend-hiking-and-climbing-club-of-the-northern-district-2025", "members": [alice.id]})
    alice.wait_conversation(title="Weekend-hiking")
    layout = alice.d.execute_script("""return {page: document.documentElement.scrollWidth, sidebar: document.querySelector('.sidebar').getBoundingClientRect().width,
        signOut: document.querySelector('[data-sign-out]').getBoundingClientRect().right, newGroup: document.querySelector('[data-testid=new-group]').getBoundingClientRect().right}""")
    assert max(layout.values()) <= 375, f"wider than the screen: {layout}"


def server_unread(person: Person, conv_id: str) -> int:
    """The unread count the server has for `person` (with the token the page stored)."""
    token = json.loads(person.d.execute_script("return localStorage.getItem('webchat.session')"))["token"]
    r = requests.get(f"{person.base}/api/v1/conversations", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    return next((c["unread"] for c in r.json()["conversations"] if c["id"] == conv_id), 0)


def test_two_tabs_queue_while_offline_and_nothing_is_lost(server, browsers, bots):
    """Both tabs of one user queue a message while the server is down, then the first tab is closed:
    the stored outbox is shared, so both messages still go out, once each, in order."""
    bob = bots("bob", connect=False)
    alice = Person(browsers(), server.url, unique("alice")).sign_up()
    conv = dm(alice.id, bob.id)
    alice.start_chat(bob.id)
    alice.wait_status(alice.send("hello"), "sent")
    tab1, tab2 = alice.open_second_tab(conv)
    alice.wait_open(conv)
    server.kill()
    alice.d.switch_to.window(tab1)
    m1 = alice.send("m1 from tab 1")
    alice.d.switch_to.window(tab2)
    m2 = alice.send("m2 from tab 2")
    assert [e["id"] for e in alice.outbox()] == [m1, m2], "one tab overwrote the other's queued message"
    alice.wait(lambda: alice.status(m1) == "pending", message="tab 2 does not show what tab 1 queued")
    alice.d.switch_to.window(tab1)
    alice.d.close()
    alice.d.switch_to.window(tab2)
    server.restart()
    alice.wait_connected(30)
    alice.wait_status(m1, "sent", 30)
    alice.wait_status(m2, "sent", 30)
    assert bob.history(conv) == ["hello", "m1 from tab 1", "m2 from tab 2"]
    alice.wait(lambda: alice.outbox() == [], message="outbox not emptied")


def test_reinvited_member_sees_what_was_said_while_away(server, browsers, bots):
    alice = bots("alice")
    carol = Person(browsers(), server.url, unique("carol")).sign_up()
    group = alice.emit("group:create", {"name": "Team", "members": [carol.id]})["group"]["id"]
    conv = f"grp:{group}"
    alice.send("g1", group=group)
    carol.open(conv)
    carol.wait_body("g1")
    carol.leave_group()
    carol.wait(lambda: carol.conversation(conv) is None, message="group still listed after leaving")
    alice.send("while away 1", group=group)
    alice.send("while away 2", group=group)
    alice.emit("group:invite", {"group": group, "members": [carol.id]})
    carol.open(conv)
    carol.wait(lambda: carol.bodies() == ["g1", "while away 1", "while away 2"], message=f"history after re-invite: {carol.bodies()}")
    alice.send("after return", group=group)
    carol.wait(lambda: carol.bodies() == ["g1", "while away 1", "while away 2", "after return"], message=f"{carol.bodies()}")


def test_reload_reopens_an_open_group(server, browsers, bots):
    bob = bots("bob", connect=False)
    alice = Person(browsers(), server.url, unique("alice")).sign_up()
    alice.new_group("Reloaded", [bob.id])
    conv = alice.conversation_id("Reloaded")
    alice.wait_open(conv)
    alice.send("before reload")
    alice.d.refresh()
    alice.wait_signed_in()
    alice.wait_open(conv)
    alice.wait(lambda: alice.d.find_element(By.CSS_SELECTOR, "[data-chat-title]").text == "Reloaded", message="group not reopened")
    alice.wait_body("before reload")


def test_second_tab_catches_up_with_the_first(server, browsers, bots):
    """The server does not echo a user's own messages or reads to that user's other tabs; a tab finds
    out from gaps in positions, receipts for messages it lacks, and a refresh when it is shown again."""
    bob = bots("bob")
    carol = bots("carol", connect=False)
    alice = Person(browsers(), server.url, unique("alice")).sign_up()
    conv = dm(alice.id, bob.id)
    alice.start_chat(carol.id)
    alice.send("hi carol")
    alice.start_chat(bob.id)
    alice.wait_status(alice.send("hello bob"), "delivered")
    tab1, tab2 = alice.open_second_tab(conv)
    alice.wait_body("hello bob")
    alice.d.switch_to.window(tab1)
    alice.wait_status(alice.send("sent from tab 1"), "delivered")
    bob.send("bob replies", to=alice.id)
    alice.wait_body("bob replies")
    alice.d.switch_to.window(tab2)
    want = ["hello bob", "sent from tab 1", "bob replies"]
    alice.wait(lambda: alice.bodies() == want, message=f"tab 2 shows {alice.bodies()}")
    assert alice.preview(conv) == "bob replies"
    # Tab 2 looks at carol; bob writes again and tab 1, which has bob open, reads it.
    alice.open(dm(alice.id, carol.id))
    alice.d.switch_to.window(tab1)
    bob.send("bob again", to=alice.id)
    alice.wait_body("bob again")
    alice.wait(lambda: server_unread(alice, conv) == 0, message="tab 1 did not read")
    alice.d.switch_to.window(tab2)
    alice.wait(lambda: alice.unread(conv) == 0, message="tab 2 keeps a stale unread count")
    assert alice.preview(conv) == "bob again"


SKEWED_CLOCK = "(() => { const real = Date.now.bind(Date); Date.now = () => real() + 10 * 60 * 1000; })();"


def test_order_and_preview_follow_server_time_not_the_local_clock(server, browsers, bots):
    """This browser's clock is 10 minutes fast: the call log still orders by the server's times."""
    driver = browsers()
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": SKEWED_CLOCK})
    alice = Person(driver, server.url, unique("alice")).sign_up()
    bob, carol = bots("bob"), bots("carol")
    with_bob, with_carol = dm(alice.id, bob.id), dm(alice.id, carol.id)
    carol.send("carol first", to=alice.id)
    alice.wait_conversation(with_carol)
    alice.start_chat(bob.id)
    alice.wait_status(alice.send("alice to bob"), "delivered")
    carol.send("carol newer", to=alice.id)
    alice.wait(lambda: alice.conversation_ids()[:2] == [with_carol, with_bob], message=f"order: {alice.conversation_ids()}")
    alice.new_group("Skewed", [bob.id, carol.id])
    group = alice.conversation_id("Skewed")
    alice.wait(lambda: "created" in alice.preview(group), message="no notice for the new group")
    bob.send("bob in group", group=group[4:])
    alice.wait(lambda: alice.preview(group).endswith("bob in group"), message=f"group preview: {alice.preview(group)!r}")
    alice.wait(lambda: alice.conversation_ids()[0] == group)


BREAK_FETCH = "window.__fetch = window.__fetch || window.fetch; window.fetch = () => Promise.reject(new TypeError('Failed to fetch'));"
MEND_FETCH = "window.fetch = window.__fetch;"


def test_list_errors_clear_on_success_reconnect_and_sign_out(server, browsers, bots):
    bob, carol, dave = bots("bob", connect=False), bots("carol", connect=False), bots("dave", connect=False)
    alice = Person(browsers(), server.url, unique("alice")).sign_up()
    for peer in (bob, dave, carol):  # carol last: the reload below reopens her chat from the URL
        alice.start_chat(peer.id)
        alice.wait_status(alice.send(f"hi {peer.name}"), "sent")
    unreachable = lambda: "Cannot reach the server" in alice.list_error()  # noqa: E731

    def fail_to_open(peer):
        alice.d.execute_script(BREAK_FETCH)
        alice.open(dm(alice.id, peer.id))
        alice.wait(unreachable, message="no error while the server is unreachable")
        alice.d.execute_script(MEND_FETCH)

    alice.d.refresh()  # so that no history but carol's is loaded in this page
    alice.wait_signed_in()
    fail_to_open(bob)
    alice.open(dm(alice.id, carol.id))
    alice.wait(lambda: alice.list_error() == "", message="the error stays after a later success")
    # The socket reconnects: the error goes, and the open conversation loads after all.
    fail_to_open(dave)
    server.restart()
    alice.wait_connected(30)
    alice.wait(lambda: alice.list_error() == "", message="the error stays after reconnecting")
    alice.wait_body(f"hi {dave.name}")
    # Sign-out: the next user starts clean.
    alice.d.refresh()  # reopens dave's chat; bob's history is not loaded
    alice.wait_signed_in()
    fail_to_open(bob)
    alice.d.find_element(By.CSS_SELECTOR, "[data-sign-out]").click()
    alice.wait(lambda: alice.tid("login-id").is_displayed())
    assert alice.list_error() == ""
    Person(alice.d, server.url, carol.id).sign_in().wait_signed_in()
    assert alice.list_error() == ""


def test_sign_out_leaves_nothing_of_the_user_in_the_page(server, browsers, bots):
    bob, carol = bots("bob"), bots("carol", connect=False)
    alice = Person(browsers(), server.url, unique("alice")).sign_up()
    page = alice.d
    announcer = lambda: page.find_element(By.ID, "announcer").get_attribute("textContent")  # noqa: E731
    bob.send("SECRET for alice", to=alice.id)
    alice.wait(lambda: "SECRET" in announcer(), message="not announced")
    alice.open(dm(alice.id, bob.id))
    bob.emit("typing", {"to": alice.id, "typing": True})
    alice.wait(lambda: "typing" in alice.tid("typing-indicator").text)
    alice.tid("new-group").click()
    alice.tid("new-group-name").send_keys("Alice private plans")
    alice.tid("new-group-members").send_keys(bob.id)
    page.find_element(By.CSS_SELECTOR, "[data-sign-out]").click()
    alice.wait(lambda: alice.tid("login-id").is_displayed())

    def nothing_left(who):
        state = page.execute_script("""const q = (s) => document.querySelector(s);
            return {announcer: q('#announcer').textContent, typing: q('[data-testid=typing-indicator]').textContent,
                    groupForm: !q('#new-group-form').hidden, groupName: q('#new-group-name').value, members: q('#new-group-members').value,
                    chatForm: !q('#new-chat-form').hidden, invite: !q('#invite-form').hidden, listError: q('[data-list-error]').textContent,
                    list: q('[data-conversations]').textContent, title: q('[data-chat-title]').textContent, composer: q('#composer').value,
                    expanded: q('[data-testid=new-group]').getAttribute('aria-expanded')}""")
        assert not any(state[k] for k in ("announcer", "typing", "groupForm", "groupName", "members", "chatForm", "invite", "listError")), f"{who}: {state}"
        assert "SECRET" not in state["list"] and state["title"] == "" and state["expanded"] == "false", f"{who}: {state}"

    nothing_left("after sign-out")
    Person(page, server.url, carol.id).sign_in().wait_signed_in()
    nothing_left("next user")


def test_typing_indicator_stays_while_typing_continues(server, browsers):
    alice, bob, conv = chatting_pair(server, browsers)
    indicator = lambda: bob.tid("typing-indicator").text  # noqa: E731
    start = time.monotonic()
    while time.monotonic() - start < 9:  # longer than the 6 s an indicator lasts unless refreshed
        alice.type("x")
        if time.monotonic() - start > 1.5:
            assert "typing" in indicator(), f"indicator gone after {time.monotonic() - start:.1f} s of typing"
        time.sleep(0.7)
    # Leaving the box ends it at once (well before the 3 s idle timeout).
    alice.d.execute_script("document.querySelector('[data-testid=composer]').blur()")
    left = time.monotonic()
    bob.wait(lambda: indicator() == "", 2, "typing indicator stays after the composer lost focus")
    assert time.monotonic() - left < 2.5


def test_bad_or_foreign_conversation_in_the_url(server, browsers, bots):
    alice, bob = bots("alice", connect=False), bots("bob", connect=False)
    carol = Person(browsers(), server.url, unique("carol")).sign_up()
    carol.d.get(f"{server.url}/#%E0%A4%A")  # malformed percent-encoding
    carol.d.refresh()
    carol.wait_signed_in()
    assert not carol.errors(), carol.errors()
    for foreign in (dm(alice.id, bob.id), "grp:abcdefabcdef"):
        carol.d.get(f"{server.url}/#{foreign}")
        carol.d.refresh()
        carol.wait_signed_in()
        carol.wait(lambda: "not found" in carol.list_error(), message=f"nothing said about {foreign}")
        assert carol.conversation_ids() == [], f"phantom conversation for {foreign}"
        assert not carol.d.find_element(By.CSS_SELECTOR, "[data-chat]").is_displayed()
    # One's own direct chat with someone real still opens from the URL.
    carol.d.get(f"{server.url}/#{dm(carol.id, bob.id)}")
    carol.d.refresh()
    carol.wait_signed_in()
    carol.wait_open(dm(carol.id, bob.id))
    assert not carol.errors(), carol.errors()


def paste_into_composer(person, text):
    """Pastes `text` into the open conversation's composer in one insertion, as a paste does;
    returns the composer and a reader of the note under it."""
    composer = person.tid("composer")
    person.d.execute_script("arguments[0].focus()", composer)
    person.d.execute_cdp_cmd("Input.insertText", {"text": text})
    return composer, lambda: person.d.find_element(By.CSS_SELECTOR, "[data-composer-note]").text


def test_long_text_is_counted_in_code_points_and_never_cut(server, browsers, bots):
    bob = bots("bob", connect=False)
    alice = Person(browsers(), server.url, unique("alice")).sign_up()
    alice.start_chat(bob.id)
    composer, note = paste_into_composer(alice, "z" * 4500)
    assert len(composer.get_attribute("value")) == 4500, "pasted text was cut"
    alice.wait(lambda: "4500" in note().replace(",", "") and "4000" in note().replace(",", ""), message=f"no word about the length: {note()!r}")
    composer.send_keys(Keys.ENTER)
    settle(0.3)
    assert alice.snapshot() == [] and len(composer.get_attribute("value")) == 4500, "too long a text was sent or dropped"
    # 2500 emoji are 5000 UTF-16 units but 2500 code points: the server takes them.
    alice.d.execute_script("arguments[0].value = ''; arguments[0].dispatchEvent(new Event('input'))", composer)
    alice.wait(lambda: note() == "")
    alice.d.execute_cdp_cmd("Input.insertText", {"text": "\U0001F600" * 2500})
    assert alice.d.execute_script("return [...arguments[0].value].length", composer) == 2500
    assert note() == ""
    composer.send_keys(Keys.ENTER)
    mid = alice.wait(lambda: alice.snapshot() and alice.snapshot()[-1]["id"])
    alice.wait_status(mid, "sent")
    assert bob.history(dm(alice.id, bob.id)) == ["\U0001F600" * 2500]


@pytest.mark.server_args("--max-message-chars", "20", "--max-group-members", "2")
def test_limits_come_from_the_server(server, browsers, bots):
    """A server with a 20-character limit: the client says 21 are too many, keeps them and sends
    nothing; 20 (counted in code points, as the server does) go. Groups: at most 2 members, said
    before anything is sent."""
    bob = bots("bob", connect=False)
    carol = bots("carol", connect=False)
    alice = Person(browsers(), server.url, unique("alice")).sign_up()
    alice.start_chat(bob.id)
    # 21 code points, 22 UTF-16 units.
    composer, note = paste_into_composer(alice, "\U0001F600" + "x" * 20)
    alice.wait(lambda: "21" in note() and "limit is 20" in note(), message=f"21 characters not refused: {note()!r}")
    assert composer.get_attribute("aria-invalid") == "true"
    composer.send_keys(Keys.ENTER)
    settle(0.3)
    assert alice.snapshot() == [] and composer.get_attribute("value") == "\U0001F600" + "x" * 20, "too long a text was sent or cut"
    composer.send_keys(Keys.BACKSPACE)  # 20 code points, 21 UTF-16 units: at the limit
    alice.wait(lambda: composer.get_attribute("aria-invalid") == "false", message=f"20 characters refused: {note()!r}")
    composer.send_keys(Keys.ENTER)
    mid = alice.wait(lambda: alice.snapshot() and alice.snapshot()[-1]["id"], message="20 characters not sent")
    alice.wait_status(mid, "sent")
    assert bob.history(dm(alice.id, bob.id)) == ["\U0001F600" + "x" * 19]

    form = alice.d.find_element(By.ID, "new-group-form")
    error = lambda: form.find_element(By.CSS_SELECTOR, "[data-error]").text  # noqa: E731
    alice.tid("new-group").click()
    alice.tid("new-group-name").send_keys("Three")
    alice.tid("new-group-members").send_keys(f"{bob.id}, {carol.id}")
    alice.tid("new-group-submit").click()
    alice.wait(lambda: "at most 2 members, you included" in error(), message=f"a group of 3 not refused: {error()!r}")
    assert alice.conversation_ids() == [dm(alice.id, bob.id)]
    alice.tid("new-group-members").clear()
    alice.tid("new-group-members").send_keys(bob.id)
    alice.tid("new-group-submit").click()
    alice.wait_conversation(title="Three")


def test_leave_asks_first_and_focus_stays_in_the_page(server, browsers, bots):
    bob = bots("bob", connect=False)
    alice = Person(browsers(), server.url, unique("alice")).sign_up()
    alice.start_chat(bob.id)
    alice.send("first")
    alice.new_group("Leaving", [bob.id])
    conv = alice.conversation_id("Leaving")
    alice.wait_open(conv)
    alice.tid("group-leave").click()
    alice.wait(lambda: alice.tid("group-leave-confirm").is_displayed(), message="Leave did not ask first")
    assert alice.conversation(conv) is not None, "left without confirmation"
    assert alice.focused() == "group-leave-cancel"
    alice.tid("group-leave-cancel").click()
    alice.wait(lambda: not alice.tid("group-leave-confirm").is_displayed())
    assert alice.conversation(conv) is not None and alice.focused() == "group-leave"
    alice.leave_group()
    alice.wait(lambda: alice.conversation(conv) is None, message="group still listed after leaving")
    alice.wait(lambda: alice.focused() not in ("BODY", "HTML"), message="focus lost after leaving")
    assert alice.focused() in ("new-chat", f"conversation:{dm(alice.id, bob.id)}"), alice.focused()
