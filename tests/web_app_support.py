"""What a person does in the browser app, as Playwright steps (run in the browser's thread)."""

from __future__ import annotations

from playwright.sync_api import Locator, Page, expect

from gateway.server import Gateway

from .browser_support import BUILT_APP, PAGE_LOGS, Browser
from .conftest import StartServer


async def start_app_server(start_server: StartServer, policy: str = "multi") -> tuple[Gateway, str]:
    """A server that serves the built app with the demo sign-in on, and the app's URL."""
    gateway = await start_server(policy, web_app_dir=BUILT_APP, demo_signin=True)
    return gateway, app_url(gateway)


async def two_alice_tabs_and_bob(browser: Browser, url: str) -> tuple[Page, Page, Page]:
    """Alice signed in on two tabs of one browser profile (two devices), bob in a profile of his own."""
    alice_a = await browser.new_tab()
    alice_b = await browser.new_tab(alice_a.context)
    bob = await browser.new_tab()
    await sign_in_tabs(browser, url, [(alice_a, "alice"), (alice_b, "alice"), (bob, "bob")])
    return alice_a, alice_b, bob


def app_url(gateway: Gateway) -> str:
    assert gateway.listening is not None and gateway.listening.admin_url is not None
    return f"{gateway.listening.admin_url}/app/"


def sign_in(page: Page, url: str, user_id: str) -> None:
    """Open the app and sign in through the demo sign-in; returns once the tab is online."""
    page.goto(url)
    page.get_by_test_id("signin-user").fill(user_id)
    page.get_by_test_id("signin-submit").click()
    done = page.get_by_test_id("phase").filter(has_text="online").or_(page.get_by_test_id("failed"))
    try:
        expect(done).to_be_visible()
    except AssertionError as exc:
        said = "\n".join(PAGE_LOGS.get(page, [])) or "(nothing)"
        raise AssertionError(f"{user_id}'s tab never got online; the page said:\n{said}") from exc
    failed = page.get_by_test_id("failed-reason")
    assert failed.count() == 0, f"{user_id} could not sign in: {failed.inner_text()}"


async def sign_in_tabs(browser: Browser, url: str, tabs: list[tuple[Page, str]]) -> None:
    """Sign each (tab, userID) in, one after the other."""

    def sign_in_all(_: object) -> None:
        for page, user_id in tabs:
            sign_in(page, url, user_id)

    await browser.run(sign_in_all)


def device_id(page: Page) -> str:
    """The deviceID this tab logs in with (kept per tab in sessionStorage)."""
    value = page.evaluate("sessionStorage.getItem('hubbub.deviceID')")
    assert isinstance(value, str)
    return value


def conversation(page: Page, conversation_id: str) -> Locator:
    """The row of one conversation in the tab's list."""
    return page.get_by_test_id("conversation").and_(page.locator(f"[data-id='{conversation_id}']"))


def conversation_order(page: Page) -> list[str]:
    """The conversation IDs in the order the tab lists them."""
    return [str(row.get_attribute("data-id")) for row in page.get_by_test_id("conversation").all()]


def open_chat(page: Page, user_id: str) -> None:
    """Open the peer conversation with `user_id` from the new-chat field."""
    page.get_by_test_id("section-chats").click()
    page.get_by_test_id("new-chat-user").fill(user_id)
    page.get_by_test_id("new-chat-open").click()
    expect(page.get_by_test_id("chat")).to_have_attribute("data-id", user_id)


def send(page: Page, text: str) -> None:
    """Send `text` in the open conversation; returns once it is shown as sent."""
    page.get_by_test_id("composer").fill(text)
    page.get_by_test_id("send").click()
    expect(page.get_by_test_id("message-text").filter(has_text=text)).to_have_count(1)


def messages(page: Page) -> list[str]:
    """The texts of the open conversation, oldest first."""
    return page.get_by_test_id("message-text").all_inner_texts()

