"""Fixtures for the tests in a real browser: headless Chromium (Debian's), driven by Playwright.

No browser is downloaded: Playwright starts the Chromium at ``/usr/bin/chromium``
(or ``TASKHUB_CHROMIUM``). Without it these tests skip, with one line saying how
to install it, except in CI (``CI=true``), where a missing browser fails them.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field

import pytest

from tests.browser.site import Site

CHROMIUM = os.environ.get("TASKHUB_CHROMIUM", "/usr/bin/chromium")
# As the machine's own probe starts it: without the background-networking flags Chromium tries
# Google's hosts at every start, and this machine's closed network refuses them.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _missing_browser(reason: str):
    message = f"{reason}: install it with `apt-get install chromium chromium-driver` (or set TASKHUB_CHROMIUM)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


# Module scope, not session: Playwright's sync API keeps an event loop running in the main thread
# while it is started, and an async test that ran meanwhile (asyncio.run) would find it there.
@pytest.fixture(scope="module")
def browser():
    if not (os.path.isfile(CHROMIUM) or shutil.which(CHROMIUM)):
        _missing_browser(f"Chromium not found at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def site():
    """The app as ``make run`` serves it (see ``tests.browser.site``), shared by the session's browser tests."""
    served = Site().start()
    yield served
    served.stop()


@dataclass
class Problems:
    """What went wrong on a page: console errors, uncaught exceptions, failed or refused requests."""

    items: list[str] = field(default_factory=list)
    # (status, URL part) pairs a test expects (a 412 in a conflict test, a 404 for an outsider):
    # those answers, and the console line Chromium logs for them, are not problems.
    expected: list[tuple[int, str]] = field(default_factory=list)

    def expect(self, status: int, url_part: str) -> None:
        self.expected.append((status, url_part))

    def _expected(self, status: int, url: str) -> bool:
        return any(status == code and part in url for code, part in self.expected)

    def _console(self, message) -> None:
        if message.type != "error":
            return
        url = message.location.get("url", "")
        text = message.text
        if any(f"status of {code}" in text and part in url for code, part in self.expected):
            return
        self.items.append(f"console error: {text} at {url}")

    def watch(self, page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.items.append(f"uncaught: {error}"))
        page.on("requestfailed", lambda request: self.items.append(f"failed: {request.url} ({request.failure})"))
        page.on("response", lambda response: response.status >= 400 and not self._expected(
            response.status, response.url) and self.items.append(f"HTTP {response.status}: {response.url}"))


@pytest.fixture
def page(browser):
    """A new page in a fresh context; the test fails if the page logged an error or a request failed."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    problems = Problems()
    problems.watch(page)
    page.problems = problems
    yield page
    context.close()
    assert problems.items == [], "\n".join(problems.items)
