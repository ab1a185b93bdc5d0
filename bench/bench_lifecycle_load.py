"""Answer lifecycle under load: N browser sessions x P prompts, each answer finished, stopped,
disturbed by a sidebar widget change, or both, at random (seeded).

What it measures (goal in brackets), against a real ``streamlit run app.py`` with its own
temp data dir and the scripted provider (``$CHATLAB_SCRIPTS``: 200 chunks at 100 chunks/s
after a 0.1 s first delay, ``testkit.load.load_script``), driven by one headless Chromium
with a browser context (so a Streamlit session and a websocket) per session:

- stuck [0]: sessions where, once a prompt's answer is over (its last word or its Stopped
  marker shows), the page does not come back usable (script ``notRunning``, no Stop button,
  chat box enabled) within ``USABLE_S``, or the answer never ends within ``ANSWER_S``. Each
  such page's state is printed; it is then reloaded so its later prompts still count.
- lost partials [0]: for every prompt sent, the text the page finally shows for its answer
  must equal the stored run's ``response`` (one run per prompt, in the run store) and the
  stored chat turn (``ChatStore.get(<the page's ?chat= id>)``); the run and the turn must be
  ``stopped`` after a Stop click and ``ok`` otherwise, and the page must show the Stopped
  marker exactly then. Every violation counts. A click that reached the page less than
  ``LATE_S`` before the provider's last chunk (a "late stop": it races the answer's end, as
  the click still has to reach the server and interrupt the script run) may end ``ok``.
- Stop click -> "Stopped: partial answer kept." in that answer: p50/p95/max, timed inside
  the page (``performance.now()`` in a capturing click listener, then a MutationObserver
  on the answer), so the driver's own serial loop over the pages does not enter it.
- settings [0 mismatches]: every run's temperature and max output tokens equal what the
  sidebar showed when its prompt was sent (a change mid-answer applies to the next one).
- errors [0]: exception boxes, alerts, page JS errors, failures to send or to act, any
  traceback in the server log; and the CPU of the Streamlit process (all its threads) and
  of Chromium over the rounds, from /proc (``testkit.load.ProcessCpu``).

The sessions go in lockstep rounds. In a round, one loop sends the prompts one page after
another and, between two sends and after the last, looks at every page sent so far and
acts on it when its answer shows enough words (the widget change at one random word, Stop
at a later one, or at once after the widget change); then every page is waited for,
bounded. Paths: ``finish``; ``stop``; ``widget`` (the Temperature slider by one step, or
the Max output tokens field to a new value, then let it finish); ``widget+stop``.

Input is what a user's is: the prompt put in the chat box (as a paste) and Enter, the
widget focused and changed by the keyboard, Stop a real mouse click on the button where
it is at that moment (trusted events; Playwright's ``locator.click`` would wait for
the button to stop moving, which it does not while the text above it grows, and would
hold up every other page meanwhile). A step whose answer is already over when the loop
gets to it is not done and is counted apart ("missed"); its prompt then counts as not
stopped. Every prompt's plan, the driver's steps and the page's timeline (script state,
Stop button, words shown, each time they change) are written to ``lifecycle.json`` in the
run's data dir.

Run: ``.venv/bin/python bench/bench_lifecycle_load.py [sessions] [prompts] [seed]``
(default 20, 5, 1). Bounded: every wait has a deadline; 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chatlib.store import ChatStore, RunFilter, RunStore  # noqa: E402
from testkit.app_server import AppServer, scripted_app_env  # noqa: E402
from testkit.browser import (  # noqa: E402
    chromium, chromium_available, exception_texts, use_scripted_model, wait_idle,
)
from testkit.load import (  # noqa: E402
    CHAT_BOX, END_WORD, LOAD_MODEL, ProcessCpu, descendants, expected_answer, load_script,
    open_sessions, page_state, percentile, summary_ms, wait_usable,
)

CHUNKS, GAP_S, FIRST_DELAY_S = 200, 0.01, 0.1
PATHS = ("finish", "stop", "widget", "widget+stop")
STOPPED = "Stopped: partial answer kept."
ANSWER_S = 90.0  # from the send: the answer's end (last word or marker) must show by then
USABLE_S = 20.0  # from the answer's end shown: the page must be usable again by then
BOX_S = 20.0  # before a send: the chat box must be enabled by then
# A Stop click reaching the page less than this before the provider's last chunk may come
# too late (the run ends ok): the click still has to reach the server and interrupt the
# script run before the stream's end. The stopped runs show how long that takes: the
# provider's last chunk came up to 0.37 s after the click at load average 24 (printed).
LATE_S = 1.0

# In every page. ``arm(key, prompt)`` watches the answer to ``prompt`` (the assistant
# message after the user message that reads exactly ``prompt``; elements left from the
# previous script run, data-stale="true", do not count): its words so far, when its last
# word shows (``end``), when the Stopped marker shows in it (``marker``), when the page is
# usable after that (``usable``), and the capturing click listener stamps a click on the
# Stop button (``click``, with the words shown then). Times: performance.timeOrigin +
# performance.now(), epoch ms on the page's clock.
_LIFECYCLE_JS = r"""
(() => {
  if (window.__lc) return;
  // A prompt is drawn as text (st.text), an answer as Markdown: both are the message's text.
  const TEXT = '[data-testid="stMarkdownContainer"], [data-testid="stText"]';
  const now = () => performance.timeOrigin + performance.now();
  const fresh = e => {
    const c = e.closest('[data-stale]');
    return !c || c.dataset.stale !== 'true';
  };
  const body = m => [...m.querySelectorAll(TEXT)]
    .filter(e => fresh(e) && !e.closest('[data-testid="stAlert"]') && !e.closest('button'))
    .map(e => e.textContent).join('\n');
  const captions = m => [...m.querySelectorAll('[data-testid="stCaptionContainer"]')]
    .filter(fresh).map(e => e.textContent);
  const isAssistant = m => !!m.querySelector('[data-testid="stChatMessageAvatarAssistant"]');
  const messages = () => [...document.querySelectorAll('[data-testid="stChatMessage"]')]
    .filter(fresh);
  const answerTo = prompt => {
    const msgs = messages();
    for (let j = msgs.length - 1; j >= 0; j--) {
      if (!isAssistant(msgs[j]) && body(msgs[j]).trim() === prompt) {
        return j + 1 < msgs.length && isAssistant(msgs[j + 1]) ? msgs[j + 1] : null;
      }
    }
    return null;
  };
  const usable = () => {
    const app = document.querySelector('[data-testid="stApp"]');
    const box = document.querySelector('[data-testid="stChatInputTextArea"]');
    return !!app && app.dataset.testScriptState === 'notRunning' && !!box && !box.disabled
      && !document.querySelector('.st-key-stop_answer button');
  };
  const state = {armed: null, hits: {}, errors: []};
  // What the page shows around the armed answer, each time it changes (for the report of
  // a stuck or lost answer): ms since the arm, script state, Stop button (* = stale),
  // words of the answer (or no answer message), captions under it.
  const trace = (w, m) => {
    const app = document.querySelector('[data-testid="stApp"]');
    const b = document.querySelector('.st-key-stop_answer button');
    const s = `${app ? app.dataset.testScriptState : '?'} stop=${b ? (fresh(b) ? 1 : '*') : 0}`
      + (m ? ` words=${w.words} captions=${captions(m).length}` : ' no answer');
    if (s !== w.last && w.timeline.length < 400) {
      w.timeline.push(`${Math.round(now() - w.armed_at)}ms ${s}`);
      w.last = s;
    }
  };
  const check = () => {
    const w = state.armed;
    if (!w) return;
    const m = answerTo(w.prompt);
    if (m) {
      const text = body(m).trim();
      w.words = text ? text.split(/\s+/).length : 0;
      if (w.end === null && text.endsWith('__END__')) w.end = now();
      if (w.marker === null && captions(m).some(c => c.includes('__STOPPED__'))) w.marker = now();
    }
    trace(w, m);
    if (w.usable === null && (w.end !== null || w.marker !== null) && usable()) w.usable = now();
  };
  document.addEventListener('click', ev => {
    const w = state.armed;
    if (w && w.click === null && ev.target && ev.target.closest
        && ev.target.closest('.st-key-stop_answer')) {
      check();
      w.click = now(); w.click_words = w.words; w.click_after_end = w.end !== null;
    }
  }, true);
  window.addEventListener('error', ev => state.errors.push(String(ev.message)));
  new MutationObserver(check).observe(document,
    {subtree: true, childList: true, characterData: true, attributes: true,
     attributeFilter: ['data-stale', 'data-test-script-state', 'disabled']});
  window.__lc = {
    arm(key, prompt) {
      state.armed = {prompt, words: 0, end: null, marker: null, usable: null, click: null,
                     click_words: null, click_after_end: null, armed_at: now(),
                     timeline: [], last: ''};
      state.hits[key] = state.armed;
      check();
    },
    hit(key) { check(); return state.hits[key] || null; },
    errors() { return state.errors; },
    // Every answer the page shows: [{prompt, text, marker, captions}], in page order.
    answers() {
      const msgs = messages(), out = [];
      for (let j = 0; j < msgs.length; j++) {
        if (isAssistant(msgs[j])) continue;
        const a = j + 1 < msgs.length && isAssistant(msgs[j + 1]) ? msgs[j + 1] : null;
        out.push({prompt: body(msgs[j]).trim(), text: a ? body(a) : null,
                  captions: a ? captions(a) : []});
      }
      return out;
    },
  };
})();
""".replace("__END__", END_WORD).replace("__STOPPED__", STOPPED)

# Before a send: what the sidebar shows (the values the prompt must be sent with); the
# answer to the prompt armed; the chat box focused and emptied, for the typing.
_ARM_JS = """([key, prompt]) => {
  window.__lc.arm(key, prompt);
  const sb = document.querySelector('[data-testid="stSidebar"]');
  const t = sb.querySelector('input[type="range"][aria-label="Temperature"]');
  const m = sb.querySelector('input[type="number"][aria-label="Max output tokens"]');
  const box = document.querySelector('[data-testid="stChatInputTextArea"]');
  box.focus();
  box.select();
  return {temperature: t ? Number(t.value) : null, max_tokens: m ? Number(m.value) : null};
}"""

# Focus a sidebar field (by CSS selector) as a click would, and return its value.
_FOCUS_JS = """sel => {
  const e = document.querySelector('[data-testid="stSidebar"] ' + sel);
  e.scrollIntoView({block: 'nearest'});
  e.focus();
  return Number(e.value);
}"""

# Where to click the Stop button now (scrolled into view), or null without one: low in
# it, as it only ever moves down (the text above it grows) and may do so before the click.
_STOP_BOX_JS = """() => {
  const b = document.querySelector('.st-key-stop_answer button');
  if (!b) return null;
  b.scrollIntoView({block: 'nearest'});
  const r = b.getBoundingClientRect();
  return {x: r.x + r.width / 2, y: r.y + r.height * 0.8};
}"""


@dataclass
class Prompt:
    """One prompt of one session: what was planned, what was done, what the page saw."""

    session: int
    round: int
    text: str
    path: str
    widget: str | None  # "temperature" or "max_tokens"
    widget_at: int | None  # words shown when the widget is changed
    stop_at: int | None  # words shown when Stop is clicked
    sent: bool = False
    settings: dict[str, Any] = field(default_factory=dict)  # the sidebar at the send
    widget_done: bool = False
    stop_misses: int = 0  # Stop attempts with no button, or that missed it, mid-answer
    late: bool = False  # the Stop click raced the answer's end and lost (see LATE_S)
    close_lag_ms: float | None = None  # stopped: the provider's last chunk - the click
    missed: list[str] = field(default_factory=list)  # steps not done: the answer was over
    hit: dict[str, Any] | None = None  # the page's record (window.__lc.hit)
    stuck: str | None = None
    events: list[str] = field(default_factory=list)  # what the driver did, and when
    sent_at: float = 0.0  # time.monotonic() of the send

    def note(self, what: str, words: int | None = None) -> None:
        shown = "" if words is None else f" at {words} words"
        if len(self.events) < 30:
            self.events.append(f"{time.monotonic() - self.sent_at:.2f}s {what}{shown}")

    @property
    def key(self) -> str:
        return f"r{self.round}-s{self.session}"


@dataclass
class Session:
    index: int
    page: Any
    chat_id: str | None = None
    dead: bool = False  # could not be brought back after being stuck
    stuck_events: list[str] = field(default_factory=list)


def plan(rng: random.Random, sessions: int, prompts: int) -> list[list[Prompt]]:
    """Every prompt's path and trigger words, drawn in a fixed order from ``rng``."""
    rounds = []
    for r in range(prompts):
        row = []
        for s in range(sessions):
            path = rng.choice(PATHS)
            widget = rng.choice(("temperature", "max_tokens")) if "widget" in path else None
            # Early in the 200 words: the driver revisits a page every ~0.5 s (~50 words).
            widget_at = rng.randint(10, 60) if widget else None
            if path == "stop":
                stop_at = rng.randint(15, 90)
            elif path == "widget+stop":
                extra = rng.choice((0, rng.randint(1, 30)))  # 0: at once after the change
                stop_at = (widget_at or 0) + extra
            else:
                stop_at = None
            row.append(Prompt(s, r, f"lifecycle prompt r{r}-s{s} {path}", path, widget,
                              widget_at, stop_at))
        rounds.append(row)
    return rounds


