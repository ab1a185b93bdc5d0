"""The embedded model runs supervised in a process of its own (``chatlib.providers.
model_process``): a native crash there ends one answer, marked, with what had arrived; the
app's server and every session in it go on, and the next prompt gets a new worker.

The crash is a real one: the worker is sent SIGSEGV, what a fault in llama.cpp's native code
raises (the AMX miscompile did). Only properties of the 135M model's answers are asserted."""

from __future__ import annotations

import http.client
import json
import os
import signal
from pathlib import Path

import pytest

from chatlib.providers.local import default_gguf_path, load_llama
from chatlib.providers.model_process import CRASH_MESSAGE, ProcessLlama
from chatlib.providers.local import LocalProvider
from chatlib.streaming.pump import StreamPump
from chatlib.core.types import Message, Settings, TextDelta
from testkit.app_server import AppServer
from testkit.processes import engine_of, workers_of
from tests.clocks import MODEL_HANG_GUARD_S, wait_for

pytestmark = pytest.mark.model

LONG = Settings(model="smollm2", max_tokens=200, temperature=0.0)
SHORT = Settings(model="smollm2", max_tokens=8, temperature=0.0)


@pytest.fixture(scope="module")
def supervised() -> LocalProvider:
    gguf = default_gguf_path()
    assert gguf is not None and gguf.is_file()
    llm = ProcessLlama(gguf, load_llama(gguf, vocab_only=True), 2048)
    llm.start()
    yield LocalProvider(llm, gguf)
    llm.close()


def test_a_crash_of_the_model_ends_one_answer_and_the_next_gets_a_new_worker(supervised):
    process = supervised._llm.process
    starts = process.starts
    pump = StreamPump(supervised, [Message("user", "Tell me a long story.")], LONG,
                      counter=supervised.counter).start()
    batches = pump.text_batches()
    assert next(b for b in batches if b)  # text is arriving: the worker is mid-answer
    os.kill(process.pid, signal.SIGSEGV)
    record = pump.wait(MODEL_HANG_GUARD_S)
    assert record is not None and record.status == "error"
    assert record.error == CRASH_MESSAGE.format(how="signal SIGSEGV")
    assert record.text  # what had arrived is kept
    events = list(supervised.stream([Message("user", "Say hi.")], SHORT))
    assert any(isinstance(e, TextDelta) and e.text for e in events)
    assert process.starts == starts + 1


def test_stop_ends_the_answer_in_the_worker_and_the_next_starts_clean(supervised):
    stream = supervised.stream([Message("user", "Tell me a long story.")], LONG)
    assert isinstance(next(stream), TextDelta)
    stream.close()  # as the pump does on Stop
    events = list(supervised.stream([Message("user", "Say hi.")], SHORT))
    assert events[-1].reason in ("stop", "length")
    assert sum(isinstance(e, TextDelta) for e in events) <= SHORT.max_tokens + 1


def _post(server: AppServer, message: str) -> list[str]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    try:
        conn.request("POST", "/chat", body=json.dumps({"message": message, "maxTokens": 8}),
                     headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        assert response.status == 200
        return [line[6:].decode() for line in response.read().split(b"\n")
                if line.startswith(b"data: ")]
    finally:
        conn.close()


def test_the_app_outlives_a_crash_of_its_embedded_model(tmp_path):
    server = AppServer({"CHATLAB_DATA_DIR": str(tmp_path),
                        "CHATLAB_DB": str(tmp_path / "runs.sqlite3")}).start()
    try:
        assert _post(server, "Say hello.")[-1] == "[DONE]"
        assert server.proc is not None
        # The model runs under the engine, the process that reads the answers; the app's
        # own copy of the model only counts tokens and starts no process.
        engine = engine_of(server.proc.pid)
        assert workers_of(server.proc.pid) == []
        [worker] = workers_of(engine)
        # It leaves a core, and the first claim on every core, to the engine and the app.
        argv = Path(f"/proc/{worker}/cmdline").read_bytes().split(b"\0")
        assert int(argv[-2]) == max(1, (os.cpu_count() or 1) - 1)
        stat = Path(f"/proc/{worker}/stat").read_text().rsplit(")", 1)[1].split()
        assert int(stat[16]) == 10  # nice, field 19 of /proc/PID/stat
        os.kill(worker, signal.SIGSEGV)
        wait_for(lambda: not Path(f"/proc/{worker}").exists()
                 or "Z" in Path(f"/proc/{worker}/stat").read_text().split(")")[1][:3],
                 "the worker is gone")
        # The server and its sessions are still there, and the next answer gets a new worker.
        assert server.proc.poll() is None
        assert _post(server, "Say hello again.")[-1] == "[DONE]"
        assert workers_of(engine) not in ([], [worker])
    finally:
        server.stop()
