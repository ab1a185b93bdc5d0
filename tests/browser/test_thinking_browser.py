"""A reasoning model's answer in headless Chromium: the thinking streams into its own
"Thinking…" block above the answer, which then collapses under "Thought for N s"; the live
line names the phase; the answer never holds the thinking; a reload draws it all again."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from testkit.browser import chat_messages, exception_texts, send_prompt, use_scripted_model, \
    wait_idle
from chatlib.store import RunFilter

pytestmark = pytest.mark.browser

THINKING = "Thinking it through, one careful step after another. " * 4
ANSWER = "So the answer is forty-two."

# The last answer's thinking block (st.status: an expander), its label, whether it is open,
# the text inside, the answer's own text outside it, and the live line.
STATE_JS = """() => {
  const msgs = [...document.querySelectorAll('[data-testid="stChatMessage"]')]
    .filter(m => m.querySelector('[data-testid="stChatMessageAvatarAssistant"]'));
  const last = msgs[msgs.length - 1];
  if (!last) return null;
  const block = last.querySelector('[data-testid="stExpander"]');
  const details = block ? block.querySelector('details') : null;
  const inside = block ? [...block.querySelectorAll('[data-testid="stMarkdownContainer"]')]
    .filter(e => !e.closest('summary')).map(e => e.textContent).join('') : '';
  const answer = [...last.querySelectorAll('[data-testid="stMarkdownContainer"]')]
    .filter(e => !e.closest('[data-testid="stExpander"]') && !e.closest('button')
                 && !e.closest('[data-testid="stCaptionContainer"]'))
    .map(e => e.innerText).join('');
  const captions = [...last.querySelectorAll('[data-testid="stCaptionContainer"]')]
    .map(e => e.innerText);
  const label = block ? block.querySelector('summary [data-testid="stMarkdownContainer"]') : null;
  return {label: label ? label.innerText : null,
          open: details ? details.open : null, inside, answer, captions};
}"""


def state(page: Any) -> dict[str, Any] | None:
    return page.evaluate(STATE_JS)


def wait_state(page: Any, condition: str, timeout_ms: float = 30_000) -> dict[str, Any]:
    page.wait_for_function(f"() => {{ const s = ({STATE_JS})(); return s && ({condition}); }}",
                           timeout=timeout_ms)
    return state(page)


def test_thinking_grows_in_its_block_then_collapses_above_the_answer(page, app_store, scripts):
    scripts.add({"slow-thinker": {"reasoning": THINKING, "text": ANSWER, "chunk_chars": 4,
                                  "first_delay_s": 0.2, "gap_s": 0.05}})  # ~2.7 s of thinking
    use_scripted_model(page, "slow-thinker")
    send_prompt(page, "Think before you answer (thinking test)")

    first = wait_state(page, "s.label && s.label.includes('Thinking') && s.inside.length > 8")
    grown = wait_state(page, f"s.label.includes('Thinking') && s.inside.length > "
                             f"{len(first['inside']) + 20}")
    assert first["open"] and grown["open"]  # open while it grows
    assert THINKING.startswith(grown["inside"])
    assert grown["answer"] == ""  # no thinking leaks into the answer
    assert any(c.startswith("🧠 Thinking") and " so far" in c for c in grown["captions"])

    done = wait_state(page, "s.label.startsWith('Thought for') && s.answer.length > 0")
    wait_idle(page)
    done = state(page)
    assert done["open"] is False  # collapsed once the answer began
    assert done["answer"] == ANSWER and THINKING.strip() == done["inside"].strip()
    assert any("first answer token" in c for c in done["captions"])

    page.reload()  # drawn again from the stored chat
    wait_state(page, "s.label && s.label.startsWith('Thought for') && s.answer.length > 0")
    wait_idle(page)
    again = state(page)
    assert again["label"] == done["label"] and again["answer"] == ANSWER
    assert again["open"] is False and again["inside"].strip() == THINKING.strip()
    expect(chat_messages(page)).to_have_count(1)
    assert exception_texts(page) == []
    run = app_store.runs(RunFilter(prompts=("Think before you answer (thinking test)",))).iloc[-1]
    assert run.status == "ok" and run.response == ANSWER and run.ttfat_s > run.ttft_s


def test_stop_while_thinking_keeps_the_thinking_marked(page, app_store, scripts):
    scripts.add({"long-thinker": {"reasoning": THINKING * 5, "text": ANSWER, "chunk_chars": 4,
                                  "first_delay_s": 0.2, "gap_s": 0.05}})  # ~13 s of thinking
    use_scripted_model(page, "long-thinker")
    prompt = "Think for a long time (stop test)"
    send_prompt(page, prompt)
    wait_state(page, "s.label && s.label.includes('Thinking') && s.inside.length > 20")
    page.locator(".st-key-stop_answer button").click()
    stopped = wait_state(page, "s.label === 'Stopped while thinking'")
    wait_idle(page)
    expect(chat_messages(page).last).to_contain_text("Stopped: partial answer kept.")
    stopped = state(page)
    assert stopped["answer"] == "" and (THINKING * 5).startswith(stopped["inside"])
    run = app_store.runs(RunFilter(prompts=(prompt,))).iloc[-1]
    assert run.status == "stopped" and run.response == ""
    assert app_store.get(run.id).reasoning == stopped["inside"]
    page.reload()
    # The label and the block's text are drawn one after the other: wait for both.
    again = wait_state(page, "s.label === 'Stopped while thinking' && s.inside.length > 0")
    assert again["inside"] == stopped["inside"]
    assert exception_texts(page) == []