def first_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:160]}"


def change_widget(page: Any, which: str, rng: random.Random) -> str:
    """One user change of a sidebar widget mid-answer, by the keyboard (trusted input
    events, no actionability waits, so the other pages are not held up); its rerun is not
    waited for."""
    if which == "temperature":
        value = page.evaluate(_FOCUS_JS, "input[type='range'][aria-label='Temperature']")
        key = "ArrowLeft" if value >= 1.95 or (value > 0.05 and rng.random() < 0.5) \
            else "ArrowRight"
        page.keyboard.press(key)
        return f"temperature {value:.2f} {key}"
    old = int(page.evaluate(_FOCUS_JS, "input[type='number'][aria-label='Max output tokens']"))
    new = rng.choice([v for v in range(64, 2049, 64) if v != old])
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type(str(new))
    page.keyboard.press("Enter")
    return f"max_tokens {old} -> {new}"


def click_stop(page: Any, key: str, attempts: int = 3) -> str:
    """Click Stop as a user does: a real mouse click on the button where it is now.
    (``locator.click`` waits for the button to stop moving, which it does not while the
    text above it grows, and holds up every other page meanwhile.) The page's own click
    listener says whether the click landed on it."""
    for _ in range(attempts):
        where = page.evaluate(_STOP_BOX_JS)
        if where is None:
            return "no Stop button"
        page.mouse.click(where["x"], where["y"])
        if (hit(page, key) or {}).get("click") is not None:
            return "clicked"
    return "missed the moving button"


