"""The embedded model run supervised, in a process of its own (``model_worker``), so that a
native crash in llama.cpp ends that process and one answer, never the app's sessions.

``ModelProcess`` starts the worker, talks to it over pipes (JSON lines), and starts it again
for the next request once it has died. ``ProcessLlama`` puts it behind the part of
``llama_cpp.Llama`` that ``LocalProvider`` uses (``create_chat_completion``, ``tokenize``,
``reset``), so the one streaming path serves it unchanged: the pump's reader thread reads
the pipe and timestamps each chunk where its bytes arrive. Token counts come from a
vocabulary-only copy of the model in this process (no inference runs here).

Who closes what: closing the chunk generator (the pump does, on Stop or at the end) sends
the worker a stop and reads up to that answer's end, so the next request starts clean.
``close()`` ends the worker.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from chatlib.core.errors import ConfigError, ProviderError, StreamError
from chatlib.core.exits import exit_words

__all__ = ["ModelProcess", "ProcessLlama", "CRASH_MESSAGE"]

CRASH_MESSAGE = ("The embedded model's process ended ({how}) while answering: the text above "
                 "is what had arrived. It starts again for the next prompt.")


class ModelProcess:
    """One worker for one model file (see the module docstring); one request at a time."""

    def __init__(self, path: str | Path, n_ctx: int, n_threads: int | None = None,
                 log_path: Path | None = None) -> None:
        self.path = str(path)
        self.n_ctx, self.n_threads = n_ctx, n_threads
        self.log_path = log_path
        self.starts = 0  # how many workers were started: 1 + the restarts after a crash
        self._proc: subprocess.Popen[str] | None = None
        self._next_id = 0
        self._lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def ensure_started(self) -> None:
        """A live worker with the model loaded; ``ConfigError`` if the model cannot load."""
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                return
            self._release()  # a worker that died: its pipes
            log: IO[str] | int = subprocess.DEVNULL
            if self.log_path is not None:
                log = self.log_path.open("a", encoding="utf-8")
            proc = subprocess.Popen(
                [sys.executable, "-m", "chatlib.providers.model_worker", self.path,
                 str(self.n_ctx), str(self.n_threads or 0)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True,
                # No PR_SET_PDEATHSIG: it fires when the starting *thread* ends (a pump's
                # reader). The worker ends when its stdin closes, as it does with this process.
                encoding="utf-8", bufsize=1,
                cwd=Path(__file__).resolve().parent.parent.parent,
            )
            if not isinstance(log, int):
                log.close()
            assert proc.stdout is not None
            ready = _read(proc) or {"ready": False, "error": f"it ended ({_ended(proc)})"}
            if not ready.get("ready"):
                proc.kill()
                proc.wait()
                _close_pipes(proc)
                raise ConfigError(str(ready.get("error") or "the model did not load"))
            self._proc = proc
            self.starts += 1

    def chat(self, messages: list[dict[str, str]], params: dict[str, Any],
             fresh: bool) -> Iterator[dict[str, Any]]:
        """The worker's messages for one answer: ``{"text": ...}`` per chunk, then
        ``{"finish": ...}`` or ``{"error": ..., "kind": ...}``. ``StreamError`` if the worker
        dies meanwhile. A worker found dead before it said anything of this answer (it was
        still going down from a crash between answers) is started again, once."""
        self._next_id += 1
        rid = self._next_id
        ended = False
        proc, first = self._send_chat({"op": "chat", "id": rid, "messages": messages,
                                       "params": params, "fresh": fresh})
        try:
            message = first
            while True:
                if message is None:
                    raise StreamError(CRASH_MESSAGE.format(how=_ended(proc)))
                if message.get("id") == rid:  # else: the end of an earlier stopped answer
                    ended = "finish" in message or "error" in message
                    yield message
                    if ended:
                        return
                message = _read(proc)
        finally:
            if not ended and proc.poll() is None:
                self._write(proc, {"op": "stop", "id": rid})
                self._drain(proc, rid)

    def _send_chat(self, request: dict[str, Any]
                   ) -> tuple[subprocess.Popen[str], dict[str, Any] | None]:
        """Send the request; the worker and its first message (``None``: it died)."""
        proc, first = self._attempt(request)
        if first is None:  # reaped, so ``ensure_started`` sees it dead and starts another
            _ended(proc)
            proc, first = self._attempt(request)
        return proc, first

    def _attempt(self, request: dict[str, Any]
                 ) -> tuple[subprocess.Popen[str], dict[str, Any] | None]:
        self.ensure_started()
        proc = self._proc
        assert proc is not None
        self._write(proc, request)
        return proc, _read(proc)

    def close(self) -> None:
        with self._lock:
            self._release()

    def _release(self) -> None:
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
                self._proc.wait()
            _close_pipes(self._proc)
        self._proc = None

    @staticmethod
    def _write(proc: subprocess.Popen[str], message: dict[str, Any]) -> None:
        assert proc.stdin is not None
        try:
            proc.stdin.write(json.dumps(message) + "\n")
            proc.stdin.flush()
        except OSError:  # the worker is gone: reading says so
            pass

    @staticmethod
    def _drain(proc: subprocess.Popen[str], rid: int) -> None:
        """Read up to the end of a stopped answer (the worker ends it at its next chunk)."""
        while (message := _read(proc)) is not None:
            if message.get("id") == rid and ("finish" in message or "error" in message):
                return


def _close_pipes(proc: subprocess.Popen[str]) -> None:
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            try:
                pipe.close()
            except OSError:  # a write buffered for a worker that died
                pass


def _read(proc: subprocess.Popen[str]) -> dict[str, Any] | None:
    """The worker's next message; ``None`` once its stdout has closed (it ended)."""
    assert proc.stdout is not None
    while line := proc.stdout.readline():
        try:
            message = json.loads(line)
        except ValueError:
            continue  # not ours: a native library wrote to stdout
        if isinstance(message, dict):
            return message
    return None


