"""Compare-page concurrency: is running 4 targets at once as fast as the slowest alone, and
are the timestamps as exact with 4 streams as with 1?

Four scripted targets with known schedules (0.1 s to the first chunk, then 10 ms gaps;
0.4, 0.8, 1.2 and 1.6 s in all) run through ``chatlib.compare.comparison.Comparison``, the code
path the page uses, with one renderer thread per target draining ``text_batches()`` as the page's
fragments do. Figures:

- wall ratio: wall time of the 4-target comparison / wall time of the slowest target alone
  (goal <= 1.1);
- timestamp error: recorded chunk offset (pump's reader thread) minus the moment the provider
  yielded that chunk (taken inside the provider's generator), p50/p95 in ms, 4 concurrent vs
  1 alone (goal: p50 no worse than 2 ms);
- gap error: |recorded inter-chunk gap - scheduled gap|, p50 in ms.

The targets above note their yields in this process, so their streams are read here. The same
schedules as plain scripted targets go through the engine process, as the page's do
(``chatlib.engine``): their wall ratio and gap error are printed too (no yield times there).

Run: ``.venv/bin/python bench/bench_compare.py [--trials 5]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chatlib.compare.comparison import Comparison, SharedSettings, Target, TargetSpec  # noqa: E402
from chatlib.providers.scripted import Script, ScriptedProvider  # noqa: E402
from chatlib.core.tokens import FunctionCounter  # noqa: E402
from chatlib.core.types import Event, Message, Settings, TextDelta  # noqa: E402

FIRST_S, GAP_S = 0.1, 0.01
DURATIONS_S = (0.4, 0.8, 1.2, 1.6)
CHARS = FunctionCounter("chars", len)


class EmitClock:
    """A scripted provider that notes when its generator starts and when it yields each
    chunk, so the pump's timestamps can be checked against the truth."""

    needs_key = False
    paid = False

    def __init__(self, duration_s: float) -> None:
        n = round((duration_s - FIRST_S) / GAP_S) + 1
        self.script = Script(chunks=tuple(f"t{i} " for i in range(n)), first_delay_s=FIRST_S,
                             gap_s=GAP_S)
        self.inner = ScriptedProvider(self.script)
        self.id = "scripted"
        self.label = f"scripted {duration_s:.1f} s"
        self.start: float | None = None
        self.emitted: list[float] = []

    def models(self) -> list[str]:
        return ["scripted"]

    def stream(self, messages: Sequence[Message], settings: Settings) -> Iterator[Event]:
        self.start, self.emitted = time.monotonic(), []
        for event in self.inner.stream(messages, settings):
            if isinstance(event, TextDelta):
                self.emitted.append(time.monotonic() - self.start)
            yield event


def render(target: Target, comparison: Comparison) -> None:
    """What a page fragment does with its target: drain the pump's batches."""
    while target.current is None and not comparison.done:
        time.sleep(0.002)
    if target.current is not None:
        for _ in target.current.text_batches():
            pass


def run(durations: Sequence[float],
        engine: bool = False) -> tuple[float, list[float], list[float]]:
    """One comparison, its streams read here (``EmitClock``) or in the engine (plain scripted
    providers); returns (wall s, timestamp errors s, gap errors s)."""
    providers: list[EmitClock | ScriptedProvider] = [
        EmitClock(d).inner if engine else EmitClock(d) for d in durations]
    specs = [TargetSpec(p, "scripted", CHARS) for p in providers]
    comparison = Comparison("bench", specs, SharedSettings()).start()
    renderers = [threading.Thread(target=render, args=(t, comparison)) for t in comparison.targets]
    for r in renderers:
        r.start()
    comparison.wait(30)
    for r in renderers:
        r.join(5)
    assert comparison.wall_s is not None
    stamp_errors: list[float] = []
    gap_errors: list[float] = []
    for target, provider in zip(comparison.targets, providers):
        record = target.last_record
        assert record is not None and record.status == "ok", record
        offsets = record.chunk_offsets_s
        if isinstance(provider, EmitClock):
            stamp_errors += [o - e for o, e in zip(offsets, provider.emitted)]
        gap_errors += [abs((b - a) - GAP_S) for a, b in zip(offsets, offsets[1:])]
    return comparison.wall_s, stamp_errors, gap_errors


def ms(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=5)
    trials = parser.parse_args().trials

    run([0.2])  # warm the interpreter and imports
    run([0.2], engine=True)  # and start the engine
    alone_walls, all_walls, ratios = [], [], []
    engine_ratios: list[float] = []
    engine_gaps: list[float] = []
    alone_stamps: list[float] = []
    all_stamps: list[float] = []
    alone_gaps: list[float] = []
    all_gaps: list[float] = []
    for _ in range(trials):
        # Side by side in one loop, so both see the same machine load.
        wall_1, stamps_1, gaps_1 = run([max(DURATIONS_S)])
        wall_4, stamps_4, gaps_4 = run(DURATIONS_S)
        alone_walls.append(wall_1)
        all_walls.append(wall_4)
        ratios.append(wall_4 / wall_1)
        alone_stamps += stamps_1
        all_stamps += stamps_4
        alone_gaps += gaps_1
        all_gaps += gaps_4
        engine_1, _, _ = run([max(DURATIONS_S)], engine=True)
        engine_4, _, gaps_engine = run(DURATIONS_S, engine=True)
        engine_ratios.append(engine_4 / engine_1)
        engine_gaps += gaps_engine

    ratio = statistics.median(ratios)
    p50_1, p50_4 = ms(alone_stamps, 0.5), ms(all_stamps, 0.5)
    print(f"compare concurrency ({trials} trials; targets of {DURATIONS_S} s, "
          f"first chunk {FIRST_S * 1000:.0f} ms, gaps {GAP_S * 1000:.0f} ms)")
    print(f"  slowest alone   wall median {statistics.median(alone_walls):.3f} s")
    print(f"  4 concurrent    wall median {statistics.median(all_walls):.3f} s "
          f"(one after another would be {sum(DURATIONS_S):.1f} s)")
    print(f"  wall ratio 4 concurrent / slowest alone: median {ratio:.3f}, "
          f"max {max(ratios):.3f}  (goal <= 1.1)")
    print(f"  timestamp error (reader - provider yield), 1 stream:  p50 {p50_1:.3f} ms, "
          f"p95 {ms(alone_stamps, 0.95):.3f} ms  ({len(alone_stamps)} chunks)")
    print(f"  timestamp error (reader - provider yield), 4 streams: p50 {p50_4:.3f} ms, "
          f"p95 {ms(all_stamps, 0.95):.3f} ms  ({len(all_stamps)} chunks)")
    print(f"  p50 timestamp error, 4 streams minus 1: {p50_4 - p50_1:+.3f} ms  (goal <= 2 ms)")
    print(f"  gap error |gap - {GAP_S * 1000:.0f} ms| p50: 1 stream {ms(alone_gaps, 0.5):.3f} ms, "
          f"4 streams {ms(all_gaps, 0.5):.3f} ms")
    engine_ratio = statistics.median(engine_ratios)
    print(f"  through the engine: wall ratio median {engine_ratio:.3f}, max "
          f"{max(engine_ratios):.3f}; gap error p50 {ms(engine_gaps, 0.5):.3f} ms, p95 "
          f"{ms(engine_gaps, 0.95):.3f} ms")
    ok = ratio <= 1.1 and engine_ratio <= 1.1 and p50_4 - p50_1 <= 2.0
    print("  goals met" if ok else "  GOAL MISSED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
