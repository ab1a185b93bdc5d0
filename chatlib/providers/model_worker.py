"""The embedded model's own process: ``python -m chatlib.providers.model_worker GGUF N_CTX
N_THREADS``, started and watched by ``chatlib.providers.model_process``.

llama.cpp is native code: a fault in it (a miscompiled kernel, a bad model file) ends the
process it runs in. Here that is this worker alone, never the app's server with every session
in it. The protocol is JSON lines: requests on stdin, answers on stdout (stderr is a log)::

    <- {"ready": true} | {"ready": false, "error": "..."}        once, after loading
    (stdin closed: the answer in flight stops and the worker exits, as when the app's
    process ends)
    -> {"op": "chat", "id": N, "messages": [...], "params": {...}, "fresh": bool}
    <- {"id": N, "text": "..."}  per chunk, then {"id": N, "finish": "stop" | "length" | ...}
       or {"id": N, "error": "...", "kind": "ValueError" | ...}
    -> {"op": "stop", "id": N}   ends answer N at its next chunk (its "finish" still comes)

Requests are served one at a time; a stop is read by a thread of its own, so it arrives
while an answer is being generated.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from typing import Any

__all__ = ["main", "NICE_ENV", "DEFAULT_NICE"]

NICE_ENV = "CHATLAB_MODEL_NICE"  # how much lower the model's priority is (0: the same)
DEFAULT_NICE = 10


_ALL = -1  # in ``stopped``: every answer (stdin closed)


def _send(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def main(argv: list[str]) -> int:
    from chatlib.core.errors import ProviderError
    from chatlib.providers.local import load_llama

    path, n_ctx, n_threads = argv[0], int(argv[1]), int(argv[2]) or None
    # A lower priority (and, from ``supervised_threads``, a core left free): when the engine
    # or the app's sessions need a core, the kernel gives it to them first, so the model
    # cannot starve the process that timestamps every answer.
    os.nice(int(os.environ.get(NICE_ENV, DEFAULT_NICE)))
    try:
        llm = load_llama(path, n_ctx=n_ctx, n_threads=n_threads)
    except ProviderError as exc:
        _send({"ready": False, "error": exc.user_message})
        return 1
    _send({"ready": True})

    requests: list[dict[str, Any]] = []
    arrived = threading.Condition()
    stopped: set[int] = set()

    def read() -> None:  # stdin: a stop must get through while an answer is generated
        for line in sys.stdin:
            message = json.loads(line)
            with arrived:
                if message.get("op") == "stop":
                    stopped.add(int(message["id"]))
                else:
                    requests.append(message)
                arrived.notify()
        with arrived:  # the app's process ended (or closed us): stop, then exit
            stopped.add(_ALL)
            requests.append({"op": "exit"})
            arrived.notify()

    threading.Thread(target=read, daemon=True).start()
    while True:
        with arrived:
            arrived.wait_for(lambda: bool(requests))
            request = requests.pop(0)
        if request.get("op") != "chat":
            return 0
        _answer(llm, request, stopped, arrived)


def _answer(llm: Any, request: dict[str, Any], stopped: set[int],
            lock: threading.Condition) -> None:
    rid = int(request["id"])
    if request.get("fresh"):
        llm.reset()  # no reuse of the previous prompt's evaluated tokens
    finish: str | None = None
    try:
        chunks = llm.create_chat_completion(messages=request["messages"], stream=True,
                                            **request["params"])
        try:
            for chunk in chunks:
                with lock:
                    if rid in stopped or _ALL in stopped:
                        break
                choice = chunk["choices"][0]
                text = choice["delta"].get("content")
                if text:
                    _send({"id": rid, "text": text})
                finish = choice.get("finish_reason") or finish
        finally:
            chunks.close()
    except Exception as exc:  # e.g. a prompt longer than the context: the answer's error
        _send({"id": rid, "error": str(exc), "kind": type(exc).__name__})
        return
    with lock:
        stopped.discard(rid)
    _send({"id": rid, "finish": finish or "stop"})


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