def hit(page: Any, key: str) -> dict[str, Any] | None:
    return page.evaluate("k => window.__lc.hit(k)", key)


def describe(page: Any, key: str) -> str:
    """What a page shows, for a stuck report."""
    h = None
    try:
        h = hit(page, key)
    except Exception as exc:  # the page itself may be the problem
        return f"{page_state(page)}; probe unavailable ({type(exc).__name__})"
    if not h:
        return f"{page_state(page)}; answer not found"
    return (f"{page_state(page)}; answer words {h['words']}, last word shown "
            f"{h['end'] is not None}, Stopped marker shown {h['marker'] is not None}, Stop "
            f"click seen {h['click'] is not None} (at {h['click_words']} words)")


def recover(session: Session, url: str) -> str:
    """Reload a stuck page on its chat; say what it shows then."""
    page = session.page
    try:
        page.goto(f"{url}/?chat={session.chat_id}" if session.chat_id else url)
        wait_idle(page, 60_000)
        use_scripted_model(page, LOAD_MODEL)
        wait_usable(page, USABLE_S * 1000)
        return "after a reload: usable"
    except Exception as exc:
        session.dead = True
        return f"after a reload: still not usable ({first_line(exc)}); {page_state(page)}"


def send(session: Session, prompt: Prompt, errors: list[str]) -> bool:
    """Type ``prompt`` in the session's chat box and press Enter, once the box takes it."""
    page = session.page
    try:
        page.locator(f"{CHAT_BOX}:not([disabled])").wait_for(timeout=BOX_S * 1000)
        prompt.settings = page.evaluate(_ARM_JS, [prompt.key, prompt.text])
        page.keyboard.insert_text(prompt.text)
        page.keyboard.press("Enter")
    except Exception as exc:
        errors.append(f"{prompt.key}: could not send ({first_line(exc)}); {page_state(page)}")
        return False
    prompt.sent, prompt.sent_at = True, time.monotonic()
    return True


