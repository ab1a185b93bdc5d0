"""Sessions without browsers chat with the app at once (the fast variant of
``bench/bench_ws_load.py``): light websocket clients (``testkit.ws_session``) each choose the
scripted provider and model, then send their prompts; every answer streams to its own
websocket, whole, nothing fails or sticks, and every run is stored complete.

Bounded: 5 sessions x 2 prompts against 127.0.0.1, in one driver process; every wait of the
driver has a timeout (bench_ws_load: ANSWER_TIMEOUT_S, STUCK_TIMEOUT_S, SETUP_TIMEOUT_S).
"""

from __future__ import annotations

from bench.bench_ws_load import run_level

SESSIONS, TURNS = 5, 2
# A streamed answer arrives in many growing updates (one about every 0.1 s over ~2 s); an
# answer sent whole, at its end, arrives in one or two.
MIN_FRAMES = 5


def test_five_ws_sessions_chatting_at_once_all_get_streamed_complete_answers(tmp_path):
    level = run_level(SESSIONS, TURNS, tmp_path / "app", label="t", cross_check=True)

    # No exception or error shown, no websocket closed early, every run stored once and
    # whole (ok, the full response, all chunks), no traceback in the server log, no
    # session's prompt or answer on another's websocket (cross_check).
    assert level.errors == []
    assert level.stuck == 0
    assert len(level.answers) == SESSIONS * TURNS
    assert all(a.complete and a.first is not None and a.end is not None
               for a in level.answers), level.answers
    assert sorted((a.session, a.turn) for a in level.answers) == [
        (s, t) for s in range(SESSIONS) for t in range(TURNS)]
    assert len(level.overhead_ms) == SESSIONS * TURNS  # each matched to its stored run

    # One Streamlit session and one stored chat per websocket.
    assert len(set(level.session_ids)) == SESSIONS
    assert len(set(level.chat_ids)) == SESSIONS and all(c.startswith("chat=")
                                                        for c in level.chat_ids)

    # Streamed, not sent whole at the end: many updates, and the first text reaches the
    # client while the provider is still sending (causal order on this machine's clock, not a
    # duration: a first token held back to the end fails it however loaded the machine).
    assert min(a.frames for a in level.answers) >= MIN_FRAMES, [a.frames for a in level.answers]
    assert level.first_before_last_byte >= len(level.answers) / 2, level.first_before_last_byte
