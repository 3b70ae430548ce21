"""Saves screenshots of the web client's main views to docs/screenshots/*.png.

  python Tests/browser/screenshots.py [BASE_URL]

BASE_URL defaults to $WEBCHAT_URL; a live webchat server is needed. It signs up
three fresh users and chats a little.
"""

import os
import sys
from pathlib import Path

from selenium.webdriver.common.by import By

from helpers import make_driver
from webchat_page import Person, dm, unique

OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def main() -> None:
    base = (sys.argv[1] if len(sys.argv) > 1 else os.environ.get("WEBCHAT_URL", "")).rstrip("/")
    if not base:
        sys.exit("usage: screenshots.py BASE_URL (or set WEBCHAT_URL)")
    OUT.mkdir(parents=True, exist_ok=True)
    drivers = []
    try:
        def person(prefix, name, **kw):
            d = make_driver(**kw)
            drivers.append(d)
            return Person(d, base, unique(prefix), name)

        alice = person("alice", "Alice Martin", width=1100, height=720)
        alice.open_app()
        alice.wait(lambda: alice.tid("login-id").is_displayed())
        alice.d.save_screenshot(str(OUT / "sign-in.png"))

        alice.sign_up()
        bob = person("bob", "Bob Okafor").sign_up()
        carol = person("carol", "Carol Nguyen").sign_up()

        bob.start_chat(alice.id)
        bob.send("Hi Alice! Are we still on for Friday?")
        alice.open(dm(alice.id, bob.id))
        alice.wait_body("Hi Alice! Are we still on for Friday?")
        alice.send("Yes! 7 pm at the usual place.")
        bob.send("Great, see you there. I will bring the board game.")
        alice.wait_body("Great, see you there. I will bring the board game.")
        carol.start_chat(alice.id)
        carol.send("Did you get my notes from the meeting?")
        bob.type("Also")
        alice.wait(lambda: alice.unread(dm(alice.id, carol.id)) == 1)
        alice.wait(lambda: "typing" in alice.tid("typing-indicator").text)
        alice.d.save_screenshot(str(OUT / "conversation.png"))

        alice.new_group("Weekend trip", [bob.id, carol.id])
        conv = alice.conversation_id("Weekend trip")
        alice.wait_open(conv)
        alice.send("Who's in for the lake on Saturday?")
        bob.open(conv)
        bob.send("Me! I can drive.")
        carol.open(conv)
        carol.send("Count me in <b>definitely</b>")
        alice.wait_body("Count me in <b>definitely</b>")
        alice.d.save_screenshot(str(OUT / "group.png"))

        mobile = make_driver(width=375, height=740)
        drivers.append(mobile)
        m = Person(mobile, base, bob.id, bob.name)
        token = bob.d.execute_script("return localStorage.getItem('webchat.session')")
        mobile.get(base + "/")
        mobile.execute_script("localStorage.setItem('webchat.session', arguments[0])", token)
        mobile.refresh()
        m.wait_signed_in()
        mobile.save_screenshot(str(OUT / "mobile-list.png"))
        m.open(conv)
        m.wait_body("Count me in <b>definitely</b>")
        mobile.find_element(By.CSS_SELECTOR, "[data-messages]")
        mobile.save_screenshot(str(OUT / "mobile-chat.png"))
        print("saved:", ", ".join(sorted(p.name for p in OUT.glob("*.png"))))
    finally:
        for d in drivers:
            d.quit()


if __name__ == "__main__":
    main()
