"""Stop on the cloud path: how soon does the provider's server see the connection close?

The real ``openai`` SDK streams from a local server speaking the Chat Completions wire
format; ``StreamPump.stop()`` is called mid-answer. Two ways to stop, side by side:

- abort: what the app does: ``stop()`` also calls the stream's ``abort()``, which shuts the
  socket under the blocked read (``chatlib.providers.http_stream``);
- next event: the stream is closed only when the reader thread gets its next event and
  leaves the SDK iterator (what a plain generator with a ``with`` gives).

Two servers: a steady one (a chunk every 50 ms) and a "thinking" one (headers and a first
empty chunk, then 2 s of silence, as a reasoning model before its first token).
Figure: stop → the server sees EOF on the socket, p50/max in ms over the trials, and the
ratio next-event / abort.

Run: ``.venv/bin/python bench/bench_cloud_stop.py [--trials 8]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chatlib.providers.openai_provider import OpenAIProvider  # noqa: E402
from chatlib.streaming.pump import StreamPump  # noqa: E402
from chatlib.core.types import Event, Message, Settings  # noqa: E402
from tests.wire import openai_wire as ow  # noqa: E402
from tests.wire.server import Reply, WireServer  # noqa: E402

SETTINGS = Settings(model="gpt-4o-mini")


class NoAbort:
    """The same provider with its stream's ``abort()`` hidden: closed at the next event."""

    def __init__(self, inner: OpenAIProvider) -> None:
        self.inner = inner
        self.id, self.label, self.paid, self.needs_key = inner.id, inner.label, False, False

    def models(self) -> list[str]:
        return self.inner.models()

    def stream(self, messages: Sequence[Message], settings: Settings) -> Iterator[Event]:
        events = self.inner.stream(messages, settings)
        try:
            yield from events
        finally:
            events.close()  # type: ignore[attr-defined]


def one(server: WireServer, provider, reply: Reply, wait_events: int) -> float:
    server.disconnect.clear()
    server.script(reply)
    before = len(server.posts)
    pump = StreamPump(provider, [Message("user", "hi")], SETTINGS).start()
    deadline = time.monotonic() + 10
    while len(server.posts) == before or server.posts[-1].events_sent < wait_events:
        if time.monotonic() > deadline:
            raise TimeoutError("the server never sent the first events")
        time.sleep(0.005)
    time.sleep(0.12)  # mid-gap: the reader is blocked in recv
    stopped = time.monotonic()
    pump.stop()
    if not server.disconnect.wait(10):
        raise TimeoutError("the server never saw the disconnect")
    pump.wait(10)
    return (server.posts[-1].disconnected_at or 0) - stopped


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=8)
    args = parser.parse_args()
    steady = Reply(events=ow.stream([f"w{i} " for i in range(400)]), gap_s=0.05)
    thinking = Reply(events=(ow.chunk("", role=True),) + ow.stream(["late"])[1:],
                     gap_s=2.0)
    with WireServer() as server:
        provider = OpenAIProvider(api_key="sk-bench", base_url=server.url + "/v1",
                                  read_timeout_s=60)
        try:
            print(f"stop -> server sees the connection close, ms ({args.trials} trials each)")
            print(f"{'server':<10} {'way':<11} {'p50':>8} {'max':>8}")
            for name, reply, first in (("steady", steady, 5), ("thinking", thinking, 1)):
                results = {}
                for way, p in (("abort", provider), ("next event", NoAbort(provider))):
                    times = [one(server, p, reply, first) * 1000 for _ in range(args.trials)]
                    results[way] = statistics.median(times)
                    print(f"{name:<10} {way:<11} {results[way]:8.1f} {max(times):8.1f}")
                ratio = results["next event"] / max(results["abort"], 0.001)
                print(f"{name:<10} ratio next-event/abort (p50): {ratio:.0f}x")
        finally:
            provider.close()


if __name__ == "__main__":
    main()
