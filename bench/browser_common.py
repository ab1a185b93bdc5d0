"""Shared set-up of the browser benchmarks: the scripted answers they stream, the app (or
the plain ``st.write_stream`` baseline) started on a free loopback port with its own data
dir, and a page with a scripted model chosen.

Not a benchmark itself (the Makefile runs ``bench/bench_*.py``).
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chatlib.providers.scripted import SCRIPTS_ENV  # noqa: E402
from chatlib.store import RunFilter, RunStore  # noqa: E402
from testkit.app_server import AppServer  # noqa: E402
from testkit.browser import (  # noqa: E402
    chromium_available, send_prompt, use_scripted_model, wait_idle,
)
from testkit.probes import ClockSync, TextWatch, WsByteCounter  # noqa: E402

PLAIN_APP = "bench/plain_write_stream_app.py"
VIEWPORT = {"width": 1280, "height": 900}


def markdown_answer(n_chars: int, end: str = "") -> str:
    """A deterministic markdown answer of about ``n_chars`` characters that uses what a
    model's answers use: headings, paragraphs with emphasis and inline code, lists, fenced
    code and tables. ``end`` is appended as the last paragraph."""
    parts: list[str] = []
    i = 0
    while sum(len(p) + 2 for p in parts) < n_chars - len(end):
        i += 1
        parts.append(f"## Part {i}: what to measure")
        parts.append(
            f"Section {i} explains **time to first token** and *throughput* with `p50` and "
            f"`p95` figures. A provider streams tokens; the page renders them as they come, "
            f"so the reader sees the answer grow instead of waiting for all of it."
        )
        parts.append("\n".join(f"- point {i}.{k}: latency is measured from t0, not from "
                               f"the first render" for k in range(1, 4)))
        if i % 2 == 0:
            parts.append(f"```python\ndef step_{i}(x: float) -> float:\n"
                         f"    return x * {i} + 1  # a code block\n```")
        if i % 3 == 0:
            parts.append("| metric | value | unit |\n|---|---|---|\n"
                         f"| TTFT | {i * 10} | ms |\n| E2E | {i} | s |")
    text = "\n\n".join(parts)[: n_chars - len(end) - 2].rstrip()
    return f"{text}\n\n{end}" if end else text


def token_chunks(text: str) -> list[str]:
    """``text`` cut into its o200k_base tokens (as an OpenAI model would stream it)."""
    from chatlib.core.tokens import ensure_tiktoken_offline

    ensure_tiktoken_offline()
    import tiktoken

    enc = tiktoken.get_encoding("o200k_base")
    chunks = [enc.decode([t]) for t in enc.encode(text)]
    assert "".join(chunks) == text, "the text must survive token-by-token decoding"
    return chunks


@dataclass
class BenchApp:
    server: AppServer
    store: RunStore
    plain: bool

    @property
    def url(self) -> str:
        return self.server.url


@contextmanager
def bench_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="chatlab-bench-") as d:
        os.environ["CHATLAB_DATA_DIR"] = d  # the bench's own tokenizer cache and store
        yield Path(d)


@contextmanager
def running(data: Path, scripts: dict[str, dict[str, Any]],
            plain: bool = False) -> Iterator[BenchApp]:
    """Start the app (or the plain baseline) with ``scripts`` as extra scripted models."""
    name = "plain" if plain else "app"
    (data / name).mkdir(exist_ok=True)
    scripts_file = data / name / "scripts.json"
    scripts_file.write_text(json.dumps(scripts))
    db = data / name / "runs.sqlite3"
    env = {"CHATLAB_DATA_DIR": str(data / name), "CHATLAB_DB": str(db),
           SCRIPTS_ENV: str(scripts_file)}
    server = AppServer(env, script=PLAIN_APP if plain else "app.py").start()
    try:
        yield BenchApp(server, RunStore(db), plain)
    finally:
        server.stop()


@dataclass
class Chat:
    """A page on the chat with its probes, installed before the page loaded."""

    page: Any
    ws: WsByteCounter
    watch: TextWatch

    def close(self) -> None:
        self.page.context.close()


def open_chat(browser: Any, app: BenchApp, model: str) -> Chat:
    """A fresh page (own context, so its own Streamlit session) on the chat, with ``model``
    of the scripted provider chosen, a websocket byte counter and a text watch."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(120_000)
    ws = WsByteCounter().attach(page)
    watch = TextWatch(page)
    page.goto(f"{app.url}/?model={model}" if app.plain else app.url)
    wait_idle(page, 60_000)
    if not app.plain:
        use_scripted_model(page, model)
    ws.wait_quiet(page, 0.5)
    return Chat(page, ws, watch)


def run_for(store: RunStore, prompt: str) -> dict[str, Any]:
    runs = store.runs(RunFilter(prompts=(prompt,)))
    if not len(runs):
        raise LookupError(f"no run recorded for {prompt!r}")
    return runs.iloc[-1].to_dict()


@dataclass
class Answer:
    """One streamed answer as the browser saw it; times on Python's wall clock."""

    run: dict[str, Any]  # its row in the run store
    visible_at: float  # the needle in the DOM
    painted_at: float  # the animation frame after that
    bytes_until_visible: int  # websocket bytes from sending the prompt to ``visible_at``
    bytes_total: int  # ... to the page going quiet (figures, redraw after the answer)
    bytes_total_playwright: int  # the same, counted by Playwright's frame events
    frames_total: int  # websocket messages until quiet (Playwright's count)

    @property
    def first_byte(self) -> float:
        return self.run["created_at"] + self.run["ttft_s"]

    @property
    def last_byte(self) -> float:
        return self.run["created_at"] + self.run["e2e_s"]


def stream_once(chat: Chat, app: BenchApp, prompt: str, needle: str,
                quiet_s: float = 1.5) -> Answer:
    """Send ``prompt`` and wait until ``needle`` shows in its answer and the page is quiet."""
    page = chat.page
    chat.ws.wait_quiet(page, 0.5)
    sync = ClockSync.measure(page)
    start_js, start_pw, start_frames = chat.watch.ws_bytes(), chat.ws.received, chat.ws.frames
    chat.watch.watch(prompt, prompt, needle)
    send_prompt(page, prompt)
    hit = chat.watch.wait(prompt, timeout_ms=180_000)
    wait_idle(page, 120_000)
    chat.ws.wait_quiet(page, quiet_s)
    return Answer(
        run=run_for(app.store, prompt),
        visible_at=sync.to_python(hit["dom"]),
        painted_at=sync.to_python(hit["paint"]),
        bytes_until_visible=hit["bytes"] - start_js,
        bytes_total=chat.watch.ws_bytes() - start_js,
        bytes_total_playwright=chat.ws.received - start_pw,
        frames_total=chat.ws.frames - start_frames,
    )


def require_browser() -> None:
    if not chromium_available():
        sys.exit("chromium is missing: run `make browser` (Debian: apt-get install chromium)")


def machine_line() -> str:
    load = os.getloadavg()
    return (f"machine: {os.cpu_count()} cores, load average {load[0]:.2f}/{load[1]:.2f}/"
            f"{load[2]:.2f}, Python {platform.python_version()}")
