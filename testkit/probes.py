"""Measuring the app from inside a real browser: when a given text first shows up in the
page, how many bytes the websocket carried, and how the browser's clock lines up with ours.

Times are wall-clock epoch seconds on both sides (``time.time()`` in Python, the page's
``performance.timeOrigin + performance.now()`` in Chromium) so a browser event can be set
against a run store timestamp (``created_at`` is the wall time of t0). ``ClockSync``
measures the offset between the two clocks instead of assuming it is zero.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["TextWatch", "WsByteCounter", "ClockSync", "percentile"]

# Installed once per page. ``watch(key, prompt, needle)`` timestamps the first moment the
# answer to ``prompt`` (the first assistant message after the last user message showing
# ``prompt``) shows ``needle``: the DOM time (MutationObserver callback, before paint) and
# the next animation frame (about when it is painted). Elements left over from the previous
# script run (``data-stale="true"``, still on screen until replaced) do not count. The scan
# goes backwards from the newest message, so a long chat costs little per mutation.
_WATCH_JS = r"""
(() => {
  if (window.__chatlabWatch) return;
  // A prompt is drawn as text (st.text), an answer as Markdown: both are the message's text.
  const TEXT = '[data-testid="stMarkdownContainer"], [data-testid="stText"]';
  const hits = {};
  const pending = new Map();
  let wsBytes = 0;  // every websocket message the page received, in bytes
  let wsLastAt = null;  // and when the last one arrived
  const now = () => performance.timeOrigin + performance.now();
  const isAssistant = m => !!m.querySelector('[data-testid="stChatMessageAvatarAssistant"]');
  const liveText = m => [...m.querySelectorAll(TEXT)]
    .filter(e => { const c = e.closest('[data-stale]'); return !c || c.dataset.stale !== 'true'; })
    .filter(e => !e.closest('button'))  // a button's label (the Stop button) is not the text
    .map(e => e.textContent).join('\n');
  const answerTo = (msgs, prompt) => {
    for (let j = msgs.length - 1; j >= 0; j--) {
      if (!isAssistant(msgs[j]) && liveText(msgs[j]).includes(prompt)) {
        for (let k = j + 1; k < msgs.length; k++) if (isAssistant(msgs[k])) return msgs[k];
        return null;
      }
    }
    return null;
  };
  const check = () => {
    if (!pending.size) return;
    const msgs = [...document.querySelectorAll('[data-testid="stChatMessage"]')];
    for (const [key, w] of pending) {
      const m = answerTo(msgs, w.prompt);
      if (m && liveText(m).includes(w.needle)) {
        const t = now();
        hits[key] = {dom: t, paint: null, bytes: wsBytes};
        pending.delete(key);
        requestAnimationFrame(() => { hits[key].paint = now(); });
      }
    }
  };
  // The same, one step earlier: when the page's JS receives the websocket message that
  // carries the needle (after the one that carries the prompt, so a history redrawn above
  // it does not count). Splits "app + network" from "browser rendering".
  const enc = new TextEncoder();
  const wsPending = new Map();
  const wsHits = {};
  const contains = (hay, needle) => {
    outer: for (let i = 0; i <= hay.length - needle.length; i++) {
      for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
      return true;
    }
    return false;
  };
  const onWs = data => {
    wsLastAt = now();
    wsBytes += data instanceof ArrayBuffer ? data.byteLength
      : typeof data === 'string' ? enc.encode(data).length : (data.size || 0);
    if (!wsPending.size || !(data instanceof ArrayBuffer)) return;
    const bytes = new Uint8Array(data);
    for (const [key, w] of wsPending) {
      if (!w.armed) { w.armed = contains(bytes, w.prompt); if (!w.armed) continue; }
      if (contains(bytes, w.needle)) { wsHits[key] = now(); wsPending.delete(key); }
    }
  };
  const NativeWebSocket = window.WebSocket;
  window.WebSocket = class extends NativeWebSocket {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', ev => onWs(ev.data));
    }
  };
  new MutationObserver(check).observe(document,  // documentElement may not exist yet
    {subtree: true, childList: true, characterData: true, attributes: true,
     attributeFilter: ['data-stale']});
  window.__chatlabWatch = {
    hits,
    wsHits,
    wsBytes: () => wsBytes,
    wsLastAt: () => wsLastAt,
    watch(key, prompt, needle) {
      pending.set(key, {prompt, needle});
      wsPending.set(key, {prompt: enc.encode(prompt), needle: enc.encode(needle), armed: false});
      check();
    },
    marks: {},
    mark(key) { this.marks[key] = now(); },
  };
})();
"""


class TextWatch:
    """Timestamps, in the browser, when the answer to a prompt first shows a given text."""

    def __init__(self, page: Any) -> None:
        self.page = page
        page.add_init_script(_WATCH_JS)  # survives reloads
        page.evaluate(_WATCH_JS)  # and works on the page already loaded

    def watch(self, key: str, prompt: str, needle: str) -> None:
        """Start watching for ``needle`` in the answer to ``prompt`` (send it after)."""
        self.page.evaluate("([k, p, n]) => window.__chatlabWatch.watch(k, p, n)",
                           [key, prompt, needle])

    def wait(self, key: str, timeout_ms: float = 60_000) -> dict[str, float]:
        """``{"dom": t, "paint": t, "ws": t | None, "bytes": n}``: times in browser
        wall-clock seconds, once seen (``ws``: the websocket message that carried it, if the
        prompt came first); ``bytes``: websocket bytes received by the page until then."""
        self.page.wait_for_function(
            "k => { const h = window.__chatlabWatch.hits[k]; return h && h.paint !== null; }",
            arg=key, timeout=timeout_ms,
        )
        hit = self.page.evaluate(
            "k => ({...window.__chatlabWatch.hits[k], ws: window.__chatlabWatch.wsHits[k]})", key)
        ws = hit.get("ws")
        return {"dom": hit["dom"] / 1000, "paint": hit["paint"] / 1000,
                "ws": ws / 1000 if ws is not None else None, "bytes": int(hit["bytes"])}

    def ws_last_at(self) -> float | None:
        """When the page's JS received its latest websocket message (browser clock, s)."""
        t = self.page.evaluate("window.__chatlabWatch.wsLastAt()")
        return t / 1000 if t is not None else None

    def ws_bytes(self) -> int:
        """Websocket bytes the page's JS has received since it loaded."""
        return int(self.page.evaluate("window.__chatlabWatch.wsBytes()"))


