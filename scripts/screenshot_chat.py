"""Take the README's screenshot of the chat page from a real browser: ``docs/chat.png``.

Starts the app on a free loopback port with a throw-away data dir, asks the scripted demo
(offline, no key) for its markdown answer in headless Chromium, and saves the page once the
answer and its figures are shown.

Run: ``.venv/bin/python scripts/screenshot_chat.py [--out docs/chat.png]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import expect  # noqa: E402

from testkit.app_server import AppServer  # noqa: E402
from testkit.browser import (  # noqa: E402
    chat_messages, chromium, exception_texts, send_prompt, use_scripted_model, wait_idle,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "chat.png"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="chatlab-shot-") as data:
        env = {"CHATLAB_DATA_DIR": data, "CHATLAB_DB": f"{data}/runs.sqlite3"}
        server = AppServer(env).start()
        try:
            with chromium() as browser:
                page = browser.new_page(viewport={"width": 1280, "height": 1000},
                                        device_scale_factor=1)
                page.goto(server.url)
                wait_idle(page, 60_000)
                use_scripted_model(page, "demo-markdown")
                send_prompt(page, "What can Chat Lab show while an answer streams?")
                figures = chat_messages(page).last.locator("[data-testid='stCaptionContainer']")
                expect(figures.filter(has_text="TTFT")).to_have_count(1, timeout=60_000)
                wait_idle(page)
                page.wait_for_timeout(1500)  # the redraw from history after the answer
                wait_idle(page)
                assert exception_texts(page) == [], exception_texts(page)
                Path(args.out).parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=args.out, full_page=True)
        finally:
            server.stop()
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
