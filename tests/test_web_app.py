"""The browser app (web/app) in Debian's Chromium: tabs as devices of one account, against a live server.

Each test starts a server in process with the built app and the demo
sign-in, and one headless Chromium; a browser context is a browser profile,
and each tab in it is a device of its own (the app keeps its deviceID per
tab). These run in real time: Chromium has no mock clock. Screenshots of the
main screens go to build/screenshots/ (HUBBUB_SCREENSHOTS).
"""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect
import trio

from .browser_support import open_browser, screenshot
from .conftest import ADMIN_TOKEN, Login, StartServer
from .web_app_support import conversation, conversation_order, device_id, messages, open_chat, send, sign_in, start_app_server, two_alice_tabs_and_bob


async def test_second_tab_login_under_single_kicks_the_first(start_server: StartServer) -> None:
    with trio.fail_after(90):
        gateway, url = await start_app_server(start_server, "single")
        async with open_browser() as browser:
            first = await browser.new_tab()
            second = await browser.new_tab()
            await browser.run(lambda _: sign_in(first, url, "alice"))
            await browser.run(lambda _: sign_in(second, url, "alice"))

            def kicked_screen() -> None:
                expect(first.get_by_test_id("closed-title")).to_have_text("Kicked out")
                expect(first.get_by_test_id("closed-kick-reason")).to_have_text("policy")
                expect(first.get_by_test_id("closed-by-platform")).to_have_text("Web")
                expect(first.get_by_test_id("closed-reason")).to_contain_text("another device signed in")
                expect(second.get_by_test_id("phase")).to_have_text("online")
                expect(second.get_by_test_id("device-count")).to_have_text("1")
                screenshot(first, "kicked")

            await browser.run(lambda _: kicked_screen())
            survivor = await browser.run(lambda _: device_id(second))
            assert gateway.listening is not None and gateway.listening.admin_url is not None
            async with httpx.AsyncClient(base_url=gateway.listening.admin_url, timeout=10) as admin:
                online = (await admin.get("/v1/users/alice/devices", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})).json()
            assert [(d["deviceID"], d["platform"]) for d in online["devices"]] == [(survivor, "Web")]

            # the administrator forces the other tab offline: it says so, and stays signed out
            async with httpx.AsyncClient(base_url=gateway.listening.admin_url, timeout=10) as admin:
                forced = await admin.delete("/v1/users/alice/devices", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
            assert forced.json() == {"forcedOffline": 1}

            def forced_offline_screen() -> None:
                expect(second.get_by_test_id("closed-title")).to_have_text("Forced offline")
                expect(second.get_by_test_id("closed-kick-reason")).to_have_text("admin")
                expect(second.get_by_test_id("closed-reason")).to_have_text("the administrator signed this device out")

            await browser.run(lambda _: forced_offline_screen())


async def test_a_message_reaches_every_tab_and_the_unread_counts_agree(start_server: StartServer, login: Login) -> None:
    with trio.fail_after(120):
        gateway, url = await start_app_server(start_server, "multi")
        async with open_browser() as browser:
            alice_a, alice_b, bob = await two_alice_tabs_and_bob(browser, url)

            def both_devices_listed() -> None:
                for page in (alice_a, alice_b):
                    expect(page.get_by_test_id("device-count")).to_have_text("2")  # alice_a saw selfDevicesChanged

            await browser.run(lambda _: both_devices_listed())

            # carol (the Python client) writes first, bob second: bob's conversation is the newest
            carol = await login(gateway, "carol", device="carol-phone")
            await carol.request("sendMessage", toConversationID="alice", conversationType=0, message={"type": 1, "message": "from carol"})

            def bob_writes() -> None:
                open_chat(bob, "alice")
                send(bob, "hello alice")

            await browser.run(lambda _: bob_writes())

            def unread_everywhere(counts: dict[str, str], total: str) -> None:
                for page in (alice_a, alice_b):
                    for peer, count in counts.items():
                        expect(conversation(page, peer).get_by_test_id("unread")).to_have_text(count)
                    expect(page.get_by_test_id("total-unread")).to_have_text(total)

            await browser.run(lambda _: unread_everywhere({"bob": "1", "carol": "1"}, "2"))
            alice_phone = await login(gateway, "alice", device="alice-phone")
            listed = (await alice_phone.request("queryConversationList", config={"count": 100}))["conversationList"]
            server_order = [c["conversationID"] for c in listed]
            assert server_order == ["bob", "carol"]
            assert await browser.run(lambda _: conversation_order(alice_a)) == server_order
            assert await browser.run(lambda _: conversation_order(alice_b)) == server_order

            # pinning on one tab reorders every tab, as the server orders it
            await browser.run(lambda _: conversation(alice_b, "carol").get_by_test_id("pin").click())

            def carol_first() -> None:
                for page in (alice_a, alice_b):
                    expect(page.get_by_test_id("conversation").first).to_have_attribute("data-id", "carol")

            await browser.run(lambda _: carol_first())
            listed = (await alice_phone.request("queryConversationList", config={"count": 100}))["conversationList"]
            assert [c["conversationID"] for c in listed] == ["carol", "bob"]
            assert await browser.run(lambda _: conversation_order(alice_a)) == ["carol", "bob"]
            assert await browser.run(lambda _: conversation_order(alice_b)) == ["carol", "bob"]

            # reading on tab A clears bob's unread count on tab B too
            def read_on_a() -> None:
                conversation(alice_a, "bob").get_by_test_id("conversation-open").click()
                expect(alice_a.get_by_test_id("message-text")).to_have_text(["hello alice"])

            await browser.run(lambda _: read_on_a())
            await browser.run(lambda _: unread_everywhere({"bob": "0", "carol": "1"}, "1"))

            # a reply from tab A shows on bob's tab and, as an own-device message, on tab B
            def reply_from_a() -> None:
                conversation(alice_b, "bob").get_by_test_id("conversation-open").click()
                send(alice_a, "hi bob")
                expect(bob.get_by_test_id("message-text")).to_have_text(["hello alice", "hi bob"])
                expect(alice_b.get_by_test_id("message-text")).to_have_text(["hello alice", "hi bob"])
                screenshot(alice_a, "chat")

            await browser.run(lambda _: reply_from_a())
            assert await browser.run(lambda _: messages(alice_a)) == ["hello alice", "hi bob"]


async def test_a_call_answered_on_one_tab_closes_the_popup_on_the_other(start_server: StartServer) -> None:
    with trio.fail_after(90):
        gateway, url = await start_app_server(start_server, "multi")
        async with open_browser() as browser:
            alice_a, alice_b, bob = await two_alice_tabs_and_bob(browser, url)

            def bob_calls() -> None:
                bob.get_by_test_id("section-calls").click()
                bob.get_by_test_id("call-user").fill("alice")
                bob.get_by_test_id("call-start").click()
                for page in (alice_a, alice_b):
                    expect(page.get_by_test_id("incoming-call")).to_contain_text("bob is calling")
                screenshot(alice_b, "incoming-call")

            await browser.run(lambda _: bob_calls())

            def accept_on_a() -> None:
                alice_a.get_by_test_id("call-accept").click()
                expect(alice_b.get_by_test_id("incoming-call")).to_have_count(0)
                alice_b.get_by_test_id("section-calls").click()
                expect(alice_b.get_by_test_id("call-notice")).to_have_text("call accepted on another device")
                expect(alice_a.get_by_test_id("incoming-call")).to_have_count(0)
                alice_a.get_by_test_id("section-calls").click()
                expect(alice_a.get_by_test_id("call-notice")).to_have_text("call accepted here")
                expect(bob.get_by_test_id("call-user-state").and_(bob.locator("[data-id='alice']"))).to_contain_text("accepted")

            await browser.run(lambda _: accept_on_a())


async def test_a_tab_reloaded_after_going_offline_catches_up_without_a_gap(start_server: StartServer) -> None:
    with trio.fail_after(90):
        gateway, url = await start_app_server(start_server, "multi")
        async with open_browser() as browser:
            alice = await browser.new_tab()
            bob = await browser.new_tab()
            await browser.run(lambda _: sign_in(alice, url, "alice"))
            await browser.run(lambda _: sign_in(bob, url, "bob"))
            await browser.run(lambda _: expect(alice.get_by_test_id("sync")).to_have_text(re.compile(r"^new device")))

            def first_message() -> None:
                open_chat(bob, "alice")
                send(bob, "one")
                expect(conversation(alice, "bob").get_by_test_id("unread")).to_have_text("1")

            await browser.run(lambda _: first_message())
            alice_device = await browser.run(lambda _: device_id(alice))

            def progress_saved() -> None:
                # the client saves the processed seq in batches: wait until this tab has saved one
                alice.wait_for_function(
                    "key => Number(sessionStorage.getItem(key)) > 0", arg=f"hubbub.seq.alice.{alice_device}", polling=100
                )

            await browser.run(lambda _: progress_saved())

            def go_offline_and_reload() -> None:
                alice.context.set_offline(True)
                # the reload unloads the page (and its WebSocket), then fails: the tab is offline
                with pytest.raises(PlaywrightError, match="ERR_INTERNET_DISCONNECTED"):
                    alice.reload()

            await browser.run(lambda _: go_offline_and_reload())

            def bob_writes_meanwhile() -> None:
                send(bob, "two")
                send(bob, "three")

            await browser.run(lambda _: bob_writes_meanwhile())
            assert gateway.listening is not None and gateway.listening.admin_url is not None
            async with httpx.AsyncClient(base_url=gateway.listening.admin_url, timeout=10) as admin:
                online = (await admin.get("/v1/users/alice/devices", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})).json()
            assert online["devices"] == []  # alice really was offline while bob wrote

            def back_online() -> str:
                alice.context.set_offline(False)
                alice.reload()
                expect(alice.get_by_test_id("phase")).to_have_text("online")
                sync = alice.get_by_test_id("sync")
                expect(sync).to_have_text(re.compile(r"^resumed from \d+: \d+ missed events replayed, no gap$"))
                expect(conversation(alice, "bob").get_by_test_id("unread")).to_have_text("3")
                expect(alice.get_by_test_id("total-unread")).to_have_text("3")
                conversation(alice, "bob").get_by_test_id("conversation-open").click()
                expect(alice.get_by_test_id("message-text")).to_have_text(["one", "two", "three"])
                screenshot(alice, "resumed")
                return sync.inner_text()

            status = await browser.run(lambda _: back_online())
            match = re.match(r"^resumed from (\d+): (\d+) missed", status)
            assert match is not None
            assert int(match.group(1)) > 0 and int(match.group(2)) >= 2  # at least bob's two messages were replayed
            assert await browser.run(lambda _: device_id(alice)) == alice_device  # the same device came back
