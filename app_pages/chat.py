"""Chat page: a view of one stored chat (``?chat=<id>``): its turns, the answer in flight
re-attached and streaming, a Stop button under it, the prompt box. How an answer lives and
ends is ``chatlib.chat.answers``'s (its docstring); this page draws it and calls it.

One script run per prompt: the run the prompt box starts asks first (so the provider works
while the page draws), draws the chat with the new prompt, streams the answer, and when it
ends draws its footer and the actions under it in place. Nothing is drawn twice, so the
finished answer is never sent again. A Stop click, a widget change or a page switch ends
the run mid-stream (``runner.fastReruns``); the next run draws the chat from the store.
"""

import streamlit as st

from chatlib.chat.answers import AnswerRequest, ChatAnswers
from chatlib.core.conversation import BudgetFit, ChatTurn
from chatlib.core.errors import ProviderError
from chatlib.streaming.pump import StreamPump
from ui.chats import chat_exports, chat_sidebar, current_chat, sidebar_settings
from ui.first_screen import show_first_screen
from ui.plain_text import show_prompt
from ui.resources import chat_answers
from ui.sidebar import EMPTY_PROMPT, settings_sidebar
from ui.streaming import show_answer_text, show_thinking, stream_answer

_LAST_FIT = "_chatlab_last_fit"  # (chat id, what the last prompt sent), for the sidebar
_EDIT_EMPTY = "_chatlab_edit_was_empty"
# A long chat draws its last turns only: every rerun (each prompt, each widget change) redraws
# what is drawn, so a 500-turn chat must not cost 50 times a 10-turn one. The first turn drawn
# stays put while the chat grows (new turns append, so the browser re-renders nothing it
# shows) until 2 * WINDOW are drawn, then jumps to the last WINDOW. Older turns are a click
# away ("Show earlier turns", WINDOW more per click) and all in the sidebar's exports.
WINDOW = 10
_FIRST = "_chatlab_first_turn_drawn"  # (chat id, first turn drawn, the user asked for it)

answers: ChatAnswers = chat_answers()
chat, live = current_chat(answers)
# The sidebar, top to bottom: New chat and the chat list, provider and model, "Advanced"
# (folded: every engineering setting), the exports. Filled in the order the script needs
# (the settings before the prompt is asked, the list after it is stored).
chats_box, settings_box = st.sidebar.container(), st.sidebar.container()
advanced = st.sidebar.expander("Advanced", expanded=False)
request = settings_sidebar(settings_box, advanced)


def show_turn(turn: ChatTurn) -> None:
    with st.chat_message(turn.role):
        show_thinking(turn.reasoning, turn.reasoning_s,
                      stopped=turn.status == "stopped" and not turn.content)
        if turn.role == "user":
            show_prompt(turn.content)
        elif turn.content:
            show_answer_text(turn.content)
        show_footer(turn)


def show_footer(turn: ChatTurn) -> None:
    """Under an answer: stop marker, error, and its run's numbers."""
    if turn.status == "stopped":
        st.caption("⏹ Stopped: partial answer kept.")
    if turn.status == "streaming":  # live in another replica (see follow_elsewhere)
        st.caption("⏳ Still arriving on another server of this Chat Lab: shown as it is "
                   "stored, every second.")
    if turn.error:
        st.error(turn.error, icon="⚠️")
    if turn.summary:
        st.caption(f"{turn.provider} · {turn.model} · {turn.summary}")


def show_live(pump: StreamPump) -> None:
    """The answer in flight, from its start, until it ends; then its footer (from the
    store) and the actions under it, in this same run."""
    seq = len(chat.turns) - 1
    with st.chat_message("assistant"):
        stop = st.empty()
        if not pump.stop_asked:
            # Above the text, so it stays put while the answer grows. Its click reruns the
            # script; the callback stops the answer before the next run draws the chat,
            # which then shows the partial marked (chatlib.chat.answers, step 4).
            stop.button("Stop", icon="⏹️", key="stop_answer", on_click=answers.stop,
                        args=(chat.id,))
        stream_answer(pump, stop_on_close=False, live=True)
        ended = answers.load(chat.id)
        if ended is None or len(ended.turns) <= seq or ended.turns[seq].status == "streaming":
            st.rerun()  # deleted meanwhile, or its end not stored yet: draw what the store has
        stop.empty()
        chat.turns[:] = ended.turns  # in place: the sidebar's exports read this list
        show_footer(chat.turns[seq])
    answer_actions()


@st.fragment(run_every=1.0)
def follow_elsewhere(seq: int, shown: str) -> None:
    """An answer arriving in another replica: draw the page again when its stored turn
    changes (more text, or its end)."""
    again = answers.load(chat.id)
    turn = again.turns[seq] if again is not None and len(again.turns) > seq else None
    if turn is None or turn.status != "streaming" or turn.content != shown:
        st.rerun()


