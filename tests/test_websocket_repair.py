"""A BackMsg holding a lone surrogate (as the browser's protobuf.js encodes it) is repaired
into valid UTF-8 before Streamlit parses it; every other message passes untouched."""

from __future__ import annotations

import asyncio
import threading

from streamlit.proto.BackMsg_pb2 import BackMsg

from ui.websocket_repair import RepairLoneSurrogates, repair_back_msg


def prompt_msg(text: str) -> bytes:
    msg = BackMsg()
    state = msg.rerun_script.widget_states.widgets.add()
    state.id = "chat_input"
    state.string_trigger_value.data = text
    return msg.SerializeToString()


def as_the_browser_sends_it(data: bytes, marker: str) -> bytes:
    """protobuf.js writes a lone surrogate U+D800 as the 3 bytes ED A0 80 (not UTF-8); the
    3-character ``marker`` keeps every length prefix right."""
    assert len(marker.encode()) == 3
    return data.replace(marker.encode(), b"\xed\xa0\x80")


def test_a_lone_surrogate_becomes_the_replacement_character():
    broken = as_the_browser_sends_it(prompt_msg("lone XYZ here"), "XYZ")
    try:
        BackMsg().ParseFromString(broken)
        raise AssertionError("Streamlit's parser accepted invalid UTF-8")
    except Exception as exc:  # DecodeError: the message Streamlit would drop
        assert "UTF-8" in str(exc)
    repaired = BackMsg()
    repaired.ParseFromString(repair_back_msg(broken))
    widget = repaired.rerun_script.widget_states.widgets[0]
    assert widget.string_trigger_value.data == "lone \ufffd here"


def test_valid_messages_pass_untouched():
    valid = prompt_msg("emoji 😀 and \u00e9 and \ufffd")
    assert repair_back_msg(valid) is valid
    garbage = b"\xed\xa0\x80\xff\xff"  # broken some other way: left for Streamlit to refuse
    assert repair_back_msg(garbage) == garbage


def run_apart(coroutine) -> None:
    """Run a coroutine to its end in a thread of its own: this test process may already run
    an event loop in the main thread (Playwright's sync API, for the browser tests)."""
    worker = threading.Thread(target=asyncio.run, args=(coroutine,))
    worker.start()
    worker.join(30)
    assert not worker.is_alive()


def test_the_middleware_repairs_websocket_messages_only():
    broken = as_the_browser_sends_it(prompt_msg("a XYZ b"), "XYZ")
    seen: list[dict] = []

    async def inner(scope, receive, send):
        seen.append(await receive())

    async def receive():
        return {"type": "websocket.receive", "bytes": broken}

    middleware = RepairLoneSurrogates(inner)
    run_apart(middleware({"type": "websocket"}, receive, None))
    run_apart(middleware({"type": "http"}, receive, None))
    assert seen[0]["bytes"] == repair_back_msg(broken) != broken
    assert seen[1]["bytes"] == broken  # HTTP bodies are not BackMsgs
