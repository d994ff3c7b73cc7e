"""LiteLLM's admin UI through the gateway's URL, in a real headless Chromium (Debian's, driven by
Playwright; no browser download): the page loads, the master key signs in, the key list shows a
key made through the API, the spend (usage) page loads its data, and the browser never leaves
the gateway's origin (a redirect to LiteLLM's own address would not work behind API Gateway).
On failure the test saves a screenshot and names it in the failure."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, sync_playwright

from tests.integration.conftest import LocalStack
from tests.integration.test_openai_interface import new_key

pytestmark = pytest.mark.integration
# As the machine notes prescribe: no sandbox as root, and no background traffic to Google.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 90_000  # the UI's first load compiles a lot of JavaScript on 2 busy cores


@pytest.fixture
def page(stack: LocalStack, request: pytest.FixtureRequest) -> Iterator[Page]:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("Debian's chromium is needed for the admin-UI test: apt-get install chromium")
    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as profile:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=chromium, headless=True, args=CHROMIUM_FLAGS
        )
        context.set_default_timeout(TIMEOUT_MS)
        try:
            yield context.new_page()
        finally:
            context.close()


def _screenshot_on_failure(page: Page, stack: LocalStack, name: str) -> Any:
    class Guard:
        def __enter__(self) -> None:
            return None

        def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, _: Any) -> bool:
            if error is None or not isinstance(error, AssertionError | PlaywrightError):
                return False
            shot = Path(stack.logs) / f"ui-failure-{name}-{int(time.time())}.png"
            try:
                page.screenshot(path=str(shot), full_page=True)
            except PlaywrightError:
                shot = Path("(no screenshot: the page is gone)")
            pytest.fail(f"{error}\nscreenshot: {shot}\npage: {page.url}", pytrace=False)

    return Guard()


def test_admin_ui_signs_in_and_lists_keys_through_the_gateway(stack: LocalStack, page: Page) -> None:
    alias = f"ui-test-{time.time_ns()}"
    new_key(stack, key_alias=alias)
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))

    with _screenshot_on_failure(page, stack, "admin-ui"):
        page.goto(f"{stack.gateway_url}/ui", wait_until="domcontentloaded")
        page.locator("input[name=username]").wait_for()
        assert page.url.startswith(f"{stack.gateway_url}/ui/login/")

        page.locator("input[name=username]").fill("admin")
        page.locator("input[name=password]").fill(stack.master_key)
        page.get_by_role("button", name="Login", exact=True).click()
        page.get_by_role("link", name="Virtual Keys").click()
        page.get_by_text(alias).first.wait_for()
        assert page.url == f"{stack.gateway_url}/ui/api-keys/"

        with page.expect_response(lambda r: "/daily/activity" in r.url) as spend:
            page.get_by_role("link", name="Usage").click()
        assert spend.value.status == 200
        assert page.url == f"{stack.gateway_url}/ui/usage/"

        elsewhere = sorted({url for url in requested if not url.startswith(f"{stack.gateway_url}/")})
        assert not elsewhere, f"the browser left the gateway: {elsewhere[:5]}"
        assert not any(stack.litellm_url in url for url in requested)