def _ended(proc: subprocess.Popen[str]) -> str:
    return exit_words(proc.wait())


class ProcessLlama:
    """What ``LocalProvider`` uses of a ``Llama``, served by a supervised ``ModelProcess``."""

    def __init__(self, path: str | Path, vocab: Any, n_ctx: int, n_threads: int | None = None,
                 log_path: Path | None = None) -> None:
        """``vocab``: the model loaded ``vocab_only`` in this process, for ``tokenize``."""
        self._vocab = vocab
        self.process = ModelProcess(path, n_ctx, n_threads or os.cpu_count(), log_path)
        self._fresh = False

    def start(self) -> None:
        """Start the model's process now (else the first answer starts it): where answers
        are read, so the weights load before a request is timed, not inside its TTFT."""
        self.process.ensure_started()

    def tokenize(self, text: bytes, add_bos: bool = True, special: bool = False) -> list[int]:
        tokens: list[int] = self._vocab.tokenize(text, add_bos=add_bos, special=special)
        return tokens

    def reset(self) -> None:
        self._fresh = True  # the next answer starts from an empty context

    def create_chat_completion(self, *, messages: list[dict[str, str]], stream: bool,
                               **params: Any) -> Iterator[dict[str, Any]]:
        assert stream, "the embedded model is only ever streamed"
        fresh, self._fresh = self._fresh, False
        return self._chunks(messages, params, fresh)

    def _chunks(self, messages: list[dict[str, str]], params: dict[str, Any],
                fresh: bool) -> Iterator[dict[str, Any]]:
        for message in self.process.chat(messages, params, fresh):
            if "text" in message:
                yield {"choices": [{"delta": {"content": message["text"]},
                                    "finish_reason": None}]}
            elif "finish" in message:
                yield {"choices": [{"delta": {}, "finish_reason": message["finish"]}]}
            elif message.get("kind") == "ValueError":  # e.g. longer than the context window
                raise ProviderError(f"The local model refused the request: {message['error']}")
            else:
                raise ProviderError(f"The local model failed: {message['error']}")

    def close(self) -> None:
        self.process.close()
