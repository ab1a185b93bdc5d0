"""Bench 2: websocket bytes per answer, divided by the answer's size.

Two markdown answers streamed by the scripted provider in 5-character chunks: 10,000
characters at 200 chunks/s (5 ms apart) and 40,000 characters at 500 chunks/s (2 ms
apart). Each is shown once by Chat Lab (byte-budgeted batches, finished blocks frozen) and
once by plain ``st.write_stream`` (every chunk re-sends the whole text), each on a fresh
page (plain at 10k only: at 40k the browser falls so far behind that Streamlit's websocket
drops and the run is stopped, tried here: stopped after 6,752 of 8,000 chunks; the
project's design notes measured 49.7 MB when it did finish). Bytes are every websocket
message the page's JS received from sending the prompt: until the last words are visible,
and until the page is quiet (1.5 s without a frame: the figures under the answer).
Playwright's own frame count is printed as a cross-check.

Then, for Chat Lab, one rerun of the same page (a sidebar setting changed): its bytes show
whether the finished answer is sent again (it should not be: Streamlit sends references to
the blocks the browser holds).

Goals (issue 15): Chat Lab <= 5x the answer's size at 10k characters, <= 3x at 40k.

Run: ``.venv/bin/python bench/bench_browser_ws_bytes.py [--runs 3]``
"""

from __future__ import annotations

import argparse
import statistics

from browser_common import (
    bench_dir, machine_line, markdown_answer, open_chat, require_browser, running, stream_once,
)
from testkit.browser import chromium, wait_idle

END = "That is the end of the answer."
CASES = {  # model: (characters, seconds between 5-character chunks, goal)
    "md-10k": (10_000, 0.005, 5.0),
    "md-40k": (40_000, 0.002, 3.0),
}
PLAIN_CASES = ("md-10k",)
TEXTS = {model: markdown_answer(chars, end=END) for model, (chars, _, _) in CASES.items()}
SCRIPTS = {model: {"text": TEXTS[model], "chunk_chars": 5, "first_delay_s": 0.2, "gap_s": gap}
           for model, (_, gap, _) in CASES.items()}


PLAIN = "plain st.write_stream"


def rerun_bytes(chat) -> int:
    """Websocket bytes of one more script run of the page (the system prompt edited)."""
    page = chat.page
    start = chat.watch.ws_bytes()
    box = page.locator("[data-testid='stSidebar']").get_by_label("System prompt")
    box.fill(box.input_value() + " Be brief.")
    box.blur()
    page.wait_for_timeout(200)
    wait_idle(page, 60_000)
    chat.ws.wait_quiet(page, 1.0)
    return chat.watch.ws_bytes() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    require_browser()
    rows = []
    with bench_dir() as data, chromium() as browser:
        for label, plain in (("Chat Lab", False), ("plain st.write_stream", True)):
            with running(data, SCRIPTS, plain=plain) as app:
                for model in PLAIN_CASES if plain else CASES:
                    for i in range(args.runs):
                        chat = open_chat(browser, app, model)
                        answer = stream_once(chat, app, f"Write {model}, run {i}", END)
                        again = None if plain else rerun_bytes(chat)
                        chat.close()
                        rows.append((model, label, answer, again))
    for model, (chars, gap, goal) in CASES.items():
        size = len(TEXTS[model].encode())
        print(f"Bench 2 - websocket bytes per answer / answer size ({size:,} bytes of markdown, "
              f"{size // 5} chunks at {1 / gap:.0f}/s), {args.runs} runs each")
        print(f"{'':24} {'until visible':>14} {'ratio':>6} {'until quiet':>12} {'ratio':>6} "
              f"{'(playwright)':>13} {'messages':>9} {'stream s':>9} {'end lag ms':>11} "
              f"{'rerun after':>12}")
        medians: dict[str, list[float]] = {}
        for m, label, answer, again in rows:
            if m != model:
                continue
            run = answer.run
            print(f"{label:24} {answer.bytes_until_visible:>14,} "
                  f"{answer.bytes_until_visible / size:>6.1f} {answer.bytes_total:>12,} "
                  f"{answer.bytes_total / size:>6.1f} {answer.bytes_total_playwright:>13,} "
                  f"{answer.frames_total:>9,} "
                  f"{run['e2e_s'] - run['ttft_s']:>9.2f} "
                  f"{(answer.visible_at - answer.last_byte) * 1000:>11.0f} "
                  f"{'-' if again is None else f'{again:,}':>12}")
            medians.setdefault(label, []).append(answer.bytes_total / size)
        app = statistics.median(medians["Chat Lab"])
        plain = (f"plain st.write_stream {statistics.median(medians[PLAIN]):.1f}x "
                 f"({statistics.median(medians[PLAIN]) / app:.0f}x fewer bytes)"
                 if PLAIN in medians else "plain st.write_stream not measured (see above)")
        print(f"median ratio (until quiet): Chat Lab {app:.1f}x, {plain}; goal <= {goal:.0f}x: "
              f"{'met' if app <= goal else 'NOT met'}")
    print(machine_line())


if __name__ == "__main__":
    main()
