"""The browser app's chat view, rooms, groups, friends and profile, in Debian's Chromium against a live server.

Like tests/test_web_app.py: a server in process, one headless Chromium, a
tab per device; the other party is sometimes the Python client.
"""

from __future__ import annotations

import trio
from playwright.sync_api import Page, expect

from .browser_support import open_browser, screenshot
from .conftest import Login, StartServer
from .web_app_support import conversation, send, sign_in_tabs, start_app_server, two_alice_tabs_and_bob


async def test_chat_view_pages_history_and_syncs_receipts_revokes_and_deletes(start_server: StartServer, login: Login) -> None:
    with trio.fail_after(120):
        gateway, url = await start_app_server(start_server, "multi")
        bob = await login(gateway, "bob", device="bob-phone")
        for n in range(1, 26):
            await bob.request("sendMessage", toConversationID="alice", conversationType=0, message={"type": 1, "message": f"m{n}"})
        async with open_browser() as browser:
            tab_a = await browser.new_tab()
            tab_b = await browser.new_tab(tab_a.context)
            await sign_in_tabs(browser, url, [(tab_a, "alice"), (tab_b, "alice")])

            def page_back() -> None:
                for tab in (tab_a, tab_b):
                    conversation(tab, "bob").get_by_test_id("conversation-open").click()
                texts = tab_a.get_by_test_id("message-text")
                expect(texts).to_have_count(20)  # one page, the newest
                expect(texts.first).to_have_text("m6")
                tab_a.get_by_test_id("load-older").click()
                expect(texts).to_have_count(25)
                expect(texts.first).to_have_text("m1")
                expect(tab_a.get_by_test_id("load-older")).to_have_count(0)

            await browser.run(lambda _: page_back())

            def send_with_receipt() -> None:
                tab_a.get_by_test_id("with-receipt").check()
                send(tab_a, "please read")
                mine = tab_a.get_by_test_id("message").filter(has_text="please read")
                expect(mine.get_by_test_id("receipt")).to_have_text("sent")
                expect(tab_b.get_by_test_id("message-text").last).to_have_text("please read")  # own other device

            await browser.run(lambda _: send_with_receipt())
            sent = await bob.next_event("peerMessageReceived")
            (message,) = sent["messageList"]
            assert message["message"] == "please read" and message["receiptStatus"] == 1
            await bob.request("sendMessageReceiptsRead", conversationID="alice", conversationType=0, messageIDs=[message["messageID"]])

            def read_revoke_delete() -> None:
                mine = tab_a.get_by_test_id("message").filter(has_text="please read")
                expect(mine.get_by_test_id("receipt")).to_have_text("read")
                mine.get_by_test_id("revoke").click()
                for tab in (tab_a, tab_b):
                    expect(tab.get_by_test_id("message-text").last).to_have_text("message revoked")
                tab_b.get_by_test_id("message").filter(has_text="m25").get_by_test_id("delete-message").click()
                for tab, shown in ((tab_a, 25), (tab_b, 20)):  # m1 (tab A paged back) or m6 .. m24, and the revoked one
                    expect(tab.get_by_test_id("message").filter(has_text="m25")).to_have_count(0)
                    expect(tab.get_by_test_id("message-text")).to_have_count(shown)

            await browser.run(lambda _: read_revoke_delete())
            revoked = await bob.next_event("messageRevokeReceived")
            assert revoked["messageList"][0]["messageID"] == message["messageID"]


