"""Many browser sessions chatting with the app at once: the driver shared by the load bench
(``bench/bench_load.py``, 20 sessions) and its fast test (``tests/load/``, 5 sessions).

Each session is its own browser context (its own Streamlit session and websocket) in one
headless Chromium. Every page streams the same scripted answer (``LOAD_MODEL``: a known
number of chunks at a known rate), so what each page must show and what the run store must
hold is known in advance. Times are taken inside each page, on its own clock:

- TTFT seen by the user = first answer text in the DOM - the Enter keydown that sent it;
- overhead = that TTFT - the script's own first delay (what the provider itself takes).

Every loop is bounded in count and time, and only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from testkit.browser import exception_texts, send_prompt, use_scripted_model, wait_idle

__all__ = [
    "LOAD_MODEL", "load_script", "expected_answer", "LoadRound", "run_round", "open_sessions",
    "ProcessCpu", "descendants", "percentile", "page_state", "wait_usable", "USABLE_JS",
]

LOAD_MODEL = "load-100tps"
FIRST_WORD = "Loadstart"  # the first chunk: the needle for TTFT
END_WORD = "Loadend"  # the last chunk: the answer is complete


def load_script(chunks: int = 200, gap_s: float = 0.01, first_delay_s: float = 0.1) -> dict:
    """A ``$CHATLAB_SCRIPTS`` spec: ``chunks`` word chunks (one token each, as the scripted
    provider reports usage), one every ``gap_s`` (0.01 s = 100 tok/s)."""
    words = [f"{FIRST_WORD} "] + [f"w{i} " for i in range(1, chunks - 1)] + [END_WORD]
    return {"chunks": words, "first_delay_s": first_delay_s, "gap_s": gap_s}


def expected_answer(spec: dict) -> str:
    return "".join(spec["chunks"])


# Installed in every page. ``arm(key, prompt)`` waits for the answer to ``prompt`` (the first
# assistant message after the user message showing it; elements left from the previous
# script run, data-stale="true", do not count). The Enter keydown in the chat box is the
# send time of the armed prompt; ``first`` is when the answer first shows FIRST_WORD,
# ``end`` when it shows END_WORD.
_PROBE_JS = r"""
(() => {
  if (window.__load) return;
  // A prompt is drawn as text (st.text), an answer as Markdown: both are the message's text.
  const TEXT = '[data-testid="stMarkdownContainer"], [data-testid="stText"]';
  const now = () => performance.timeOrigin + performance.now();
  const live = m => [...m.querySelectorAll(TEXT)]
    .filter(e => { const c = e.closest('[data-stale]'); return !c || c.dataset.stale !== 'true'; })
    .filter(e => !e.closest('button'))  // a button's label (the Stop button) is not the text
    .map(e => e.textContent).join('\n');
  const isAssistant = m => !!m.querySelector('[data-testid="stChatMessageAvatarAssistant"]');
  const answerTo = prompt => {
    const msgs = [...document.querySelectorAll('[data-testid="stChatMessage"]')];
    for (let j = msgs.length - 1; j >= 0; j--) {
      if (!isAssistant(msgs[j]) && live(msgs[j]).includes(prompt)) {
        for (let k = j + 1; k < msgs.length; k++) if (isAssistant(msgs[k])) return msgs[k];
        return null;
      }
    }
    return null;
  };
  const state = {armed: null, hits: {}, errors: []};
  const check = () => {
    const w = state.armed;
    if (!w || w.end !== null) return;
    const m = answerTo(w.prompt);
    if (!m) return;
    const text = live(m);
    if (w.first === null && text.includes('__FIRST__')) w.first = now();
    if (w.first !== null && text.includes('__END__')) w.end = now();
  };
  document.addEventListener('keydown', ev => {
    const w = state.armed;
    if (w && w.sent === null && ev.key === 'Enter' && !ev.shiftKey
        && ev.target && ev.target.matches('[data-testid="stChatInputTextArea"]')) w.sent = now();
  }, true);
  window.addEventListener('error', ev => state.errors.push(String(ev.message)));
  new MutationObserver(check).observe(document,
    {subtree: true, childList: true, characterData: true, attributes: true,
     attributeFilter: ['data-stale']});
  window.__load = {
    arm(key, prompt) {
      state.armed = {prompt, sent: null, first: null, end: null};
      state.hits[key] = state.armed;
    },
    hit(key) { return state.hits[key] || null; },
    errors() { return state.errors; },
  };
})();
""".replace("__FIRST__", FIRST_WORD).replace("__END__", END_WORD)


def percentile(values: list[float], p: float) -> float:
    """``p``-th percentile (0-100), linear interpolation as numpy's default."""
    data = sorted(values)
    if not data:
        raise ValueError("no values")
    k = (len(data) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (k - lo)


def open_sessions(browser: Any, url: str, n: int, model: str = LOAD_MODEL,
                  timeout_s: float = 240, init_scripts: Sequence[str] = ()) -> list[Any]:
    """``n`` pages, each in its own context, on the chat page with ``model`` chosen;
    ``init_scripts`` are installed in every page beside this module's probe (and again
    after a reload)."""
    host = urlparse(url).hostname
    if host != "127.0.0.1":  # load never leaves the machine
        raise ValueError(f"load runs target 127.0.0.1 only, not {host}")
    deadline = time.monotonic() + timeout_s
    pages = []
    for _ in range(n):
        if time.monotonic() > deadline:
            raise TimeoutError(f"opened only {len(pages)} of {n} sessions in {timeout_s} s")
        context = browser.new_context(viewport={"width": 1100, "height": 800})
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.add_init_script(_PROBE_JS)
        for script in init_scripts:
            page.add_init_script(script)
        page.goto(url)
        wait_idle(page, 60_000)
        use_scripted_model(page, model)
        pages.append(page)
    return pages


@dataclass
class LoadRound:
    """One round: every session sends one prompt at (nearly) the same time."""

    sessions: int
    wall_s: float
    ttft_s: list[float] = field(default_factory=list)  # browser: Enter -> first text
    e2e_s: list[float] = field(default_factory=list)  # browser: Enter -> last text
    prompts: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    stuck: set[int] = field(default_factory=set)  # pages whose chat box never came back


CHAT_BOX = "[data-testid='stChatInputTextArea']"


def page_state(page: Any) -> str:
    """What a stuck page shows, for the error report."""
    try:
        return page.evaluate("""() => ({
          script: document.querySelector('[data-testid="stApp"]')?.dataset.testScriptState,
          box_disabled: document.querySelector('[data-testid="stChatInputTextArea"]')?.disabled,
          messages: document.querySelectorAll('[data-testid="stChatMessage"]').length,
          stop_button: !!document.querySelector('.st-key-stop_answer button'),
        })""")
    except Exception as exc:
        return f"page state unavailable ({type(exc).__name__})"


# The page is usable again after an answer: the script is not running, no Stop button is
# drawn and the chat box takes a prompt.
USABLE_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  const box = document.querySelector('[data-testid="stChatInputTextArea"]');
  return !!app && app.dataset.testScriptState === 'notRunning' && !!box && !box.disabled
    && !document.querySelector('.st-key-stop_answer button');
}"""


def wait_usable(page: Any, timeout_ms: float, settle_ms: float = 250) -> None:
    """Wait (bounded by ``timeout_ms`` in all) until ``USABLE_JS`` holds, and still holds
    ``settle_ms`` later (not a gap between two script runs). Raises Playwright's
    ``TimeoutError`` when it does not."""
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        remaining_ms = max(1.0, (deadline - time.monotonic()) * 1000)
        page.wait_for_function(USABLE_JS, timeout=remaining_ms)
        page.wait_for_timeout(settle_ms)
        if page.evaluate(USABLE_JS):
            return
        if time.monotonic() > deadline:
            from playwright.sync_api import TimeoutError as PlaywrightTimeout

            raise PlaywrightTimeout(f"page not usable within {timeout_ms:.0f} ms")


def run_round(
    pages: list[Any], label: str, timeout_s: float = 120, skip: set[int] = frozenset(),
    box_wait_s: float = 10,
) -> LoadRound:
    """Send one prompt on every page, then wait (bounded) for every answer to complete.

    A page whose chat box stays disabled for ``box_wait_s`` after its previous answer is
    recorded in ``stuck`` (and its prompt as an error); pages in ``skip`` (stuck in an
    earlier round) count as errors at once, so they do not hold back the others' sends."""
    start = time.monotonic()
    result = LoadRound(sessions=len(pages), wall_s=0.0)
    deadline = start + timeout_s
    sent = []
    for i, page in enumerate(pages):
        key = f"{label}-s{i}"
        prompt = f"load prompt {key}"
        if i in skip:
            result.errors.append(f"{key}: not sent, the session's chat box is still disabled")
            result.stuck.add(i)
            continue
        try:
            # The previous answer's page rerun (redraw from history) must be over first.
            page.locator(f"{CHAT_BOX}:not([disabled])").wait_for(timeout=box_wait_s * 1000)
        except Exception:
            result.errors.append(f"{key}: chat box still disabled {box_wait_s:.0f} s after the "
                                 f"previous answer; {page_state(page)}")
            result.stuck.add(i)
            continue
        try:
            page.evaluate("([k, p]) => window.__load.arm(k, p)", [key, prompt])
            send_prompt(page, prompt)
        except Exception as exc:
            result.errors.append(f"{key}: could not send ({type(exc).__name__}: "
                                 f"{str(exc).splitlines()[0][:200]}); {page_state(page)}")
            continue
        sent.append((page, key))
        result.prompts.append(prompt)
    for page, key in sent:
        remaining_ms = max(1_000, (deadline - time.monotonic()) * 1000)
        try:
            page.wait_for_function(
                "k => { const h = window.__load.hit(k); return h && h.end !== null; }",
                arg=key, timeout=remaining_ms,
            )
            wait_idle(page, remaining_ms)
        except Exception as exc:  # a page that never finished is an error of the run
            result.errors.append(f"{key}: no complete answer ({type(exc).__name__}); "
                                 f"{page_state(page)}")
            continue
        hit = page.evaluate("k => window.__load.hit(k)", key)
        if hit["sent"] is None:
            result.errors.append(f"{key}: the Enter keydown was not seen")
            continue
        result.ttft_s.append((hit["first"] - hit["sent"]) / 1000)
        result.e2e_s.append((hit["end"] - hit["sent"]) / 1000)
    for page, key in sent:
        shown = exception_texts(page)
        if shown:
            result.errors.append(f"{key}: exception shown: {shown[0][:200]}")
        alerts = page.locator("[data-testid='stAlert']").all_inner_texts()
        if alerts:
            result.errors.append(f"{key}: alert shown: {alerts[0][:200]}")
        js_errors = page.evaluate("window.__load.errors()")
        if js_errors:
            result.errors.append(f"{key}: page error: {js_errors[0][:200]}")
    result.wall_s = time.monotonic() - start
    return result