def act(session: Session, prompt: Prompt, todo: list[tuple[str, int]], rng: random.Random,
        errors: list[str], lags: list[int]) -> tuple[bool, bool]:
    """Look at the page once and do its next step if it is due: (steps over, acted)."""
    page = session.page
    try:
        h = hit(page, prompt.key) or {"words": 0, "end": None, "marker": None}
    except Exception as exc:
        errors.append(f"{prompt.key}: probe failed ({first_line(exc)})")
        return True, False
    if h["end"] is not None or h["marker"] is not None:
        prompt.missed += [kind for kind, _ in todo]  # too late: the answer is over
        prompt.note(f"answer over before {[k for k, _ in todo]}", h["words"])
        return True, False
    kind, at = todo[0]
    if h["words"] < at:
        return False, False
    lags.append(h["words"] - at)
    try:
        if kind == "widget":
            prompt.note(change_widget(page, prompt.widget or "", rng), h["words"])
            prompt.widget_done = True
        else:
            outcome = click_stop(page, prompt.key)
            prompt.note(f"Stop: {outcome}", h["words"])
            if outcome != "clicked":  # tried again at the next look, until the answer is over
                prompt.stop_misses += 1
                return False, False
    except Exception as exc:
        prompt.note(f"{kind} failed: {first_line(exc)}", h["words"])
        errors.append(f"{prompt.key}: {kind} failed mid-answer ({first_line(exc)}); "
                      f"{page_state(page)}")
    todo.pop(0)
    return not todo, True