@dataclass
class WsByteCounter:
    """Counts the bytes of every websocket frame the page receives (Streamlit's protobuf
    ForwardMsgs), through the page's own websocket events."""

    received: int = 0
    frames: int = 0
    last_frame_at: float = field(default_factory=time.monotonic)

    def attach(self, page: Any) -> WsByteCounter:
        page.on("websocket", lambda ws: ws.on("framereceived", self._on_frame))
        return self

    def _on_frame(self, payload: bytes | str) -> None:
        self.received += len(payload.encode() if isinstance(payload, str) else payload)
        self.frames += 1
        self.last_frame_at = time.monotonic()

    def reset(self) -> None:
        self.received = 0
        self.frames = 0

    def wait_quiet(self, page: Any, quiet_s: float = 1.0, timeout_s: float = 60) -> None:
        """Wait until no frame has arrived for ``quiet_s`` (the page is done updating).
        Playwright delivers frame events only while it is called, hence the short waits."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() - self.last_frame_at < quiet_s:
            if time.monotonic() > deadline:
                raise TimeoutError("the websocket never went quiet")
            page.wait_for_timeout(50)


@dataclass
class ClockSync:
    """Offset of the browser's wall clock from ``time.time()``: ``browser - python``.

    Measured by round trips (Python time before, the browser's clock, Python time after);
    the sample with the shortest round trip bounds the error by half of it."""

    offset_s: float
    error_s: float

    @classmethod
    def measure(cls, page: Any, samples: int = 25) -> ClockSync:
        best: tuple[float, float] | None = None
        for _ in range(samples):
            before = time.time()
            browser = page.evaluate("performance.timeOrigin + performance.now()") / 1000
            after = time.time()
            rtt = after - before
            if best is None or rtt < best[1]:
                best = (browser - (before + after) / 2, rtt)
        assert best is not None
        return cls(offset_s=best[0], error_s=best[1] / 2)

    def to_python(self, browser_time_s: float) -> float:
        return browser_time_s - self.offset_s


def percentile(values: list[float], p: float) -> float:
    """``p``-th percentile (0-100) with linear interpolation, like numpy's default."""
    if not values:
        raise ValueError("no values")
    data = sorted(values)
    if len(data) == 1:
        return data[0]
    k = (len(data) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (k - lo)


def median(values: list[float]) -> float:
    return statistics.median(values)