# -- CPU of a process tree, from /proc (Linux) -------------------------------------------------
_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` (all its threads); 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(ppid, []).append(int(entry))
    return tree


def descendants(pid: int, exclude: set[int] = frozenset()) -> list[int]:
    """``pid``'s live descendants, without the subtrees rooted at ``exclude``."""
    tree, out, todo = _children(), [], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            if child not in exclude:
                out.append(child)
                todo.append(child)
    return out


class ProcessCpu:
    """CPU used by a set of processes between ``start()`` and ``stop()``, in cores
    (CPU seconds / wall seconds; 1.0 = one core busy all the time)."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self._t0 = self._cpu0 = 0.0
        self.cores = 0.0
        self.cpu_s = 0.0

    def start(self) -> ProcessCpu:
        self._t0, self._cpu0 = time.monotonic(), sum(map(_cpu_s, self.pids))
        return self

    def stop(self) -> float:
        self.cpu_s = sum(map(_cpu_s, self.pids)) - self._cpu0
        self.cores = self.cpu_s / max(1e-9, time.monotonic() - self._t0)
        return self.cores


def summary_ms(values: list[float], minus_s: float = 0.0) -> str:
    if not values:
        return "no values"
    shifted = [(v - minus_s) * 1000 for v in values]
    return (f"p50 {percentile(shifted, 50):.0f} ms, p95 {percentile(shifted, 95):.0f} ms, "
            f"max {max(shifted):.0f} ms (n={len(shifted)}, mean {statistics.mean(shifted):.0f})")