def regenerate(request: AnswerRequest | ProviderError) -> None:
    answers.drop_last_answer(chat)
    remember_fit(answers.answer_last_prompt(chat, request))


def send_edit(request: AnswerRequest | ProviderError) -> None:
    edited = str(st.session_state.get("edit_text") or "")
    if not edited.strip():
        st.session_state[_EDIT_EMPTY] = True  # the form stays, with a warning
        return
    st.session_state.editing = False
    answers.replace_last_prompt(chat, edited)
    remember_fit(answers.answer_last_prompt(chat, request))


def answer_actions() -> None:
    """Regenerate or edit-and-resend, under the last answer. Their callbacks start the new
    answer before the next run, which draws it streaming: one run, as for a prompt."""
    if st.session_state.get("editing"):
        last_prompt = next((t.content for t in reversed(chat.turns) if t.role == "user"), "")
        with st.form("edit_prompt"):
            st.text_area("Edit your last prompt", last_prompt, key="edit_text")
            send, cancel = st.columns(2)
            send.form_submit_button("Send edited prompt", type="primary", on_click=send_edit,
                                    args=(request,))
            cancel.form_submit_button("Cancel", on_click=st.session_state.update,
                                      kwargs={"editing": False})
        if st.session_state.pop(_EDIT_EMPTY, False):
            st.warning(EMPTY_PROMPT, icon="✏️")
    elif chat.turns and chat.turns[-1].role == "assistant":
        left, right, _ = st.columns([1, 1, 4])
        left.button("Regenerate", icon="🔄", on_click=regenerate, args=(request,))
        right.button("Edit prompt", icon="✏️", on_click=st.session_state.update,
                     kwargs={"editing": True})


def send_example(prompt: str) -> None:
    """A first-screen button: ask its prompt as if typed (the next run draws it streaming)."""
    model = request.settings.model if not isinstance(request, Exception) else ""
    remember_fit(answers.ask(chat, prompt, request, sidebar_settings(model)))
    st.query_params["chat"] = chat.id


def remember_fit(fit: BudgetFit | None) -> None:
    if fit is not None:
        st.session_state[_LAST_FIT] = (chat.id, fit.summary())


def first_drawn(turns: int) -> int:
    """Where the drawn turns start, for a history of ``turns`` (see ``WINDOW``)."""
    chat_id, first, asked = st.session_state.get(_FIRST) or (None, 0, False)
    if chat_id != chat.id:
        first, asked = max(0, turns - WINDOW), False
    elif turns - first > 2 * WINDOW and not asked:  # grown: jump ahead
        first = turns - WINDOW
    first = min(first, turns)  # regenerate and edit shorten the chat
    st.session_state[_FIRST] = (chat.id, first, asked)
    return first


def show_earlier(first: int) -> None:
    # Asked for: from now on the chat does not jump ahead past what the user went back to.
    st.session_state[_FIRST] = (chat.id, max(0, first - WINDOW), True)


# Pinned under the chat wherever it is called: read before the chat is drawn, so a prompt is
# asked for first and the provider works while the page draws.
prompt = st.chat_input("Ask anything")
refused = prompt is not None and not prompt.strip()  # never an empty bubble with an answer
if prompt and not refused:
    model = request.settings.model if not isinstance(request, Exception) else ""
    remember_fit(answers.ask(chat, prompt, request, sidebar_settings(model)))
    st.query_params["chat"] = chat.id
    live = answers.live(chat.id)  # ``chat`` is as ``ask`` stored it, with that answer
    if live is None and chat.turns and chat.turns[-1].status == "streaming":
        chat = answers.load(chat.id) or chat  # already over: as its reader stored it
chat_sidebar(answers, chat, chats_box)
chat_exports(chat, st.sidebar)

st.title("💬 Chat Lab")
history = chat.turns[:-1] if live is not None else chat.turns  # the answer in flight streams
hidden = first_drawn(len(history))  # below the prompt box
if hidden:
    st.button(f"Show earlier turns ({hidden:,} not shown)", icon="⬆️", key="show_earlier",
              on_click=show_earlier, args=(hidden,))
for turn in history[hidden:]:
    show_turn(turn)
if not chat.turns and live is None:
    show_first_screen(request, send_example)

if refused:
    st.warning(EMPTY_PROMPT, icon="✏️")

last = st.session_state.get(_LAST_FIT)
advanced.caption("Context sent: " + last[1] if last and last[0] == chat.id
                 else "Nothing sent yet.")

if live is not None:
    show_live(live)
elif chat.turns and answers.answering_elsewhere(chat.turns[-1]):
    follow_elsewhere(len(chat.turns) - 1, chat.turns[-1].content)
else:
    answer_actions()