def run_round(sessions: list[Session], row: list[Prompt], rng: random.Random,
              url: str, errors: list[str], lags: list[int]) -> None:
    """One lockstep round: send on every page (one send, then one look at every page sent
    so far, so the first pages' steps are not held up by the others' sends), act on each
    page when its step is due, then wait for all, bounded."""
    start = time.monotonic()
    to_send = [(s, p) for s, p in zip(sessions, row)]
    live: list[tuple[Session, Prompt]] = []
    steps: dict[int, tuple[Session, Prompt, list[tuple[str, int]]]] = {}
    while (to_send or steps) and time.monotonic() < start + ANSWER_S:
        acted = False
        if to_send:
            session, prompt = to_send.pop(0)
            if session.dead:
                errors.append(f"{prompt.key}: not sent, the session could not be recovered")
            elif send(session, prompt, errors):
                live.append((session, prompt))
                todo = ([("widget", prompt.widget_at or 0)] if prompt.widget else []) + (
                    [("stop", prompt.stop_at)] if prompt.stop_at is not None else [])
                if todo:
                    steps[session.index] = (session, prompt, todo)
            acted = True
        for index in list(steps):
            session, prompt, todo = steps[index]
            over, did = act(session, prompt, todo, rng, errors, lags)
            acted = acted or did
            if over:
                del steps[index]
        if not acted:
            time.sleep(0.02)
    for session, prompt, todo in steps.values():
        errors.append(f"{prompt.key}: steps {[k for k, _ in todo]} not done by the deadline")

    # Wait, bounded, for every answer to be over and every page to be usable again.
    for session, prompt in live:
        page = session.page
        remaining_ms = max(1_000.0, (start + ANSWER_S - time.monotonic()) * 1000)
        try:
            page.wait_for_function(
                "k => { const h = window.__lc.hit(k); "
                "return h && (h.end !== null || h.marker !== null); }",
                arg=prompt.key, timeout=remaining_ms)
        except Exception as exc:
            prompt.stuck = (f"answer not over {ANSWER_S:.0f} s after the send "
                            f"({type(exc).__name__}); {describe(page, prompt.key)}")
        if prompt.stuck is None:
            try:
                wait_usable(page, USABLE_S * 1000)
            except Exception as exc:
                prompt.stuck = (f"not usable {USABLE_S:.0f} s after the answer was over "
                                f"({type(exc).__name__}); {describe(page, prompt.key)}")
        try:
            prompt.hit = hit(page, prompt.key)
        except Exception as exc:
            errors.append(f"{prompt.key}: probe failed ({first_line(exc)})")
        if session.chat_id is None:
            query = parse_qs(urlparse(page.url).query)
            session.chat_id = query.get("chat", [None])[0]
        if prompt.stuck is not None:
            event = f"{prompt.key} ({prompt.path}): {prompt.stuck}"
            session.stuck_events.append(f"{event}; {recover(session, url)}")
        try:
            shown = exception_texts(page)
            if shown:
                errors.append(f"{prompt.key}: exception shown: {shown[0][:200]}")
            alerts = page.locator("[data-testid='stAlert']").all_inner_texts()
            if alerts:
                errors.append(f"{prompt.key}: alert shown: {alerts[0][:200]}")
        except Exception as exc:
            errors.append(f"{prompt.key}: page unreadable ({first_line(exc)})")


