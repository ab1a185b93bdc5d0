"""Bench 8: a long chat. Time to render the page after a new prompt, 500 turns vs 10.

A turn is one message of the history (a prompt or an answer), as in the chat page's
stored chat's ``Chat.turns`` (counted in the store: the page draws only a long chat's last
turns, ``app_pages/chat.py``'s ``WINDOW``). The chat is built up in the browser, prompt by
prompt, with the scripted provider answering at once with a short markdown answer (list,
bold, code) so the time measured is the app's and the browser's, not the provider's. At 10
and at 500 turns, ``--samples`` more prompts are timed from the Enter key (a keydown
listener in the page):

- answer visible: the new answer's text is in the DOM;
- script done: the app's script run has finished (``data-test-script-state``);
- page quiet: no websocket frame for 1 s (the answer's footer and the actions under it are
  drawn by the same script run, after the answer ends).

Run: ``.venv/bin/python bench/bench_browser_long_chat.py [--turns 500] [--samples 5]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from browser_common import bench_dir, machine_line, open_chat, require_browser, running
from testkit.browser import chromium, send_prompt, wait_idle

ANSWER = ("Noted. Here is the **short answer** you asked for:\n\n"
          "- the first point, with `inline code`\n- the second point\n- the third point\n\n"
          "That is all for this turn.")
NEEDLE = "That is all for this turn."
SCRIPTS = {"short": {"text": ANSWER, "chunk_chars": 10_000}}

# When the Enter key goes down in the prompt box, and when the script run last finished.
TIMING_JS = """(() => {
  if (window.__benchTiming) return;
  const t = window.__benchTiming = {enter: null, idle: null};
  const now = () => performance.timeOrigin + performance.now();
  document.addEventListener('keydown', e => { if (e.key === 'Enter') t.enter = now(); }, true);
  new MutationObserver(() => {
    const app = document.querySelector('[data-testid="stApp"]');
    if (app && app.dataset.testScriptState === 'notRunning') t.idle = now();
  }).observe(document, {subtree: true, attributes: true,
                        attributeFilter: ['data-test-script-state']});
})();"""


def prompt_for(i: int) -> str:
    return f"[{i}] and one more question"


def one_prompt(chat, i: int, measure: bool) -> dict[str, float] | None:
    page = chat.page
    prompt = prompt_for(i)
    chat.watch.watch(prompt, prompt, NEEDLE)
    if measure:
        chat.ws.wait_quiet(page, 1.0)  # start from a page at rest
    send_prompt(page, prompt)
    hit = chat.watch.wait(prompt, timeout_ms=180_000)
    wait_idle(page, 180_000)
    if not measure:
        return None
    timing = page.evaluate("window.__benchTiming")
    chat.ws.wait_quiet(page, 1.0)
    enter = timing["enter"] / 1000  # all three on the browser's clock
    return {"visible": hit["dom"] - enter, "done": timing["idle"] / 1000 - enter,
            "quiet": chat.watch.ws_last_at() - enter}


def explain_stuck(chat, app) -> None:
    """When a prompt could not be sent or answered: what the page and the server were doing."""
    page = chat.page
    states = []
    for _ in range(50):
        states.append(page.evaluate(
            "document.querySelector('[data-testid=stApp]').dataset.testScriptState"))
        page.wait_for_timeout(100)
    log = app.server.log()
    print(f"stuck with {turns_on_page(page)} turns on the page; script state over 5 s: "
          f"{ {s: states.count(s) for s in set(states)} }; "
          f"'fragment does not exist' lines in the server log: "
          f"{log.count('does not exist anymore')}\n{log[-2000:]}", file=sys.stderr)


def turns_on_page(page) -> int:
    return page.locator("[data-testid='stChatMessage']").count()


def turns_in_chat(chat, app) -> int:
    """The turns of the chat as stored (the page draws only the last ones of a long chat)."""
    import re

    from chatlib.store import ChatStore

    match = re.search(r"[?&]chat=([\w-]+)", chat.page.url)
    stored = ChatStore(app.store).get(match.group(1)) if match else None
    return len(stored.turns) if stored is not None else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=500)
    parser.add_argument("--short", type=int, default=10)
    parser.add_argument("--samples", type=int, default=5)
    args = parser.parse_args()
    require_browser()
    results: dict[int, list[dict[str, float]]] = {}
    with bench_dir() as data, chromium() as browser, running(data, SCRIPTS) as app:
        chat = open_chat(browser, app, "short")
        chat.page.add_init_script(TIMING_JS)
        chat.page.evaluate(TIMING_JS)
        i = 0
        started = time.monotonic()
        for target in (args.short, args.turns):
            while turns_in_chat(chat, app) < target:  # build the history up to the target
                try:
                    one_prompt(chat, i, measure=False)
                except Exception:
                    explain_stuck(chat, app)
                    raise
                i += 1
            assert turns_in_chat(chat, app) == target, turns_in_chat(chat, app)
            results[target] = []
            for _ in range(args.samples):
                results[target].append(one_prompt(chat, i, measure=True))
                i += 1
        built_s = time.monotonic() - started
        chat.close()
    print(f"Bench 8 - long chat: time from Enter to ..., median (max) of {args.samples} prompts "
          f"({i} prompts sent in {built_s:.0f} s)")
    print(f"{'turns before the prompt':>24} {'answer visible':>16} {'script done':>16} "
          f"{'page quiet':>16}")
    for target, samples in results.items():
        cells = []
        for key in ("visible", "done", "quiet"):
            values = [s[key] * 1000 for s in samples]
            cells.append(f"{statistics.median(values):>7.0f} ({max(values):>5.0f})")
        print(f"{f'{target} ... {target + 2 * (args.samples - 1)}':>24} "
              + " ".join(f"{c:>16}" for c in cells) + "  ms")
    short, long = (statistics.median(s["visible"] for s in results[k])
                   for k in (args.short, args.turns))
    print(f"answer visible, {args.turns} turns vs {args.short}: {long / short:.1f}x")
    print(machine_line())


if __name__ == "__main__":
    main()
