"""A real headless chromium (the system's: Debian's `chromium` package, driven by Playwright;
Playwright's own browser download is never used) for the report and browser-view tests.

Every request the page makes off loopback or a file is refused and recorded: a page that needs
the network fails its test.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

ARTIFACTS = Path(os.environ.get("SMEMU_TEST_ARTIFACTS")
                 or Path(__file__).resolve().parents[2] / ".test-artifacts")


def chromium_path() -> str:
    """The system chromium (`SMEMU_CHROMIUM` overrides); the test fails clearly without one."""
    for candidate in (os.environ.get("SMEMU_CHROMIUM"), "chromium", "chromium-browser"):
        if candidate and (found := shutil.which(candidate)):
            return found
    pytest.fail("no chromium on PATH: `make browser` (root on Debian) installs it, or set "
                "SMEMU_CHROMIUM")


@dataclass
class BrowserPage:
    page: Any  # playwright.sync_api.Page
    errors: list[str] = field(default_factory=list)  # console errors, page errors, refusals

    def count(self, selector: str) -> int:
        return int(self.page.locator(selector).count())

    def text(self, selector: str) -> str:
        return str(self.page.locator(selector).first.inner_text())

    def screenshot(self, name: str) -> Path:
        """A full-page screenshot kept as a test artifact (`SMEMU_TEST_ARTIFACTS`, default
        .test-artifacts/ in the repository)."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / name
        self.page.screenshot(path=str(path), full_page=True)
        return path


def _local(url: str) -> bool:
    parsed = urlparse(url)
    return parsed.scheme in ("file", "data", "about", "blob") or \
        parsed.hostname in ("127.0.0.1", "localhost", "::1")


@contextmanager
def chromium_page(width: int = 1280, height: int = 900) -> Iterator[BrowserPage]:
    from playwright.sync_api import sync_playwright  # only the browser tests need it

    args = ["--no-sandbox"] if os.geteuid() == 0 else []  # chromium refuses root otherwise
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=args,
                                             headless=True)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            result = BrowserPage(page)
            page.on("console", lambda m: result.errors.append(f"console: {m.text}")
                    if m.type == "error" else None)
            page.on("pageerror", lambda e: result.errors.append(f"page error: {e}"))

            def guard(route: Any) -> None:
                if _local(route.request.url):
                    route.continue_()
                else:
                    result.errors.append(f"network request refused: {route.request.url}")
                    route.abort()

            page.route("**/*", guard)
            yield result
        finally:
            browser.close()


@dataclass
class Opened:
    errors: list[str]
    counts: dict[str, int]


def open_page(url: str, *, screenshot: str, selectors: tuple[str, ...] = ()) -> Opened:
    """Load `url`, count `selectors`, keep a screenshot named `screenshot` as an artifact."""
    with chromium_page() as browser:
        browser.page.goto(url, wait_until="load")
        counts = {s: browser.count(s) for s in selectors}
        browser.screenshot(screenshot)
        return Opened(list(browser.errors), counts)