def check_prompts(sessions: list[Session], prompts: list[Prompt], store: RunStore,
                  answer: str) -> tuple[list[str], list[str], int]:
    """Every sent prompt against the page's final text, its run and its chat turn: the
    violations (lost partials), the settings mismatches, and the late stops."""
    chats = ChatStore(store)
    shown: dict[int, list[dict[str, Any]]] = {}
    stored: dict[int, Any] = {}
    for s in sessions:
        try:
            wait_usable(s.page, USABLE_S * 1000)
        except Exception:
            pass  # read what it shows anyway; a stuck page was counted in its round
        try:
            shown[s.index] = s.page.evaluate("window.__lc.answers()")
        except Exception:  # a page that could not be recovered: its answers count as lost
            shown[s.index] = []
        stored[s.index] = chats.get(s.chat_id) if s.chat_id else None
    lost: list[str] = []
    settings_bad: list[str] = []
    late = 0
    for p in prompts:
        if not p.sent:
            continue
        tag = f"{p.key} ({p.path})"
        runs = store.runs(RunFilter(prompts=(p.text,)))
        on_page = [a for a in shown[p.session] if a["prompt"] == p.text]
        chat = stored[p.session]
        turns = [] if chat is None else [
            chat.turns[i + 1] for i, t in enumerate(chat.turns[:-1])
            if t.role == "user" and t.content == p.text and chat.turns[i + 1].role == "assistant"]
        if len(runs) != 1:
            lost.append(f"{tag}: {len(runs)} runs stored, expected 1")
        if len(on_page) != 1 or on_page[0]["text"] is None:
            lost.append(f"{tag}: the page shows {len(on_page)} such prompts"
                        + (", with no answer" if on_page and on_page[0]["text"] is None else ""))
        if len(turns) != 1:
            lost.append(f"{tag}: the chat {p.session} holds {len(turns)} answers to it")
        if len(runs) != 1 or len(turns) != 1 or len(on_page) != 1 or not on_page[0]["text"]:
            continue
        run, turn, page = runs.iloc[0], turns[0], on_page[0]
        h = p.hit or {}
        clicked = h.get("click") is not None
        run_end_ms = (float(run.created_at) + float(run.e2e_s or 0)) * 1000
        if clicked and run.status == "stopped":
            p.close_lag_ms = run_end_ms - h["click"]
        p.late = bool(clicked and run.status == "ok" and (
            h.get("click_after_end") or h["click"] > run_end_ms - LATE_S * 1000))
        late += p.late
        wanted = {"ok"} if not clicked or p.late else {"stopped"}
        if run.status not in wanted:
            lost.append(f"{tag}: run status {run.status}, expected {'/'.join(sorted(wanted))}"
                        f" (click at {h.get('click_words')} words; missed {p.missed})")
        if turn.status != run.status:
            lost.append(f"{tag}: chat turn status {turn.status}, run status {run.status}")
        if turn.content != run.response:
            lost.append(f"{tag}: chat turn text ({len(turn.content)} chars) != run response "
                        f"({len(run.response)} chars)")
        if page["text"].strip() != run.response.strip():
            lost.append(f"{tag}: page shows {len(page['text'].strip())} chars, run response "
                        f"{len(run.response.strip())} chars ({run.status})")
        if not answer.startswith(run.response) or (run.status == "ok" and run.response != answer):
            lost.append(f"{tag}: run response ({len(run.response)} chars, {run.status}) is not "
                        f"the script's text")
        marker = any(STOPPED in c for c in page["captions"])
        if marker != (run.status == "stopped"):
            lost.append(f"{tag}: Stopped marker {'shown' if marker else 'missing'} for a "
                        f"{run.status} run")
        sent = json.loads(run.settings_json)
        want_t, want_m = p.settings.get("temperature"), p.settings.get("max_tokens")
        if want_t is None or abs(float(sent["temperature"]) - want_t) > 1e-9 \
                or int(sent["max_tokens"]) != want_m:
            settings_bad.append(f"{tag}: sidebar showed temperature {want_t}, max tokens "
                                f"{want_m}; the run has {sent['temperature']}, "
                                f"{sent['max_tokens']}")
    return lost, settings_bad, late