async def test_conversation_marks_drafts_deletes_and_own_device_messages_reach_the_other_tab(
    start_server: StartServer, login: Login
) -> None:
    with trio.fail_after(120):
        gateway, url = await start_app_server(start_server, "multi")
        for sender in ("bob", "carol"):
            client = await login(gateway, sender, device=f"{sender}-phone")
            await client.request("sendMessage", toConversationID="alice", conversationType=0, message={"type": 1, "message": f"from {sender}"})
        async with open_browser() as browser:
            tab_a = await browser.new_tab()
            tab_b = await browser.new_tab(tab_a.context)
            await sign_in_tabs(browser, url, [(tab_a, "alice"), (tab_b, "alice")])

            def mark_draft_delete() -> None:
                conversation(tab_a, "bob").get_by_test_id("mark").click()
                expect(conversation(tab_b, "bob")).to_contain_text("marked")
                conversation(tab_a, "bob").get_by_test_id("conversation-open").click()
                tab_a.get_by_test_id("composer").fill("half a thought")
                tab_a.get_by_test_id("save-draft").click()
                expect(conversation(tab_b, "bob")).to_contain_text("Draft: half a thought")
                conversation(tab_b, "carol").get_by_test_id("delete-conversation").click()
                for tab in (tab_a, tab_b):
                    expect(tab.get_by_test_id("conversation")).to_have_count(1)
                    expect(tab.get_by_test_id("total-unread")).to_have_text("0")

            await browser.run(lambda _: mark_draft_delete())
            tab_a_login = await browser.run(lambda _: str(tab_a.get_by_test_id("device").and_(tab_a.locator(".this")).get_attribute("data-login-id")))

            def note_to_self() -> None:
                for tab in (tab_a, tab_b):
                    tab.get_by_test_id("open-own-devices").click()
                tab_b.get_by_test_id("to-device").select_option(tab_a_login)
                send(tab_b, "note for tab A")
                expect(tab_a.get_by_test_id("message-text")).to_have_text(["note for tab A"])

            await browser.run(lambda _: note_to_self())


async def test_a_room_entered_on_another_tab_shows_it_moved(start_server: StartServer) -> None:
    with trio.fail_after(90):
        gateway, url = await start_app_server(start_server, "multi")
        async with open_browser() as browser:
            tab_a, tab_b, bob = await two_alice_tabs_and_bob(browser, url)

            def enter(pages: list[Page]) -> None:
                for page in pages:
                    page.get_by_test_id("section-rooms").click()
                    page.get_by_test_id("room-id").fill("lobby")
                    page.get_by_test_id("room-enter").click()
                    expect(page.get_by_test_id("room")).to_have_attribute("data-state", "in")

            def talk() -> None:
                enter([tab_a, bob])
                expect(tab_a.get_by_test_id("room-members")).to_have_text("members: alice, bob")
                bob.get_by_test_id("room-composer").fill("hi room")
                bob.get_by_test_id("room-send").click()
                expect(tab_a.get_by_test_id("room-message")).to_have_count(1)

            await browser.run(lambda _: talk())

            def move_to_tab_b() -> None:
                enter([tab_b])
                expect(tab_a.get_by_test_id("room")).to_have_attribute("data-state", "elsewhere")
                expect(tab_a.get_by_test_id("room-elsewhere")).to_contain_text("entered this room on another device")
                expect(tab_a.get_by_test_id("room-composer")).to_have_count(0)
                bob.get_by_test_id("room-composer").fill("still here?")
                bob.get_by_test_id("room-send").click()
                expect(tab_b.get_by_test_id("room-message")).to_have_text(["bob still here?"])
                expect(bob.get_by_test_id("room-members")).to_have_text("members: alice, bob")  # no leave, no join
                screenshot(tab_a, "room-elsewhere")
                expect(tab_a.get_by_test_id("room-message")).to_have_count(1)  # tab A no longer hears the room

            await browser.run(lambda _: move_to_tab_b())


