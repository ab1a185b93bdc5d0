"""Chat page: history, a prompt box whose send button becomes Stop, the answer streamed."""

import streamlit as st

from chatlib.chat import AnswerRequest, ChatSession
from chatlib.conversation import ChatTurn, export_json, export_markdown
from chatlib.errors import ProviderError
from ui.sidebar import EMPTY_PROMPT, settings_sidebar
from ui.streaming import stream_answer

if "chat" not in st.session_state:
    st.session_state.chat = ChatSession()
session: ChatSession = st.session_state.chat
request = settings_sidebar()

def show_turn(turn: ChatTurn) -> None:
    with st.chat_message(turn.role):
        if turn.content:
            st.markdown(turn.content)
        show_footer(turn)


def show_footer(turn: ChatTurn) -> None:
    """Under an answer: stop marker, error, and its run's numbers."""
    if turn.status == "stopped":
        st.caption("⏹ Stopped: partial answer kept.")
    if turn.error:
        st.error(turn.error, icon="⚠️")
    if turn.run_id and turn.run_id in session.summaries:
        st.caption(f"{turn.provider} · {turn.model} · {session.summaries[turn.run_id]}")


@st.fragment(run_every=0.5)
def redraw_after_answer() -> None:
    """A Stop ends the script where it was, so the partial answer would stay unmarked until
    the next click. While an answer is on screen this polls; once the answer is in the
    history it reruns the page once to draw it from there. It reruns after a finished
    answer too: left on the page, its ticks would keep the chat box in its Stop state."""
    if session.active is None and session.turns and session.turns[-1].role == "assistant":
        st.rerun(scope="app")


def answer(request: AnswerRequest | ProviderError) -> None:
    """Stream one answer into the chat; whatever happens, it ends up in the history."""
    if isinstance(request, ProviderError):
        session.add_error(request, st.session_state.get("provider", "?"), "")
        show_turn(session.turns[-1])
        return
    try:
        pump = session.start_answer(request)
    except ProviderError as exc:
        session.add_error(exc, request.provider.id, request.settings.model)
        show_turn(session.turns[-1])
        return
    with st.chat_message("assistant"):
        redraw_after_answer()
        try:
            stream_answer(pump)
        finally:
            # Runs on Stop too (StopException unwinds through here); touches only `session`.
            turn = session.finish_answer(pump)
        if turn is not None:
            show_footer(turn)


def start_edit() -> None:
    st.session_state.editing = True


def answer_actions() -> None:
    """Regenerate or edit-and-resend, under the last answer."""
    if st.session_state.get("editing"):
        last_prompt = next((t.content for t in reversed(session.turns) if t.role == "user"), "")
        with st.form("edit_prompt"):
            edited = st.text_area("Edit your last prompt", last_prompt, key="edit_text")
            send, cancel = st.columns(2)
            resend = send.form_submit_button("Send edited prompt", type="primary")
            cancelled = cancel.form_submit_button("Cancel")
        if resend or cancelled:
            st.session_state.editing = False
        if resend and edited.strip():
            session.replace_last_prompt(edited)
            st.rerun()  # the edited prompt shows in the history and is answered
        elif cancelled:
            st.rerun()
    elif session.turns and session.turns[-1].role == "assistant":
        left, right, _ = st.columns([1, 1, 4])
        if left.button("Regenerate", icon="🔄"):
            session.drop_last_answer()
            st.rerun()  # the prompt, now unanswered, is answered again
        right.button("Edit prompt", icon="✏️", on_click=start_edit)


st.title("💬 Chat Lab")
for turn in session.turns:
    show_turn(turn)

prompt = st.chat_input("Ask anything", submit_mode="stop")
if prompt is not None and not prompt.strip():
    st.warning(EMPTY_PROMPT, icon="✏️")  # refused: never an empty bubble with an answer
elif prompt:
    session.add_user(prompt)
    show_turn(session.turns[-1])
    answer(request)
elif session.turns and session.turns[-1].role == "user" and session.active is None:
    answer(request)  # after an edit or a regenerate, the last prompt awaits its answer
answer_actions()

with st.sidebar:
    # Drawn last so it describes the answer just given (after a Stop, the next run draws it).
    fit = session.last_fit
    st.caption("Context sent: " + fit.summary() if fit else "Nothing sent yet.")
    if st.button("New chat", icon="🆕", use_container_width=True):
        session.clear()
        st.rerun()
    stamp = session.id[:8]
    st.download_button("Export Markdown", export_markdown(session.turns),
                       f"chat-{stamp}.md", "text/markdown", on_click="ignore")
    st.download_button("Export JSON", export_json(session.turns, chat_id=session.id),
                       f"chat-{stamp}.json", "application/json", on_click="ignore")
