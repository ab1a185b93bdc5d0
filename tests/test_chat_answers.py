"""Stored chats and the lifecycle of one answer (chatlib.chat.answers's docstring): written as it
happens, re-attached by any reader, ended early only by stop, one answer per prompt, and a
chat whose server died mid-answer comes back with the partial, marked cut off."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading

import pytest

from chatlib.chat.answers import CUT_OFF_MESSAGE, AnswerRequest, ChatAnswers, new_chat_id
from chatlib.core.conversation import Chat, ChatTurn, to_messages
from chatlib.core.errors import ConfigError
from chatlib.providers.scripted import Script, ScriptedProvider
from chatlib.store import ChatStore, RunStore
from chatlib.core.tokens import FunctionCounter
from chatlib.core.types import Settings
from tests.clocks import wait_for

CHARS = FunctionCounter("chars", len)
WORDS = tuple(f"w{i} " for i in range(400))


class Gate:
    """A scripted provider's sleep that holds each chunk until the test lets it through:
    the answer advances exactly as far as the test says, however loaded the machine. Once
    its pump is asked to stop, the held chunk goes (the reader then drops it, as it does any
    event after a stop): like a real provider whose stream is aborted."""

    def __init__(self) -> None:
        self._allowed = threading.Semaphore(0)
        self.pump = None

    def sleep(self, _seconds: float) -> None:
        while not self._allowed.acquire(timeout=0.005):
            if self.pump is not None and self.pump.stop_asked:
                return

    def release(self, chunks: int) -> None:
        for _ in range(chunks):
            self._allowed.release()


@pytest.fixture
def runs(store) -> RunStore:
    return store


@pytest.fixture
def answers(runs) -> ChatAnswers:
    return ChatAnswers(ChatStore(runs), progress_s=0.0)  # every chunk is written at once


def request(runs: RunStore, provider, budget: int = 10_000) -> AnswerRequest:
    return AnswerRequest(provider, Settings(model="scripted", system_prompt="Be brief."), CHARS,
                         budget, on_done=runs.add)


def gated(runs: RunStore) -> tuple[Gate, AnswerRequest]:
    gate = Gate()
    provider = ScriptedProvider(Script(chunks=WORDS), sleep=gate.sleep)
    return gate, request(runs, provider)


def ask_gated(answers: ChatAnswers, runs: RunStore, chat: Chat, prompt: str, **kw) -> Gate:
    gate, req = gated(runs)
    answers.ask(chat, prompt, req, **kw)
    gate.pump = answers.live(chat.id)
    return gate


def instant(runs: RunStore, text: str = "done") -> AnswerRequest:
    return request(runs, ScriptedProvider(Script(chunks=(text,))))


def stored(answers: ChatAnswers, chat: Chat) -> list[tuple[str, str, str]]:
    loaded = answers.chats.get(chat.id)
    assert loaded is not None
    return [(t.role, t.status, t.content) for t in loaded.turns]


# -- the chat store ---------------------------------------------------------------------------
def test_chats_are_stored_listed_newest_first_searched_renamed_and_deleted(runs):
    chats = ChatStore(runs)
    old = Chat("a", "Rivers of Europe", [ChatTurn("user", "Tell me about the Danube"),
                                         ChatTurn("assistant", "It flows east.")],
               settings={"provider": "scripted", "temperature": 0.2}, updated_at=1.0)
    chats.create(old)
    chats.create(Chat("b", "Cats", [ChatTurn("user", "100% whiskers")], updated_at=2.0))
    chats.create(Chat("c", "axb", [], updated_at=0.5))
    assert [s.id for s in chats.summaries()] == ["b", "a", "c"]
    assert [s.id for s in chats.summaries("danube")] == ["a"]  # a turn's text, any case
    assert [s.id for s in chats.summaries("RIVERS")] == ["a"]  # the title
    assert [s.id for s in chats.summaries("%")] == ["b"]  # % and _ are plain characters
    assert chats.summaries("a_b") == []
    assert chats.exists("a") and not chats.exists("nope")
    got = chats.get("a")
    assert got is not None and got.settings == {"provider": "scripted", "temperature": 0.2}
    assert [(t.role, t.content) for t in got.turns] == [
        ("user", "Tell me about the Danube"), ("assistant", "It flows east.")]
    assert chats.append_turns("a", [ChatTurn("user", "And the Rhine?")]) == 2
    chats.update_turn("a", 2, content="And the Rhine?!", status="ok")
    chats.truncate("a", 2)
    assert len(chats.get("a").turns) == 2
    assert chats.summaries()[0].id == "a"  # appending made it the newest
    chats.rename("a", "Danube")
    assert chats.get("a").title == "Danube"
    chats.delete("a")
    assert chats.get("a") is None and not chats.exists("a")
    assert [s.id for s in chats.summaries()] == ["b", "c"]


# -- one answer's lifecycle -------------------------------------------------------------------
def test_an_answer_is_written_as_it_arrives_and_recorded_when_it_ends(runs, answers):
    chat = Chat(new_chat_id())
    gate = ask_gated(answers, runs, chat, "Count for me",
                     settings={"provider": "scripted", "model": "scripted"})
    stored_chat = answers.chats.get(chat.id)
    assert stored_chat.title == "Count for me" and stored_chat.settings["provider"] == "scripted"
    assert stored(answers, chat) == [("user", "ok", "Count for me"), ("assistant", "streaming", "")]
    gate.release(3)
    wait_for(lambda: stored(answers, chat)[1][2] == "w0 w1 w2 ", "the partial is stored")
    assert stored(answers, chat)[1][1] == "streaming"
    pump = answers.live(chat.id)
    gate.release(len(WORDS))
    record = pump.wait(30)
    assert record.status == "ok" and answers.live(chat.id) is None
    turn = answers.chats.get(chat.id).turns[1]
    assert (turn.status, turn.content, turn.run_id) == ("ok", "".join(WORDS), record.id)
    assert turn.summary and "400 tokens (usage)" in turn.summary
    assert runs.get(record.id).group_id == chat.id


def test_readers_come_and_go_but_only_stop_ends_the_answer(runs, answers):
    """A rerun unwinds the page's reader; a reload or a second tab reads again from the
    start. None of them stops the answer; stop does, keeping the partial."""
    chat = Chat(new_chat_id())
    gate = ask_gated(answers, runs, chat, "hi")
    gate.release(5)
    pump = answers.live(chat.id)
    first = pump.text_batches(stop_on_close=False)
    assert next(b for b in first if b).startswith("w0 ")
    first.close()  # the script run that drew it was interrupted
    gate.release(5)
    wait_for(lambda: len(pump.text) == len("".join(WORDS[:10])), "ten chunks arrived")
    assert not pump.done
    again = pump.text_batches(stop_on_close=False)
    assert next(again) == "".join(WORDS[:10])  # all text so far at once, from the start
    reloaded, live = answers.view(chat.id)
    assert live is pump and reloaded.turns[-1].status == "streaming"

    answers.stop(chat.id)
    assert answers.live(chat.id) is None
    assert stored(answers, chat)[1] == ("assistant", "stopped", "".join(WORDS[:10]))
    assert "".join(again) == ""  # that reader ends too, with nothing after the stop
    assert list(runs.runs().status) == ["stopped"]


class SlowReads(ChatStore):
    """A chat store whose reads of one chat wait until the test lets them through (a
    database that is slow, or far away, for that chat), and that counts every write."""

    def __init__(self, runs: RunStore, slow_chat: str) -> None:
        super().__init__(runs)
        self.slow_chat, self.reading, self.go = slow_chat, threading.Event(), threading.Event()
        self.writes = 0

    def get(self, chat_id: str):
        if chat_id == self.slow_chat:
            self.reading.set()
            self.go.wait(60)
        return super().get(chat_id)

    def update_turn(self, *args, **kwargs) -> None:
        self.writes += 1
        super().update_turn(*args, **kwargs)


def test_a_slow_read_of_one_chat_holds_up_no_other_chat_and_a_read_writes_nothing(runs):
    chats = SlowReads(runs, slow_chat="slow")
    answers = ChatAnswers(chats, progress_s=3600.0)  # no progress writes: count reads' writes
    other = Chat(new_chat_id())
    gate = ask_gated(answers, runs, other, "hi")
    gate.release(3)
    chats.create(Chat("slow", "Slow", [ChatTurn("user", "q")]))
    reader = threading.Thread(target=answers.view, args=("slow",), daemon=True)
    reader.start()
    assert chats.reading.wait(60)
    # While the slow chat's read is in the database, every other chat is served at once.
    done: list[object] = []
    other_tab = threading.Thread(target=lambda: done.append(answers.view(other.id)),
                                 daemon=True)
    other_tab.start()
    other_tab.join(30)  # a hang guard: the bug makes this wait on the slow read
    assert done, "another chat's read waited on the slow chat's"
    chat, live = done[0]
    assert live is gate.pump and chat.turns[-1].status == "streaming"
    assert chats.writes == 0  # reading a chat with its answer in flight wrote nothing
    chats.go.set()
    reader.join(30)
    answers.stop(other.id)


def test_a_prompt_while_an_answer_streams_stops_it_first_one_answer_per_prompt(runs, answers):
    chat = Chat(new_chat_id())
    gate = ask_gated(answers, runs, chat, "first")
    gate.release(2)
    wait_for(lambda: stored(answers, chat)[1][2] == "w0 w1 ", "two chunks stored")
    answers.ask(chat, "second", instant(runs, "second answer"))
    wait_for(lambda: answers.live(chat.id) is None, "the second answer ended")
    assert stored(answers, chat) == [
        ("user", "ok", "first"), ("assistant", "stopped", "w0 w1 "),
        ("user", "ok", "second"), ("assistant", "ok", "second answer")]
    assert sorted(runs.runs().status) == ["ok", "stopped"]


def test_regenerate_and_edit_mid_answer_stop_it_first(runs, answers):
    chat = Chat(new_chat_id())
    gate = ask_gated(answers, runs, chat, "original")
    gate.release(1)
    wait_for(lambda: stored(answers, chat)[1][2] == "w0 ", "a chunk stored")
    answers.drop_last_answer(chat)  # Regenerate
    answers.answer_last_prompt(chat, instant(runs, "regenerated"))
    wait_for(lambda: answers.live(chat.id) is None, "the new answer ended")
    assert stored(answers, chat) == [("user", "ok", "original"), ("assistant", "ok", "regenerated")]

    gate2, req2 = gated(runs)
    answers.drop_last_answer(chat)  # Regenerate again, a long answer this time: Edit mid-way
    answers.answer_last_prompt(chat, req2)
    gate2.pump = answers.live(chat.id)
    gate2.release(1)
    wait_for(lambda: stored(answers, chat)[-1][2] == "w0 ", "a chunk stored")
    answers.replace_last_prompt(chat, "edited")
    answers.answer_last_prompt(chat, instant(runs, "to the edit"))
    wait_for(lambda: answers.live(chat.id) is None, "the edited prompt's answer ended")
    assert stored(answers, chat) == [("user", "ok", "edited"), ("assistant", "ok", "to the edit")]
    # Asked to answer a prompt that has its answer (a stale page), nothing is sent.
    assert answers.answer_last_prompt(chat, instant(runs, "twice?")) is None
    assert len(stored(answers, chat)) == 2
    assert sorted(runs.runs().status) == ["ok", "ok", "stopped", "stopped"]


def test_a_request_that_cannot_be_sent_is_the_answers_error(runs, answers):
    chat = Chat(new_chat_id())
    answers.ask(chat, "hi", ConfigError("No OpenAI API key."))
    assert stored(answers, chat) == [("user", "ok", "hi"), ("assistant", "error", "")]
    answers.ask(chat, "word " * 50, instant(runs), None)
    answers.ask(chat, "word " * 50, request(runs, ScriptedProvider(Script(chunks=("x",))), 20))
    last = answers.chats.get(chat.id).turns[-1]
    assert last.status == "error" and "token budget is 20" in last.error
    assert answers.live(chat.id) is None


def test_a_prompt_that_got_no_answer_is_not_sent_again_as_context(runs, answers,
                                                                   monkeypatch):
    """Issue 25: a failed prompt went on as context, two user turns in a row. The failed
    exchange (prompt and its empty answer) is left out of what is sent; the chat shows it."""
    monkeypatch.setenv("CHATLAB_ENGINE", "inline")  # the provider's calls are read here
    chat = Chat(new_chat_id())
    answers.ask(chat, "hello", instant(runs, "Hi."))
    wait_for(lambda: answers.live(chat.id) is None, "the first answer ends")
    failing = ScriptedProvider(Script(chunks=("never",), fault_at=0))
    answers.ask(chat, "fails", request(runs, failing))
    wait_for(lambda: answers.live(chat.id) is None, "the failed answer ends")
    answers.ask(chat, "no key", ConfigError("No OpenAI API key."))  # never sent at all
    provider = ScriptedProvider(Script(chunks=("done",)))
    answers.ask(chat, "and now?", request(runs, provider))
    wait_for(lambda: answers.live(chat.id) is None, "the last answer ends")
    sent = [(m.role, m.content) for m in provider.calls[-1][0]]
    assert sent == [("system", "Be brief."), ("user", "hello"), ("assistant", "Hi."),
                    ("user", "and now?")]
    assert all(not (a == b == "user") for (a, _), (b, _) in zip(sent, sent[1:]))
    assert stored(answers, chat) == [
        ("user", "ok", "hello"), ("assistant", "ok", "Hi."),
        ("user", "ok", "fails"), ("assistant", "error", ""),
        ("user", "ok", "no key"), ("assistant", "error", ""),
        ("user", "ok", "and now?"), ("assistant", "ok", "done")]


def test_a_partial_answer_is_sent_as_shown_and_the_last_prompt_always_is():
    turns = [ChatTurn("user", "a"), ChatTurn("assistant", "half", status="stopped"),
             ChatTurn("user", "b"), ChatTurn("assistant", "", status="error"),
             ChatTurn("user", "c"), ChatTurn("assistant", "part", status="error"),
             ChatTurn("user", "d")]
    assert [(m.role, m.content) for m in to_messages(turns)] == [
        ("user", "a"), ("assistant", "half"), ("user", "c"), ("assistant", "part"),
        ("user", "d")]


def test_an_answer_left_streaming_by_a_dead_server_is_marked_cut_off(runs, answers):
    answers.chats.create(Chat("dead", "x", [ChatTurn("user", "hi"),
                                            ChatTurn("assistant", "half of it", "streaming")]))
    chat, live = answers.view("dead")
    assert live is None
    assert (chat.turns[1].status, chat.turns[1].error) == ("error", CUT_OFF_MESSAGE)
    assert stored(answers, chat)[1] == ("assistant", "error", "half of it")


def test_sigkill_mid_answer_keeps_what_had_arrived(tmp_path, runs):
    """A real process streams an answer into the store and is killed with SIGKILL mid-way:
    the next process finds the chat with the partial text, marked cut off."""
    db = tmp_path / "kill.sqlite3"
    child = textwrap.dedent(f"""
        import sys, time
        from chatlib.chat.answers import AnswerRequest, ChatAnswers
        from chatlib.core.conversation import Chat
        from chatlib.providers.scripted import Script, ScriptedProvider
        from chatlib.store import ChatStore, RunStore
        from chatlib.core.tokens import FunctionCounter
        from chatlib.core.types import Settings
        store = RunStore({str(db)!r})
        answers = ChatAnswers(ChatStore(store), progress_s=0.0)
        provider = ScriptedProvider(Script(chunks=tuple(f"w{{i}} " for i in range(10_000)),
                                           gap_s=0.01))
        answers.ask(Chat("killed"), "a long one", AnswerRequest(
            provider, Settings(model="scripted"), FunctionCounter("c", len), 10_000))
        print("streaming", flush=True)
        time.sleep(600)
    """)
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE,
                            cwd=os.path.dirname(os.path.dirname(__file__)))
    try:
        assert proc.stdout.readline().strip() == b"streaming"
        chats = ChatStore(RunStore(db))
        wait_for(lambda: len(chats.get("killed").turns[1].content) > 20, "some text stored")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
        proc.stdout.close()
    chat, live = ChatAnswers(chats).view("killed")
    turn = chat.turns[1]
    assert live is None and turn.status == "error" and turn.error == CUT_OFF_MESSAGE
    assert turn.content.startswith("w0 w1 ") and len(turn.content) > 20


# -- replicas: an answer in flight in another process --------------------------------------
def test_on_a_shared_store_an_answer_touched_lately_is_arriving_elsewhere_not_cut_off(
        any_store):
    """PostgreSQL is shared by replicas: a ``streaming`` turn another process keeps touching
    is shown as arriving; one left untouched past ``STALE_AFTER_S`` is cut off. SQLite is one
    machine's file: a streaming turn with no live pump here was cut off by a crash."""
    import time

    from chatlib.chat.answers import STALE_AFTER_S

    chats = ChatStore(any_store)
    answers = ChatAnswers(chats)
    chats.create(Chat("c1", "t", [ChatTurn("user", "q"),
                                  ChatTurn("assistant", "so far", status="streaming")]))
    chats.touch([("c1", 1)], at=time.time() - STALE_AFTER_S / 2)  # the other's heartbeat
    chat, live = answers.view("c1")
    assert live is None
    if chats.shared:
        assert chat.turns[1].status == "streaming" and answers.answering_elsewhere(chat.turns[1])
        # The other replica died: its last heartbeat grows old.
        chats.touch([("c1", 1)], at=time.time() - STALE_AFTER_S * 1.5)
        chat, _ = answers.view("c1")
    assert (chat.turns[1].status, chat.turns[1].error) == ("error", CUT_OFF_MESSAGE)
    assert chats.get("c1").turns[1].content == "so far"  # the partial stays


def test_a_process_touches_the_turns_of_its_answers_in_flight(any_store, monkeypatch):
    import chatlib.chat.answers as chat_module

    monkeypatch.setattr(chat_module, "HEARTBEAT_S", 0.05)
    chats = ChatStore(any_store)
    answers = ChatAnswers(chats, progress_s=3600)  # no progress writes: only the heartbeat
    gate = Gate()
    provider = ScriptedProvider(Script(chunks=WORDS[:3], gap_s=0.01), sleep=gate.sleep)
    chat = Chat(new_chat_id())
    answers.ask(chat, "hi", request(any_store, provider))
    gate.pump = answers.live(chat.id)
    try:
        first = chats.get(chat.id).turns[1].updated_at
        if chats.shared:
            wait_for(lambda: chats.get(chat.id).turns[1].updated_at > first, "a heartbeat")
        else:  # no other process can be answering: no heartbeat thread at all
            assert chats.location not in chat_module._HEARTBEATS
    finally:
        answers.stop(chat.id)