async def test_groups_friends_and_profile_change_on_every_tab(start_server: StartServer, login: Login) -> None:
    with trio.fail_after(120):
        gateway, url = await start_app_server(start_server, "multi")
        carol = await login(gateway, "carol", device="carol-phone")
        async with open_browser() as browser:
            tab_a, tab_b, bob = await two_alice_tabs_and_bob(browser, url)

            def group_with_bob() -> None:
                tab_a.get_by_test_id("section-groups").click()
                tab_a.get_by_test_id("group-name").fill("team")
                tab_a.get_by_test_id("group-members").fill("bob")
                tab_a.get_by_test_id("group-create").click()
                members = tab_a.get_by_test_id("group-member")
                expect(members).to_contain_text(["alice owner", "bob member"])
                for page in (tab_b, bob):
                    page.get_by_test_id("section-groups").click()
                    expect(page.get_by_test_id("group")).to_contain_text(["team"])
                tab_a.get_by_test_id("group-invite-users").fill("carol")
                tab_a.get_by_test_id("group-invite").click()
                expect(members).to_have_count(3)
                members.filter(has_text="bob").get_by_role("button").click()
                expect(members.filter(has_text="bob")).to_contain_text("admin")
                screenshot(tab_a, "group")

            await browser.run(lambda _: group_with_bob())
            invited = await carol.next_event("groupStateChanged")
            assert invited["groupInfo"]["groupName"] == "team"

            def friends() -> None:
                tab_a.get_by_test_id("section-friends").click()
                tab_a.get_by_test_id("friend-user").fill("bob")
                tab_a.get_by_test_id("friend-add").click()
                expect(tab_a.get_by_test_id("friend-request")).to_contain_text("waiting for bob")
                bob.get_by_test_id("section-friends").click()
                expect(bob.get_by_test_id("friend-request")).to_contain_text("alice wants to be friends")
                bob.get_by_test_id("friend-accept").click()
                expect(bob.get_by_test_id("friend")).to_contain_text(["alice"])
                tab_b.get_by_test_id("section-friends").click()
                for page in (tab_a, tab_b):
                    expect(page.get_by_test_id("friend")).to_contain_text(["bob"])
                    expect(page.get_by_test_id("friend-request")).to_have_count(0)

            await browser.run(lambda _: friends())

            def profile() -> None:
                tab_a.get_by_test_id("section-profile").click()
                tab_a.get_by_test_id("profile-name").fill("Alice Liddell")
                tab_a.get_by_test_id("profile-save").click()
                for page in (tab_a, tab_b):
                    expect(page.get_by_test_id("me")).to_have_text("Alice Liddell")

            await browser.run(lambda _: profile())

            def group_chat() -> None:
                tab_a.get_by_test_id("section-groups").click()
                tab_a.get_by_test_id("group").filter(has_text="team").get_by_role("button").click()
                tab_a.get_by_test_id("group-chat").click()
                send(tab_a, "hello team")
                bob.get_by_test_id("section-chats").click()
                team = bob.get_by_test_id("conversation").and_(bob.locator("[data-type='2']"))
                expect(team.get_by_test_id("unread")).to_have_text("1")
                expect(team).to_contain_text("hello team")

            await browser.run(lambda _: group_chat())
            said = await carol.next_event("groupMessageReceived")
            assert said["messageList"][0]["message"] == "hello team"


async def test_a_cancelled_call_closes_the_popup_on_every_tab(start_server: StartServer) -> None:
    with trio.fail_after(90):
        gateway, url = await start_app_server(start_server, "multi")
        async with open_browser() as browser:
            tab_a, tab_b, bob = await two_alice_tabs_and_bob(browser, url)

            def call_then_cancel() -> None:
                bob.get_by_test_id("section-calls").click()
                bob.get_by_test_id("call-user").fill("alice")
                bob.get_by_test_id("call-start").click()
                for page in (tab_a, tab_b):
                    expect(page.get_by_test_id("incoming-call")).to_be_visible()
                bob.get_by_test_id("call-cancel").click()
                for page in (tab_a, tab_b):
                    expect(page.get_by_test_id("incoming-call")).to_have_count(0)
                    page.get_by_test_id("section-calls").click()
                    expect(page.get_by_test_id("call-notice")).to_have_text("call cancelled")
                expect(bob.get_by_test_id("call-notice")).to_have_text("call cancelled")

            await browser.run(lambda _: call_then_cancel())
