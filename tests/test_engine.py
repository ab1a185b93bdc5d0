"""The engine: answers are read and timed in a process of its own, which the app starts, and
whose death ends only the answers it was reading (marked, with what had arrived).

Each test has an engine of its own (``EngineClient``), so killing it touches no other test.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import replace

import pytest

from chatlib.chat.answers import AnswerRequest, ChatAnswers, new_chat_id
from chatlib.core.conversation import Chat
from chatlib.core.tokens import FunctionCounter
from chatlib.core.types import Message, Settings
from chatlib.engine import client as engine_client
from chatlib.engine.client import EngineClient, EnginePump, new_pump
from chatlib.engine.protocol import ENGINE_LOST_MESSAGE
from chatlib.providers.base import recipe_of
from chatlib.providers.local import default_gguf_path, shared_local_provider
from chatlib.providers.model_process import CRASH_MESSAGE
from chatlib.providers.ratelimit import RateLimitedProvider, RateLimiter
from chatlib.providers.scripted import Script, ScriptedProvider
from chatlib.store import ChatStore
from chatlib.streaming.pump import StreamPump
from tests.clocks import HANG_GUARD_S, MODEL_HANG_GUARD_S, wait_for
from testkit.engine_probe import PidProvider
from testkit.processes import workers_of

CHARS = FunctionCounter("chars", len)
HELLO = Script(chunks=("Hello", ", ", "engine", "!"), first_delay_s=0.01, gap_s=0.01)
# Long enough to be killed or stopped mid-answer on a loaded machine: 20 s at 100 chunks/s.
LONG = Script(chunks=tuple(f"w{i} " for i in range(2000)), gap_s=0.01)


@pytest.fixture
def engine():
    client = EngineClient()
    yield client
    client.close()


def ask(client: EngineClient, provider, model: str = "scripted", **kwargs) -> EnginePump:
    recipe = recipe_of(provider)
    assert recipe is not None
    pump = EnginePump(provider, [Message("user", "hi")], Settings(model=model), client=client,
                      recipe=recipe, **kwargs)
    return pump.start()  # type: ignore[return-value]


def test_the_stream_is_read_in_the_engine_process_not_the_app(engine):
    pump = ask(engine, PidProvider(), "pid")
    record = pump.wait(HANG_GUARD_S)
    assert record is not None and record.status == "ok"
    assert int(record.text) == engine.pid != os.getpid()


def test_an_engine_answer_is_recorded_like_one_read_here(engine):
    through_engine = ask(engine, ScriptedProvider(HELLO), counter=None)
    batches = "".join(through_engine.text_batches())
    record = through_engine.wait(HANG_GUARD_S)
    here = StreamPump(ScriptedProvider(HELLO), [Message("user", "hi")],
                      Settings(model="scripted")).start()
    local = here.wait(HANG_GUARD_S)
    assert record is not None and local is not None
    assert batches == record.text == local.text == "Hello, engine!"
    assert record.chunk_texts == local.chunk_texts
    assert (record.status, record.output_tokens, record.output_source) == (
        local.status, local.output_tokens, local.output_source) == ("ok", 4, "usage")
    # Offsets are the engine's: increasing, one per chunk, from its t0.
    assert len(record.chunk_offsets_s) == 4
    assert record.chunk_offsets_s == sorted(record.chunk_offsets_s)
    assert record.chunk_offsets_s[0] > 0


def test_a_stalled_app_does_not_move_the_engines_timestamps(engine):
    """The app side's thread (progress writes, the store) is stalled for 2 s mid-answer. Read
    here, the stall sits inside a recorded gap; read by the engine, no gap holds it. The
    bound is 2 s against 10 ms gaps: only timestamps taken in the stalled process cross it."""
    stall_s = 2.0
    script = Script(chunks=tuple(f"c{i} " for i in range(60)), gap_s=0.01)
    stalled = threading.Event()

    def stall_once(_text: str) -> None:
        if not stalled.is_set():
            stalled.set()
            time.sleep(stall_s)

    kwargs = dict(on_progress=stall_once, progress_s=0.1)
    here = StreamPump(ScriptedProvider(script), [Message("user", "hi")],
                      Settings(model="scripted"), **kwargs).start()
    local = here.wait(HANG_GUARD_S + stall_s)
    stalled.clear()
    remote = ask(engine, ScriptedProvider(script), **kwargs).wait(HANG_GUARD_S + stall_s)
    assert local is not None and remote is not None
    assert stalled.is_set()  # the engine's answer was stalled in the app too

    def longest_gap(offsets: list[float]) -> float:
        return max(b - a for a, b in zip(offsets, offsets[1:]))

    assert longest_gap(local.chunk_offsets_s) >= stall_s
    assert longest_gap(remote.chunk_offsets_s) < stall_s
    assert remote.text == local.text


def test_stop_freezes_the_partial_at_once_and_stops_the_engines_read(engine):
    pump = ask(engine, ScriptedProvider(LONG))
    wait_for(lambda: len(pump.text) > 10, "some text")
    pump.stop()
    at_stop = pump.text
    record = pump.wait(HANG_GUARD_S)
    assert record is not None and record.status == "stopped" and record.error is None
    assert record.text == at_stop and 0 < len(record.chunk_texts) < len(LONG.chunks)
    # The engine ended its read (its "end" came back); the next answer is served.
    nxt = ask(engine, ScriptedProvider(HELLO)).wait(HANG_GUARD_S)
    assert nxt is not None and nxt.status == "ok"


def test_a_stop_before_the_answer_is_sent_sends_nothing(engine):
    pump = EnginePump(ScriptedProvider(LONG), [Message("user", "hi")],
                      Settings(model="scripted"), client=engine,
                      recipe=recipe_of(ScriptedProvider(LONG)))  # type: ignore[arg-type]
    pump.stop()
    pump.start()
    record = pump.wait(HANG_GUARD_S)
    assert record is not None and record.status == "stopped" and record.text == ""
    assert engine.starts == 0


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGSEGV])
def test_the_engine_killed_mid_answer_keeps_the_text_says_so_and_restarts(engine, how):
    first = ask(engine, ScriptedProvider(LONG))
    other = ask(engine, ScriptedProvider(LONG))
    wait_for(lambda: first.arrivals()[2] > 5 and other.text, "both answers streaming")
    os.kill(engine.pid, how)
    record = first.wait(HANG_GUARD_S)
    assert record is not None and record.status == "error"
    assert record.error == ENGINE_LOST_MESSAGE.format(why=f"signal {how.name}")
    # Nothing that had arrived is lost: the record holds every chunk the app was given.
    assert record.text == first.text and len(record.chunk_texts) > 5
    assert other.wait(HANG_GUARD_S).status == "error"  # every answer it read is ended
    nxt = ask(engine, ScriptedProvider(HELLO)).wait(HANG_GUARD_S)
    assert nxt is not None and nxt.status == "ok" and nxt.text == "Hello, engine!"
    assert engine.starts == 2


def test_an_answer_asked_before_the_engine_runs_waits_for_it(engine):
    assert engine.pid is None  # nothing started yet: the first answer starts it
    pumps = [ask(engine, ScriptedProvider(HELLO)) for _ in range(3)]
    records = [p.wait(HANG_GUARD_S) for p in pumps]
    assert [r.status for r in records] == ["ok"] * 3 and engine.starts == 1


def test_the_paid_request_limit_is_counted_in_the_app_before_anything_is_sent(engine):
    limiter = RateLimiter(1)
    limited = RateLimitedProvider(ScriptedProvider(HELLO), limiter)
    assert ask(engine, limited).wait(HANG_GUARD_S).status == "ok"
    refused = ask(engine, limited).wait(HANG_GUARD_S)
    assert refused.status == "error" and refused.error.startswith("Rate limit")
    assert refused.chunk_texts == []


def test_new_pump_reads_in_the_engine_unless_it_cannot(monkeypatch):
    messages, settings = [Message("user", "hi")], Settings(model="scripted")
    assert isinstance(new_pump(ScriptedProvider(HELLO), messages, settings), EnginePump)
    # A test's own sleep or clock can only run here; so can everything with CHATLAB_ENGINE.
    assert type(new_pump(ScriptedProvider(HELLO, sleep=lambda s: None), messages,
                         settings)) is StreamPump
    assert type(new_pump(ScriptedProvider(HELLO), messages, settings,
                         clock=lambda: 0.0)) is StreamPump
    monkeypatch.setenv("CHATLAB_ENGINE", "inline")
    assert type(new_pump(ScriptedProvider(HELLO), messages, settings)) is StreamPump


@pytest.mark.model
def test_the_embedded_models_process_killed_mid_answer_ends_that_answer_only(engine):
    """The model runs under the engine; killing it mid-answer ends that answer (marked, with
    what had arrived), leaves a scripted answer beside it whole, and the next prompt gets a
    new model process."""
    local = shared_local_provider(str(default_gguf_path()))
    long = Settings(model=local.model_name, max_tokens=400, temperature=0.0)
    pump = EnginePump(local, [Message("user", "Tell me a long story.")], long,
                      client=engine, recipe=recipe_of(local),  # type: ignore[arg-type]
                      counter=local.counter).start()
    beside = ask(engine, ScriptedProvider(LONG))
    wait_for(lambda: pump.text, "the model's first text", MODEL_HANG_GUARD_S)
    [worker] = workers_of(engine.pid)
    os.kill(worker, signal.SIGKILL)
    record = pump.wait(MODEL_HANG_GUARD_S)
    assert record is not None and record.status == "error"
    assert record.error == CRASH_MESSAGE.format(how="signal SIGKILL")
    assert record.text and record.text == pump.text  # what had arrived is kept
    assert not beside.done and beside.text  # the other answer streams on
    beside.stop()
    short = replace(long, max_tokens=8)
    nxt = EnginePump(local, [Message("user", "Say hi.")], short, client=engine,
                     recipe=recipe_of(local), counter=local.counter).start()  # type: ignore[arg-type]
    assert nxt.wait(MODEL_HANG_GUARD_S).status == "ok" and nxt.record.text
    assert workers_of(engine.pid) not in ([], [worker])
    assert workers_of(os.getpid()) == []  # this process's copy of the model only counts


def test_the_engine_starts_whatever_the_apps_working_directory(engine, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # `streamlit run /path/to/app.py` from anywhere
    record = ask(engine, PidProvider(), "pid").wait(HANG_GUARD_S)
    assert record is not None and record.status == "ok" and int(record.text) == engine.pid


def test_a_chat_keeps_its_partial_when_the_engine_dies_and_the_next_prompt_is_answered(
        store, monkeypatch):
    """The engine killed mid-answer, as the chat page sees it: the turn keeps every chunk
    that had arrived, says what happened, and the next prompt gets a new engine."""
    client = EngineClient()
    monkeypatch.setattr(engine_client, "_CLIENT", client)
    chats = ChatStore(store)
    answers = ChatAnswers(chats, progress_s=0.0)
    chat = Chat(new_chat_id())

    def request(script: Script) -> AnswerRequest:
        return AnswerRequest(ScriptedProvider(script), Settings(model="scripted"), CHARS,
                             10_000, on_done=store.add)

    try:
        answers.ask(chat, "Tell me a long story.", request(LONG))
        pump = answers.live(chat.id)
        assert isinstance(pump, EnginePump)
        wait_for(lambda: pump.arrivals()[2] > 5, "the answer streaming")
        os.kill(client.pid, signal.SIGKILL)
        assert pump.wait(HANG_GUARD_S) is not None
        turn = chats.get(chat.id).turns[-1]
        assert turn.status == "error"
        assert turn.error == ENGINE_LOST_MESSAGE.format(why="signal SIGKILL")
        assert turn.content and turn.content == pump.text
        assert store.get(pump.run_id).text == turn.content  # the run is stored too
        answers.ask(chat, "And now?", request(HELLO))
        answers.live(chat.id).wait(HANG_GUARD_S)
        last = chats.get(chat.id).turns[-1]
        assert (last.status, last.content) == ("ok", "Hello, engine!")
        assert client.starts == 2
    finally:
        client.close()
