"""A stored chat's answer cycle, independent of the UI and of any script run.

The lifecycle of one answer (the fragile spot: read this before changing it):

1. ``ChatAnswers.ask`` writes the prompt and an empty answer turn (status ``streaming``) to
   the chat store, starts a ``StreamPump`` and registers it, under the chat's id, in this
   process's table of live answers. From here the answer belongs to the chat: no script run,
   session or browser tab owns it, so a widget change, a page switch or a reload cannot end
   or lose it. Settings changed meanwhile apply to the next prompt.
2. The pump's reader thread writes the text so far to the stored turn every ``progress_s``
   (a crash keeps what had arrived) and, when the stream ends for any reason, records the
   run, writes the final turn (``ok``, ``stopped`` or ``error``, with its figures line) and
   leaves the live table, in that order, before its readers see the end.
3. Every script run loads the chat (``load``) and re-attaches to a live answer (``live``):
   ``StreamPump.text_batches(stop_on_close=False)`` gives its text so far at once and then
   the rest; a rerun unwinding that reader leaves the pump running. A ``streaming`` turn
   with no live pump was cut off by a server restart or crash: ``load`` stores it as such.
   On a store shared by replicas (PostgreSQL), the answer may instead be live in another
   process: each process touches its live turns' ``updated_at`` every ``HEARTBEAT_S`` (one
   thread per process), so a turn touched within ``STALE_AFTER_S`` is shown as arriving
   elsewhere (the page re-reads it until it ends) and only an untouched one is cut off.
4. Only ``stop`` ends an answer early: the page calls it from its Stop button's callback,
   before the script's next run draws the chat, so the stopped partial shows marked at
   once, with no polling. ``ask`` while an answer is live, regenerate and edit stop it
   first (the partial is kept, marked): one answer per prompt, always, in every tab of a
   chat (a lock per chat makes "stop the live answer, then start the next" one step).

The live answers are a ``LiveTable`` (``chatlib.streaming.live_table``): its lock guards
the table alone and no lock of this module is held while the database is read or written,
except the chat's own lock in ``ask`` and its kin (one chat's steps, no one else's). A read
(``view``) writes nothing, but for the repair of a turn a dead process left ``streaming``.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chatlib.core.text import count_of
from chatlib.core.conversation import (BudgetFit, Chat, ChatTurn, chat_title, fit_to_budget,
                                       to_messages)
from chatlib.core.errors import ProviderError
from chatlib.providers.base import Provider
from chatlib.streaming.live_table import LiveTable
from chatlib.engine.client import new_pump
from chatlib.streaming.pump import LIMIT_REASONS, StreamPump
from chatlib.runs.record import RunRecord
from chatlib.store.chats import ChatStore
from chatlib.core.tokens import TokenCounter
from chatlib.core.types import Settings

__all__ = ["ChatAnswers", "AnswerRequest", "run_summary", "answer_turn", "new_chat_id",
           "CUT_OFF_MESSAGE"]

CUT_OFF_MESSAGE = (
    "The server stopped while this answer was arriving (a restart or a crash): the text "
    "above is what had arrived."
)
HEARTBEAT_S = 5.0  # how often a process touches the turns of its answers in flight
STALE_AFTER_S = 30.0  # a streaming turn untouched this long has no process answering it


@dataclass(frozen=True)
class AnswerRequest:
    """Everything needed to ask for one answer."""

    provider: Provider
    settings: Settings
    counter: TokenCounter
    budget: int
    on_done: Callable[[RunRecord], None] | None = None


def run_summary(record: RunRecord) -> str:
    """One line for under an answer: TTFT (and the first answer token, when the model
    thought first), speed, and where the token counts came from."""
    m = record.metrics()
    parts = []
    if m.ttft_s is not None:
        parts.append(f"TTFT {m.ttft_s * 1000:.0f} ms")
    if m.ttfat_s is not None and m.ttfat_s != m.ttft_s:
        parts.append(f"first answer token {m.ttfat_s * 1000:.0f} ms")
    if m.e2e_s is not None:
        parts.append(f"total {m.e2e_s:.2f} s")
    if not record.chunk_texts and not record.reasoning_offsets_s:
        parts.append("no output")  # failed or stopped before any text: nothing to count
    elif record.output_tokens is not None:
        parts.append(f"{count_of(record.output_tokens, 'token')} ({record.output_source})")
    if record.reasoning_tokens:
        hidden = "hidden, " if record.reasoning_hidden else ""
        parts.append(f"reasoning {hidden}{record.reasoning_tokens} tokens "
                     f"({record.reasoning_source})")
    elif record.reasoning_hidden:
        parts.append("reasoning hidden")
    if m.output_tps is not None:
        parts.append(f"{m.output_tps:.1f} tok/s")
    if record.attempts > 1:
        parts.append(f"{record.attempts} attempts")
    if record.status == "ok" and record.finish_reason in LIMIT_REASONS:
        # Else an answer that ends mid-sentence looks like the model's own ending.
        limit = record.settings.get("max_tokens")
        parts.append(f"✂️ cut at Max output tokens ({limit}): raise it for the whole answer")
    return " · ".join(parts)


def answer_turn(record: RunRecord) -> ChatTurn:
    """The chat turn an ended run is shown as: its text, how it ended (a stopped partial
    is marked so), its error, thinking and figures line. A chat's own answers end so, and so
    does an answer brought in from elsewhere (a compare target continued in Chat)."""
    return ChatTurn("assistant", record.text, status=record.status, error=record.error,
                    run_id=record.id, provider=record.provider, model=record.model,
                    created_at=record.created_at, summary=run_summary(record),
                    reasoning=record.reasoning, reasoning_s=record.metrics().reasoning_s)


def new_chat_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class _Live:
    pump: StreamPump
    seq: int  # the answer's position in the chat


# chat id -> its answer in flight, for every session of this process (see the docstring).
# A chat's own lock (``_LIVE.lock_for``) makes "stop the live answer, then start the next"
# one step for every tab of that chat, without holding up other chats; a reader thread never
# takes it.
_LIVE: LiveTable[str, _Live] = LiveTable()
_HEARTBEATS: set[str] = set()  # the databases (by location) whose heartbeat thread runs
_HEARTBEATS_LOCK = threading.Lock()


def _asking(chat_id: str) -> threading.RLock:
    return _LIVE.lock_for(chat_id)


class ChatAnswers:
    """Asks, stops and re-attaches answers of stored chats (see the module docstring)."""

    def __init__(self, chats: ChatStore, progress_s: float = 0.5) -> None:
        self.chats = chats
        self.progress_s = progress_s

    # -- reading ------------------------------------------------------------------------
    def load(self, chat_id: str) -> Chat | None:
        """The stored chat; an answer left ``streaming`` by a dead process is marked cut off."""
        return self.view(chat_id)[0]

    def view(self, chat_id: str) -> tuple[Chat | None, StreamPump | None]:
        """The stored chat and its live answer: the pump of its last turn when that turn is
        still ``streaming`` (else ``None``). The pump may end any moment after; reading it
        then gives all its text and the end."""
        chat = self.chats.get(chat_id)
        if chat is None:
            return None, None
        live = _LIVE.get(chat_id)
        orphans = [seq for seq, turn in enumerate(chat.turns) if turn.status == "streaming"
                   and (live is None or live.seq != seq)]
        if orphans:
            # Read again, now that the table was looked at: an answer is registered before
            # its turn is stored and leaves only after storing its end, so a turn still
            # streaming in this read and not in the table is no answer of this process.
            chat = self.chats.get(chat_id)
            if chat is None:
                return None, None
            live = _LIVE.get(chat_id)
            for seq, turn in enumerate(chat.turns):
                if turn.status != "streaming" or (live is not None and live.seq == seq):
                    continue
                if self.answering_elsewhere(turn):
                    continue
                turn.status, turn.error = "error", CUT_OFF_MESSAGE  # the repair: a write
                self.chats.update_turn(chat_id, seq, content=turn.content, status="error",
                                       error=CUT_OFF_MESSAGE, reasoning=turn.reasoning)
        if (live is not None and live.seq == len(chat.turns) - 1
                and chat.turns[-1].status == "streaming"):
            return chat, live.pump
        return chat, None

    def answering_elsewhere(self, turn: ChatTurn) -> bool:
        """Whether a ``streaming`` turn this process does not answer is live in another
        replica (a store shared by replicas, and touched within ``STALE_AFTER_S``)."""
        return (turn.status == "streaming" and self.chats.shared
                and turn.updated_at is not None
                and time.time() - turn.updated_at < STALE_AFTER_S)

    def _heartbeat(self) -> None:
        """Touch this process's live turns every ``HEARTBEAT_S`` (a store shared by replicas
        only): the lease that tells other replicas these answers are still arriving."""
        if not self.chats.shared:
            return
        with _HEARTBEATS_LOCK:  # one per database: it touches every user's answers here
            if self.chats.location in _HEARTBEATS:
                return
            _HEARTBEATS.add(self.chats.location)

        def beat() -> None:
            while True:
                time.sleep(HEARTBEAT_S)
                turns = [(chat_id, live.seq) for chat_id, live in _LIVE.items()]
                try:
                    self.chats.touch(turns)
                except Exception:  # the database is away: the next beat tries again
                    pass

        threading.Thread(target=beat, name="chatlab-heartbeat", daemon=True).start()

    def live(self, chat_id: str) -> StreamPump | None:
        """The answer in flight in this chat, if any."""
        live = _LIVE.get(chat_id)
        return live.pump if live is not None else None

    # -- answering ----------------------------------------------------------------------
    def ask(
        self,
        chat: Chat,
        prompt: str,
        request: AnswerRequest | ProviderError,
        settings: dict[str, Any] | None = None,
    ) -> BudgetFit | None:
        """Add ``prompt`` to the chat (storing the chat if it is new) and start its answer;
        a live answer is stopped first. A request that cannot be sent (``ProviderError``:
        no key, a bad setting, the budget) becomes the answer turn's error. Returns what was
        sent (``None`` if nothing was)."""
        with _asking(chat.id):
            self.stop(chat.id)
            if not self.chats.exists(chat.id):
                chat.title = chat_title(prompt)
                self.chats.create(Chat(chat.id, chat.title, [], settings or {}))
            else:
                self._reload_turns(chat)  # a stopped partial, as its reader stored it
                if settings is not None:
                    self.chats.save_settings(chat.id, settings)
            chat.turns.append(ChatTurn("user", prompt))
            self.chats.append_turns(chat.id, [chat.turns[-1]])
            return self._answer(chat, request)

    def answer_last_prompt(
        self, chat: Chat, request: AnswerRequest | ProviderError
    ) -> BudgetFit | None:
        """Answer the chat's last prompt again (after ``drop_last_answer`` or
        ``replace_last_prompt``); nothing is sent when it already has its answer."""
        with _asking(chat.id):
            self.stop(chat.id)
            self._reload_turns(chat)
            if not chat.turns or chat.turns[-1].role != "user":
                return None
            return self._answer(chat, request)

    def drop_last_answer(self, chat: Chat) -> None:
        """For regenerate: stop a live answer, then remove the last answer."""
        with _asking(chat.id):
            self.stop(chat.id)
            self._reload_turns(chat)
            if chat.turns and chat.turns[-1].role == "assistant":
                chat.turns.pop()
                self.chats.truncate(chat.id, len(chat.turns))

    def replace_last_prompt(self, chat: Chat, text: str) -> None:
        """For edit-and-resend: the last prompt and its answer give way to ``text``, which
        then awaits its answer (``answer_last_prompt``)."""
        with _asking(chat.id):
            self.drop_last_answer(chat)
            if chat.turns and chat.turns[-1].role == "user":
                chat.turns.pop()
            chat.turns.append(ChatTurn("user", text))
            self.chats.truncate(chat.id, len(chat.turns) - 1)
            self.chats.append_turns(chat.id, [chat.turns[-1]])

    def stop(self, chat_id: str, wait_s: float = 2.0) -> None:
        """End the chat's live answer now; its partial text is kept, marked stopped. Waits
        up to ``wait_s`` for the reader to store it (a blocked local model may take longer:
        the turn then shows as stopping until it has)."""
        live = _LIVE.get(chat_id)
        if live is None:
            return
        live.pump.stop()
        live.pump.wait(wait_s)

    def _reload_turns(self, chat: Chat) -> None:
        stored = self.chats.get(chat.id)
        if stored is not None:
            chat.turns[:] = stored.turns

    def _answer(self, chat: Chat, request: AnswerRequest | ProviderError) -> BudgetFit | None:
        if isinstance(request, ProviderError):
            self._append_error(chat, request, None, None)
            return None
        try:
            fit = fit_to_budget(to_messages(chat.turns), request.budget, request.counter,
                                request.settings.system_prompt)
        except ProviderError as exc:
            self._append_error(chat, exc, request.provider.id, request.settings.model)
            return None
        turn = ChatTurn("assistant", "", status="streaming", provider=request.provider.id,
                        model=request.settings.model)
        chat.turns.append(turn)
        seq = len(chat.turns) - 1
        chat_id, on_done = chat.id, request.on_done
        pump: StreamPump

        def progress(text: str) -> None:
            self.chats.update_turn(chat_id, seq, content=text, status="streaming",
                                   reasoning=pump.reasoning)

        def done(record: RunRecord) -> None:
            # In the reader thread, whatever happened: the run, then the turn, then leave.
            try:
                if on_done is not None:
                    on_done(record)
            finally:
                ended = answer_turn(record)
                self.chats.update_turn(chat_id, seq, content=ended.content, status=ended.status,
                                       error=ended.error, run_id=ended.run_id,
                                       summary=ended.summary, reasoning=ended.reasoning,
                                       reasoning_s=ended.reasoning_s)
                current = _LIVE.get(chat_id)
                if current is not None and current.pump is pump:
                    _LIVE.remove(chat_id, current)

        pump = new_pump(
            request.provider, fit.messages, request.settings, counter=request.counter,
            input_tokens=fit.tokens, input_source=request.counter.source, on_done=done,
            on_progress=progress, progress_s=self.progress_s,
            record_fields={"page": "chat", "group_id": chat.id},
        )
        turn.run_id = pump.run_id
        # Registered before the turn is stored: ``view`` never takes it for an orphan.
        _LIVE.put(chat.id, _Live(pump, seq))
        stored_at = self.chats.append_turns(chat.id, [turn])
        if stored_at != seq:  # another process wrote to this chat meanwhile (the closures
            seq = stored_at  # above read ``seq`` when they run, so they follow)
            _LIVE.put(chat.id, _Live(pump, seq))
        pump.start()
        self._heartbeat()
        return fit

    def _append_error(
        self, chat: Chat, error: ProviderError, provider: str | None, model: str | None
    ) -> None:
        turn = ChatTurn("assistant", "", status="error", error=error.user_message,
                        provider=provider, model=model, created_at=time.time())
        chat.turns.append(turn)
        self.chats.append_turns(chat.id, [turn])
