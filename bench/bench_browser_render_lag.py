"""Bench 3: end-of-stream render lag in the browser.

A 4,000-token markdown answer (o200k_base tokens of headings, paragraphs, lists, code and
tables; one token per chunk) streamed at 500 tokens/s (2 ms apart) by the scripted provider.
Lag = (the answer's last sentence in the browser's DOM) - (the provider's last chunk, the run
store's ``created_at + e2e_s``), on Python's wall clock (browser clock offset measured).
Chat Lab and plain ``st.write_stream`` each stream it on fresh pages, side by side in one run.

Goal: Chat Lab <= 100 ms.

Run: ``.venv/bin/python bench/bench_browser_render_lag.py [--runs 3]``
"""

from __future__ import annotations

import argparse
import statistics

from browser_common import (
    bench_dir, machine_line, markdown_answer, open_chat, require_browser, running, stream_once,
    token_chunks,
)
from testkit.browser import chromium

TOKENS = 4000
END = "That is the end of the answer."


def answer_chunks() -> list[str]:
    end = token_chunks("\n\n" + END)
    body = token_chunks(markdown_answer(TOKENS * 6))[: TOKENS - len(end)]
    chunks = body + end
    assert len(chunks) == TOKENS and END not in "".join(chunks[:-1])  # visible only at the end
    return chunks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    require_browser()
    rows = []
    with bench_dir() as data, chromium() as browser:
        chunks = answer_chunks()
        scripts = {"md-4k-tokens": {"chunks": chunks, "first_delay_s": 0.2, "gap_s": 0.002}}
        for label, plain in (("Chat Lab", False), ("plain st.write_stream", True)):
            with running(data, scripts, plain=plain) as app:
                for i in range(args.runs):
                    chat = open_chat(browser, app, "md-4k-tokens")
                    answer = stream_once(chat, app, f"Write 4k tokens, run {i}", END)
                    chat.close()
                    rows.append((label, answer))
    chars = len("".join(chunks))
    print(f"Bench 3 - end-of-stream render lag: {TOKENS} tokens ({chars:,} chars of markdown) "
          f"at 500 tok/s, {args.runs} runs each")
    print(f"{'':24} {'lag ms':>8} {'painted ms':>11} {'tok/s sent':>11} {'ws bytes':>11}")
    lags: dict[str, list[float]] = {}
    for label, a in rows:
        run = a.run
        rate = (run["chunk_count"] - 1) / (run["e2e_s"] - run["ttft_s"])
        lag = a.visible_at - a.last_byte
        lags.setdefault(label, []).append(lag)
        print(f"{label:24} {lag * 1000:>8.0f} {(a.painted_at - a.last_byte) * 1000:>11.0f} "
              f"{rate:>11.0f} {a.bytes_until_visible:>11,}")
    app, plain = (statistics.median(lags[k]) * 1000 for k in ("Chat Lab", "plain st.write_stream"))
    print(f"median lag: Chat Lab {app:.0f} ms, plain st.write_stream {plain:.0f} ms; "
          f"goal <= 100 ms: {'met' if app <= 100 else 'NOT met'}")
    print(machine_line())


if __name__ == "__main__":
    main()
