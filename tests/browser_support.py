"""Debian's Chromium driven by Playwright, for the browser app's tests (tests/test_web_app.py).

Playwright's sync API is bound to the thread that started it, so one thread
of its own owns the browser; trio code hands it work with `Browser.run`,
which waits for the result without blocking the event loop the server runs
on. Every Playwright action has a timeout (ACTION_TIMEOUT_MS), so a job that
a cancelled test left behind ends by itself.
"""

from __future__ import annotations

import os
import queue
import shutil
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar, cast

import outcome
import trio
from playwright.sync_api import Browser as PlaywrightBrowser
from playwright.sync_api import BrowserContext, Page, expect, sync_playwright

REPO = Path(__file__).resolve().parent.parent
BUILT_APP = REPO / "web" / "app" / "dist"
CHROMIUM = Path(os.environ.get("HUBBUB_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = Path(os.environ.get("HUBBUB_SCREENSHOTS", REPO / "build" / "screenshots"))
# Without the background-networking flags Chromium keeps dialling Google's
# hosts, which this machine's closed network refuses.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ACTION_TIMEOUT_MS = 20_000  # generous: the browser tests share two cores with everything else

T = TypeVar("T")
PAGE_LOGS: dict[Page, list[str]] = {}  # each tab's console lines and uncaught errors
_Job = tuple[Callable[[PlaywrightBrowser], object], Callable[[outcome.Outcome[object]], None]]


def require_browser_setup() -> None:
    """Fail (never skip) with the command that fixes a missing app build or Chromium."""
    if not (BUILT_APP / "index.html").is_file():
        raise AssertionError(f"the web app is not built ({BUILT_APP}): run `make web`")
    if not CHROMIUM.is_file() and shutil.which(str(CHROMIUM)) is None:
        raise AssertionError(f"no Chromium at {CHROMIUM}: run `apt-get install -y chromium` as root (`make test` does it)")


class Browser:
    """One headless Chromium in a thread of its own; see the module docstring."""

    def __init__(self) -> None:
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._thread = threading.Thread(target=self._main, name="playwright", daemon=True)
        self._token = trio.lowlevel.current_trio_token()

    def _main(self) -> None:
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
                expect.set_options(timeout=ACTION_TIMEOUT_MS)
                try:
                    while (job := self._jobs.get()) is not None:
                        work, deliver = job
                        deliver(outcome.capture(work, browser))
                finally:
                    browser.close()
        except Exception as exc:
            # Chromium did not start (or Playwright broke): every waiting job gets the error.
            while (job := self._jobs.get()) is not None:
                job[1](outcome.Error(exc))

    async def run(self, work: Callable[[PlaywrightBrowser], T]) -> T:
        """Run `work(browser)` in the browser's thread and return what it returns (or raise what it raised).

        Waits without blocking trio; bounded by the Playwright timeouts inside `work`.
        """
        done = trio.Event()
        result: list[outcome.Outcome[object]] = []

        def deliver(value: outcome.Outcome[object]) -> None:
            def wake() -> None:
                result.append(value)
                done.set()

            self._token.run_sync_soon(wake)

        self._jobs.put((work, deliver))
        await done.wait()
        return cast(T, result[0].unwrap())

    async def new_tab(self, context: BrowserContext | None = None) -> Page:
        """A new page: in `context`, or in a new context (a browser profile of its own)."""

        def open_page(browser: PlaywrightBrowser) -> Page:
            owner = context if context is not None else browser.new_context(viewport={"width": 1200, "height": 760})
            owner.set_default_timeout(ACTION_TIMEOUT_MS)
            page = owner.new_page()
            # what the page said, for the message of a failed step
            log: list[str] = []
            page.on("console", lambda message: log.append(f"console.{message.type}: {message.text}"))
            page.on("pageerror", lambda error: log.append(f"page error: {error}"))
            PAGE_LOGS[page] = log
            return page

        return await self.run(open_page)


@asynccontextmanager
async def open_browser() -> AsyncIterator[Browser]:
    """Start Chromium; close it when the block ends (within 20 s)."""
    require_browser_setup()
    browser = Browser()
    browser._thread.start()
    try:
        await browser.run(lambda b: b.version)  # launch failures show here
        yield browser
    finally:
        browser._jobs.put(None)
        with trio.move_on_after(20, shield=True):
            await trio.to_thread.run_sync(browser._thread.join)


def screenshot(page: Page, name: str) -> Path:
    """Save the page as SCREENSHOTS/name.png (in the browser's thread)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path