def summary_words(values: list[int]) -> str:
    if not values:
        return "no values"
    return (f"p50 {percentile(values, 50):.0f}, p95 {percentile(values, 95):.0f}, "
            f"max {max(values)} words")


def main() -> int:
    n_sessions = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    n_prompts = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    if not chromium_available():
        print("bench_lifecycle_load: Debian's chromium is missing (make browser)")
        return 1
    rng = random.Random(seed)
    rounds = plan(rng, n_sessions, n_prompts)
    data = Path(tempfile.mkdtemp(prefix="chatlab-lifecycle-"))
    spec = load_script(CHUNKS, GAP_S, FIRST_DELAY_S)
    answer = expected_answer(spec)
    env = scripted_app_env(data, {LOAD_MODEL: spec})
    planned = {path: sum(p.path == path for row in rounds for p in row) for path in PATHS}
    print(f"lifecycle load: {n_sessions} sessions x {n_prompts} prompts (seed {seed}), "
          f"scripted answer of {CHUNKS} chunks at {1 / GAP_S:.0f}/s after "
          f"{FIRST_DELAY_S * 1000:.0f} ms; paths {planned}; {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.2f}")
    errors: list[str] = []
    lags: list[int] = []  # words shown past a step's trigger word when it was done
    loads = [os.getloadavg()[0]]
    started = time.monotonic()
    server = AppServer(env).start()
    try:
        store = RunStore(data / "runs.sqlite3")
        with chromium() as browser:
            pages = open_sessions(browser, server.url, n_sessions, timeout_s=600,
                                  init_scripts=[_LIFECYCLE_JS])
            sessions = [Session(i, page) for i, page in enumerate(pages)]
            browser_pids = descendants(os.getpid(), exclude={server.proc.pid})
            app_cpu = ProcessCpu([server.proc.pid]).start()
            browser_cpu = ProcessCpu(browser_pids).start()
            t_rounds = time.monotonic()
            for r, row in enumerate(rounds):
                run_round(sessions, row, rng, server.url, errors, lags)
                loads.append(os.getloadavg()[0])
                done = [p for p in row if p.sent]
                print(f"  round {r + 1}/{n_prompts}: {len(done)} sent, "
                      f"{sum(p.stuck is not None for p in row)} stuck, "
                      f"{time.monotonic() - t_rounds:.0f} s in, load {loads[-1]:.2f}",
                      flush=True)
            rounds_wall = time.monotonic() - t_rounds
            app_cores, browser_cores = app_cpu.stop(), browser_cpu.stop()
            prompts = [p for row in rounds for p in row]
            lost, settings_bad, late = check_prompts(sessions, prompts, store, answer)
            for s in sessions:
                js_errors = s.page.evaluate("window.__lc.errors()")
                if js_errors:
                    errors.append(f"session {s.index}: page error: {js_errors[0][:200]}")
            # Read before any page closes (a dropped websocket may log a traceback of its own).
            log = server.log()
        if "Traceback" in log:
            errors.append("traceback in the server log: " + log[log.index("Traceback"):][:500])
    finally:
        server.stop()

    sent = [p for p in prompts if p.sent]
    dump = data / "lifecycle.json"  # every prompt: plan, driver's events, the page's record
    dump.write_text(json.dumps([p.__dict__ for p in prompts], indent=1, default=str))
    stuck_sessions = [s for s in sessions if s.stuck_events]
    stuck_by_path = {path: sum(p.stuck is not None and p.path == path for p in sent)
                     for path in PATHS}
    clicks = [p for p in sent if p.hit and p.hit.get("click") is not None]
    stop_ms = [(p.hit["marker"] - p.hit["click"]) / 1000 for p in clicks if p.hit["marker"]]
    no_marker = [p for p in clicks if not p.hit["marker"] and not p.late]
    usable_ms = [(p.hit["usable"] - (p.hit["marker"] or p.hit["end"])) / 1000
                 for p in sent if p.hit and p.hit.get("usable")]
    missed = [p for p in sent if p.missed]
    fumbled = [p for p in sent if p.stop_misses]
    widget_done = sum(p.widget_done for p in sent)

    print(f"  prompts sent {len(sent)}/{len(prompts)}; Stop clicks reaching the page "
          f"{len(clicks)} ({late} late: under {LATE_S:.0f} s before the provider's last "
          f"chunk, and the answer ended ok); widget changes "
          f"{widget_done}; steps missed because the answer was already over {len(missed)} "
          f"({sorted({k for p in missed for k in p.missed})}); steps done "
          f"{summary_words(lags)} past their trigger word")
    print(f"  Stop attempts mid-answer that found no Stop button or missed it: "
          f"{sum(p.stop_misses for p in sent)} over {len(fumbled)} prompts")
    for p in (fumbled + [p for p in missed if p not in fumbled])[:5]:
        print(f"    MISSED {p.key} ({p.path}, stop at {p.stop_at} words): {p.events}")
        print(f"      page: {(p.hit or {}).get('timeline')}")
    print(f"  stuck (goal 0): {len(stuck_sessions)} of {n_sessions} sessions, "
          f"{sum(len(s.stuck_events) for s in sessions)} prompts; by path {stuck_by_path}")
    for s in stuck_sessions:
        for event in s.stuck_events[:3]:
            print(f"    STUCK session {s.index}: {event[:600]}")
    print(f"  lost partials (goal 0): {len(lost)} violations (page text = run response = "
          f"chat turn, status stopped/ok, one run per prompt, marker iff stopped)")
    for v in lost[:15]:
        print(f"    LOST {v}")
    print(f"  Stop click -> '{STOPPED}' in that answer (in-page clock): "
          f"{summary_ms(stop_ms)}; {len(no_marker)} clicks never showed it")
    lags_ms = [p.close_lag_ms / 1000 for p in sent if p.close_lag_ms is not None]
    print(f"  stopped runs: the provider's last chunk came {summary_ms(lags_ms)} after the "
          f"click reached the page (page and server clocks, one machine)")
    print(f"  answer over (last word or marker) -> page usable (in-page clock): "
          f"{summary_ms(usable_ms)}")
    print(f"  settings mismatches (goal 0): {len(settings_bad)} runs not sent with what the "
          f"sidebar showed at the send")
    for v in settings_bad[:5]:
        print(f"    SETTINGS {v}")
    print(f"  CPU over the rounds ({rounds_wall:.0f} s): Streamlit {app_cores:.2f} cores "
          f"({app_cpu.cpu_s:.0f} CPU-s), Chromium {browser_cores:.2f} cores "
          f"({len(browser_pids)} processes), of {os.cpu_count()}; load average start "
          f"{loads[0]:.2f}, max {max(loads):.2f}, end {loads[-1]:.2f}; wall "
          f"{time.monotonic() - started:.0f} s")
    print(f"  errors (goal 0): {len(errors)}; every prompt's record: {dump}")
    for e in errors[:15]:
        print(f"    ERROR {e[:600]}")
    p50 = percentile(stop_ms, 50) * 1000 if stop_ms else -1
    p95 = percentile(stop_ms, 95) * 1000 if stop_ms else -1
    worst = max(stop_ms) * 1000 if stop_ms else -1
    print(f"RESULT lifecycle load {n_sessions}x{n_prompts}: stuck {len(stuck_sessions)} "
          f"sessions, lost partials {len(lost)}, settings mismatches {len(settings_bad)}, "
          f"errors {len(errors)} (goal 0 each); Stop->marker p50 {p50:.0f} ms, p95 "
          f"{p95:.0f} ms, max {worst:.0f} ms (n={len(stop_ms)}); Streamlit CPU "
          f"{app_cores:.2f} cores; load average max {max(loads):.2f}")
    bad = stuck_sessions or lost or settings_bad or errors or no_marker
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
