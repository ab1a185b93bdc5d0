"""Launch Debian's Chromium through Playwright (its own browser download cannot work on
these machines), with the flags that keep it off the closed network."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

CHROMIUM = os.environ.get("CHATLAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_available() -> bool:
    return os.path.exists(CHROMIUM) or shutil.which(CHROMIUM) is not None


@contextmanager
def chromium() -> Iterator[Any]:
    """Yield a Playwright ``Browser`` (headless Chromium)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def wait_idle(page: Any, timeout_ms: float = 30_000) -> None:
    """Wait until the app's script has finished its run."""
    page.wait_for_selector(
        "[data-testid='stApp'][data-test-script-state='notRunning']", timeout=timeout_ms
    )


def send_prompt(page: Any, text: str) -> None:
    box = page.locator("[data-testid='stChatInputTextArea']")
    box.fill(text)
    box.press("Enter")


def open_options(page: Any, box: Any) -> Any:
    """Open the combobox ``box`` (a selectbox or multiselect) and return the locator of its
    options, once they show."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout, expect

    options = page.get_by_role("option")
    for attempt in range(3):
        box.click()
        try:
            # Its own list, open: not the last options of another list that is closing.
            expect(box).to_have_attribute("aria-expanded", "true", timeout=5_000)
            options.first.wait_for(timeout=5_000)
            return options
        except (PlaywrightTimeout, AssertionError):
            # A rerun redrew the widget as it opened (e.g. the provider had just changed,
            # and with it the models): close whatever is open and try again.
            if attempt == 2:
                raise
            page.keyboard.press("Escape")
            wait_idle(page)
    return options


def select_option(
    page: Any, label: str, option: str, within: Any = None, *, settle: bool = True
) -> None:
    """Pick ``option`` in the Streamlit selectbox labelled ``label`` (a react-aria combobox),
    optionally inside the locator ``within``, and wait for the rerun it causes (unless
    ``settle`` is False: mid-answer, the script runs until the answer ends)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout, expect

    box = (within or page).get_by_role("combobox", name=label)
    for attempt in range(3):
        try:
            open_options(page, box)
            page.get_by_role("option", name=option, exact=True).click(timeout=5_000)
            break
        except PlaywrightTimeout:
            if attempt == 2:  # the list showed, but not this option (yet): a stale list
                raise
            page.keyboard.press("Escape")
            wait_idle(page)
    expect(box).to_have_value(option)
    if not settle:
        return
    # The rerun this choice causes may not have started yet (the page still says
    # notRunning): give it time to start, as Streamlit's own e2e wait_for_app_run does,
    # so a prompt sent next is not raced by it (it would stream with no Stop button).
    page.wait_for_timeout(300)
    wait_idle(page)


def use_scripted_model(page: Any, model: str, *, settle: bool = True) -> None:
    """On the chat page: choose the scripted provider and one of its models (``settle``:
    see ``select_option``)."""
    sidebar = page.locator("[data-testid='stSidebar']")
    if sidebar.get_by_role("combobox", name="Provider").input_value() != "Scripted demo (offline)":
        select_option(page, "Provider", "Scripted demo (offline)", sidebar)
    select_option(page, "Model", model, sidebar, settle=settle)


def open_expander(page: Any, label: str) -> Any:
    """Unfold the sidebar's expander ``label`` (the chat page's "Advanced" holds the
    engineering settings), unless it is open; return its locator."""
    from playwright.sync_api import expect

    expander = page.locator("[data-testid='stSidebar'] [data-testid='stExpander']",
                            has_text=label).first
    details = expander.locator("details")
    if details.get_attribute("open") is None:
        expander.locator("summary").click()
    expect(details).to_have_attribute("open", "")
    return expander


def exception_texts(page: Any) -> list[str]:
    """Texts of the Streamlit exception boxes on the page (a traceback shown to the user)."""
    return page.locator("[data-testid='stException']").all_inner_texts()


def chat_messages(page: Any, role: str = "assistant") -> Any:
    """Locator of the chat messages of ``role`` ("assistant" or "user"), in page order."""
    avatar = "Assistant" if role == "assistant" else "User"
    return page.locator("[data-testid='stChatMessage']").filter(
        has=page.locator(f"[data-testid='stChatMessageAvatar{avatar}']")
    )
