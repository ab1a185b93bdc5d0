"""Bench 2: websocket bytes per answer, divided by the answer's size.

A 10,000-character markdown answer streamed at 200 chunks/s (5-character chunks, 5 ms
apart) by the scripted provider, shown once by Chat Lab (coalesced batches, finished blocks
frozen) and once by plain ``st.write_stream`` (every chunk re-sends the whole text), each on
a fresh page. Bytes are every websocket message the page's JS received from sending the
prompt: until the last words are visible, and until the page is quiet (1.5 s without a
frame: the figures under the answer, and for Chat Lab the redraw from history). Playwright's
own frame count is printed as a cross-check.

Goal: Chat Lab <= 5x the answer's size.

Run: ``.venv/bin/python bench/bench_browser_ws_bytes.py [--runs 3]``
"""

from __future__ import annotations

import argparse
import statistics

from browser_common import (
    bench_dir, machine_line, markdown_answer, open_chat, require_browser, running, stream_once,
)
from testkit.browser import chromium

END = "That is the end of the answer."
TEXT = markdown_answer(10_000, end=END)
SCRIPTS = {"md-10k": {"text": TEXT, "chunk_chars": 5, "first_delay_s": 0.2, "gap_s": 0.005}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    require_browser()
    size = len(TEXT.encode())
    rows = []
    with bench_dir() as data, chromium() as browser:
        for label, plain in (("Chat Lab", False), ("plain st.write_stream", True)):
            with running(data, SCRIPTS, plain=plain) as app:
                for i in range(args.runs):
                    chat = open_chat(browser, app, "md-10k")
                    answer = stream_once(chat, app, f"Write 10k characters, run {i}", END)
                    chat.close()
                    rows.append((label, answer))
    print(f"Bench 2 - websocket bytes per answer / answer size ({size:,} bytes of markdown, "
          f"{len(SCRIPTS['md-10k']['text']) // 5} chunks at 200/s), {args.runs} runs each")
    print(f"{'':24} {'until visible':>14} {'ratio':>6} {'until quiet':>12} {'ratio':>6} "
          f"{'(playwright)':>13} {'messages':>9} {'stream s':>9} {'end lag ms':>11}")
    medians = {}
    for label, answer in rows:
        run = answer.run
        print(f"{label:24} {answer.bytes_until_visible:>14,} "
              f"{answer.bytes_until_visible / size:>6.1f} {answer.bytes_total:>12,} "
              f"{answer.bytes_total / size:>6.1f} {answer.bytes_total_playwright:>13,} "
              f"{answer.frames_total:>9,} "
              f"{run['e2e_s'] - run['ttft_s']:>9.2f} "
              f"{(answer.visible_at - answer.last_byte) * 1000:>11.0f}")
        medians.setdefault(label, []).append(answer.bytes_total / size)
    app, plain = (statistics.median(medians[k]) for k in ("Chat Lab", "plain st.write_stream"))
    print(f"median ratio (until quiet): Chat Lab {app:.1f}x, plain st.write_stream {plain:.1f}x "
          f"({plain / app:.0f}x fewer bytes); goal <= 5x: {'met' if app <= 5 else 'NOT met'}")
    print(machine_line())


if __name__ == "__main__":
    main()
