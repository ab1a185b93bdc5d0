"""One prompt, several targets (provider + model + settings), streamed at the same time.

A ``Comparison`` owns what the compare page shows and exports: its targets, the shared
settings applied identically to each, every run's ``StreamPump`` (so timestamps are taken in
reader threads, never where the UI renders) and the vote.

Scheduling, so that the figures are fair::

    lanes = targets grouped by what they must not share (one CPU: every ``shares_cpu`` kind)
    lane thread: [warm-up per target] then rounds 1..N: each round runs every target of the
                 lane once, in a new random order
    every lane starts on the same signal; with N > 1 every lane starts each round together

A remote or scripted target has a lane of its own, so a slow or failing target never delays
another's answer. With repeats, round k of every target runs at about the same moment (the
lanes meet before each round), so drift and a busy neighbour hit every target alike and run
k of A can be paired with run k of B (``chatlib.compare.analysis``); the random order within
a shared lane keeps one target from always going first. Embedded (llama.cpp) targets share
one lane, as does any kind registered with ``shares_cpu``: run side by side they would fight
for the same cores (one ``Llama`` even serialises its streams with a lock), and the second's
TTFT would include the first's whole answer. Each counted run is recorded through
``on_done`` (the run store) with ``page="compare"``, ``group_id`` = the comparison id and its
label; warm-up runs are not recorded. With ``SharedSettings.nonce`` every request starts
with a unique tag.

A comparison is stored and its URL names it (``?compare=<id>``): ``chatlib.compare.comparisons``
keeps that lifecycle; ``chatlib.compare.report`` makes its tables and exports. A reopened
comparison (``Comparison.reopen``) has ``StoredRun``s and targets without a provider object
(so no key): the views read only what both kinds have (``RunView``).
"""

from __future__ import annotations

import logging
import random
import string
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Protocol

from chatlib.core.conversation import fit_to_budget
from chatlib.providers.base import Provider
from chatlib.providers.kinds import kind_of
from chatlib.engine.client import new_pump
from chatlib.streaming.pump import StreamPump
from chatlib.runs.record import RunRecord
from chatlib.store.comparisons import StoredComparison, StoredTarget
from chatlib.core.tokens import TokenCounter
from chatlib.core.types import FRESH_CONTEXT, Message, Settings

__all__ = [
    "SharedSettings",
    "TargetSpec",
    "Target",
    "RunView",
    "StoredRun",
    "Vote",
    "Comparison",
    "TIE",
    "MAX_TARGETS",
    "serial_key",
]

MAX_TARGETS = 4
TIE = "tie"
# The prompt is sent alone, so no budget applies; fit_to_budget still counts its tokens.
_NO_BUDGET = 10**9

log = logging.getLogger(__name__)


def serial_key(provider: Provider | None) -> str | None:
    """Targets with the same key run one after another (see the module docstring): those
    whose kind computes on this machine's cores (``ProviderKind.shares_cpu``)."""
    kind = kind_of(provider.id) if provider is not None else None
    return "embedded" if kind is not None and kind.shares_cpu else None


@dataclass(frozen=True)
class SharedSettings:
    """The settings every target gets, identically."""

    system_prompt: str = ""
    max_tokens: int = 256
    temperature: float = 0.7
    seed: int | None = None
    # A unique tag at the start of every request, so a provider's prompt cache (which
    # matches on a prefix) cannot flatter the repeats.
    nonce: bool = False

    def for_model(self, model: str, extra: dict[str, Any] | None = None,
                  overrides: dict[str, Any] | None = None) -> Settings:
        """The settings of one target: these, with its own ``overrides`` (any of
        ``OVERRIDABLE``) in their place."""
        own = overrides or {}
        return Settings(
            model=model,
            temperature=float(own.get("temperature", self.temperature)),
            max_tokens=int(own.get("max_tokens", self.max_tokens)),
            system_prompt=str(own.get("system_prompt", self.system_prompt)),
            seed=self.seed,
            extra=dict(extra or {}),
        )


# Settings a target may set for itself, instead of the shared value.
OVERRIDABLE = ("system_prompt", "temperature", "max_tokens")


@dataclass(frozen=True)
class TargetSpec:
    """What the user picked for one target; ``overrides``: its own values of some of the
    shared settings (``OVERRIDABLE``)."""

    provider: Provider
    model: str
    counter: TokenCounter
    extra: dict[str, Any] = field(default_factory=dict)
    overrides: dict[str, Any] = field(default_factory=dict)


class RunView(Protocol):
    """What the views read of a counted run: a ``StreamPump`` (live) or a ``StoredRun``."""

    @property
    def run_id(self) -> str: ...

    @property
    def record(self) -> RunRecord | None: ...  # None: still in its reader thread

    @property
    def text(self) -> str: ...

    @property
    def done(self) -> bool: ...


@dataclass(frozen=True)
class StoredRun:
    """A counted run of a reopened comparison: its record, as the run store kept it."""

    record: RunRecord

    @property
    def run_id(self) -> str:
        return self.record.id

    @property
    def text(self) -> str:
        return self.record.text

    @property
    def done(self) -> bool:
        return True


def _known_fields(cls: Any, values: dict[str, Any]) -> dict[str, Any]:
    # A row stored by an older or newer release may lack a field or hold one more.
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in values.items() if k in names}


class Target:
    """One column of a comparison: its label, what it runs and the runs it made. A live
    target has its ``provider`` and ``counter``; a reopened one (``Comparison.reopen``) has
    neither, only the provider's id and label, and ``StoredRun``s."""

    def __init__(
        self,
        label: str,
        settings: Settings,
        provider_id: str,
        provider_label: str,
        *,
        provider: Provider | None = None,
        counter: TokenCounter | None = None,
        runs: Sequence[RunView] = (),
        history: Sequence[Message] = (),
    ) -> None:
        self.label = label
        self.settings = settings
        # This target's own conversation before this prompt (multi-turn compare): earlier
        # prompts and its own answers to them.
        self.history: list[Message] = list(history)
        self.overrides: dict[str, Any] = {}  # its own values of shared settings
        self.provider_id = provider_id
        self.provider_label = provider_label
        self.provider = provider
        self.counter = counter
        self.messages: list[Message] = []
        self.input_tokens: int | None = None
        self.runs: list[RunView] = list(runs)  # counted runs, in order
        self.warmup: StreamPump | None = None
        self.current: StreamPump | None = None  # the run streaming now, or the last one
        self.total_runs = 0

    @classmethod
    def for_spec(cls, label: str, spec: TargetSpec, shared: SharedSettings,
                 prompt: str, history: Sequence[Message] = ()) -> Target:
        """A target to run: ``spec``'s provider and model with the shared settings (and its
        overrides), asked ``prompt`` after its own ``history``."""
        settings = shared.for_model(spec.model, spec.extra, spec.overrides)
        target = cls(label, settings, spec.provider.id, spec.provider.label,
                     provider=spec.provider, counter=spec.counter, history=history)
        target.overrides = dict(spec.overrides)
        fit = fit_to_budget(
            [*history, Message("user", prompt)], _NO_BUDGET, spec.counter,
            settings.system_prompt,
        )
        target.messages = fit.messages
        target.input_tokens = fit.tokens
        return target

    @property
    def name(self) -> str:
        return f"{self.provider_label} · {self.settings.model}"

    def next_history(self, prompt: str) -> list[Message]:
        """Its conversation after this turn: the history, the prompt and its last answer
        (an empty answer is left out, so the next prompt simply follows)."""
        answer = self.runs[-1].text if self.runs else ""
        return [*self.history, Message("user", prompt),
                *([Message("assistant", answer)] if answer else [])]

    @property
    def records(self) -> list[RunRecord]:
        """Finished counted runs (a run still in its reader thread is not listed yet)."""
        return [p.record for p in self.runs if p.record is not None]

    @property
    def completed(self) -> int:
        """Counted runs that ended (finished, stopped or failed). Each is in the run store by
        then: a reader records its run before it reports done, so this count is the
        store's count of this target's runs, also after a Stop."""
        return sum(1 for p in self.runs if p.done)

    @property
    def last_record(self) -> RunRecord | None:
        return self.runs[-1].record if self.runs else None


@dataclass(frozen=True)
class Vote:
    """The user's verdict on a comparison: a label ("A", ...) or ``TIE``."""

    comparison_id: str
    choice: str
    blind: bool
    prompt: str
    targets: list[dict[str, Any]]  # label, provider, model, run_ids: the revealed mapping
    created_at: float = field(default_factory=time.time)


class Comparison:
    """See the module docstring. ``start()``, then read ``targets``; ``stop()``
    stops every run and keeps each partial answer; ``wait()`` until ``done``. ``on_end``
    hears the comparison once its last lane has ended (in that lane's thread)."""

    def __init__(
        self,
        prompt: str,
        specs: Sequence[TargetSpec],
        shared: SharedSettings,
        *,
        repeat: int = 1,
        warmup: bool = False,
        blind: bool = False,
        on_done: Callable[[RunRecord], None] | None = None,
        on_end: Callable[[Comparison], None] | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        histories: Sequence[Sequence[Message]] | None = None,
        parent_id: str | None = None,
    ) -> None:
        """``histories`` (one per spec, in order) and ``parent_id`` make this the next turn
        of an earlier comparison: each target goes on with its own conversation, under the
        same label (so no new shuffle, even when blind)."""
        if not 1 <= len(specs) <= MAX_TARGETS:
            raise ValueError(f"a comparison has 1 to {MAX_TARGETS} targets, not {len(specs)}")
        if repeat < 1:
            raise ValueError("repeat must be at least 1")
        if histories is not None and len(histories) != len(specs):
            raise ValueError("one history per target")
        rng = rng or random.Random()
        order = list(zip(specs, histories or [()] * len(specs)))
        if blind and histories is None:  # so the picking order does not give labels away
            rng.shuffle(order)
        targets = [
            Target.for_spec(letter, spec, shared, prompt, history)
            for letter, (spec, history) in zip(string.ascii_uppercase, order)
        ]
        self._setup(uuid.uuid4().hex, time.time(), prompt, shared, targets, repeat, warmup,
                    blind, on_done=on_done, on_end=on_end, clock=clock, rng=rng,
                    parent_id=parent_id)

    def _setup(self, comparison_id: str, created_at: float, prompt: str,
               shared: SharedSettings, targets: list[Target], repeat: int, warmup: bool,
               blind: bool, *, on_done: Callable[[RunRecord], None] | None = None,
               on_end: Callable[[Comparison], None] | None = None,
               clock: Callable[[], float] = time.monotonic,
               rng: random.Random | None = None, parent_id: str | None = None) -> None:
        self.id = comparison_id
        self.created_at = created_at
        self.parent_id = parent_id  # the comparison this one continues
        self.prompt = prompt
        self.shared = shared
        self.repeat = repeat
        self.use_warmup = warmup
        self.blind = blind
        self.vote: Vote | None = None
        self.targets = targets
        self._on_done = on_done
        self._on_end = on_end
        self._clock = clock  # every run's pump timestamps on it (tests pass a virtual one)
        self._lock = threading.Lock()
        self._go = threading.Event()
        self._stopping = False
        self._lanes: list[threading.Thread] = []
        self.started_at: float | None = None  # monotonic
        self.finished_at: float | None = None  # monotonic, when the last lane ended
        self.ended_at: float | None = None  # wall clock (epoch s) of that moment
        self.wall_s: float | None = None  # from the common start to the end of the last lane
        self.interrupted = False  # reopened, but the server stopped before it ended
        self._rounds: threading.Barrier | None = None  # lanes meet before each round
        self._rng = rng or random.Random()  # the order of each round in a shared lane
        self._ended = False
        self._lanes_left = 0

    @classmethod
    def reopen(cls, stored: StoredComparison, records: Sequence[RunRecord]) -> Comparison:
        """The stored comparison, ended, as the views draw it: its targets with their
        counted runs (``records``, oldest first, matched by label) and its vote. A row that
        never got its end (the server stopped meanwhile) reads as stopped and
        ``interrupted``."""
        targets = [
            Target(t.label, Settings(**_known_fields(Settings, t.settings)), t.provider,
                   t.provider_label, runs=[StoredRun(r) for r in records if r.label == t.label],
                   history=[_stored_message(role, text) for role, text in t.history])
            for t in stored.targets
        ]
        for target, t in zip(targets, stored.targets):
            target.overrides = dict(t.overrides or {})
        comparison = cls.__new__(cls)
        comparison._setup(stored.id, stored.created_at, stored.prompt,
                          SharedSettings(**_known_fields(SharedSettings, stored.shared)),
                          targets, stored.repeat, stored.warmup, stored.blind,
                          parent_id=stored.parent_id)
        for target in targets:
            target.total_runs = stored.repeat
        comparison.ended_at, comparison.wall_s = stored.ended_at, stored.wall_s
        comparison.interrupted = stored.ended_at is None
        comparison._stopping = stored.stopped or comparison.interrupted
        comparison._ended = True
        if stored.vote is not None and stored.vote.choice in comparison.choices():
            comparison.cast_vote(stored.vote.choice, created_at=stored.vote.created_at)
        return comparison

    def stored(self) -> StoredComparison:
        """What the comparison store keeps of it (no provider object, so no key)."""
        return StoredComparison(
            id=self.id, created_at=self.created_at, prompt=self.prompt,
            shared=asdict(self.shared), repeat=self.repeat, warmup=self.use_warmup,
            blind=self.blind,
            targets=tuple(StoredTarget(t.label, t.provider_id, t.provider_label,
                                       t.settings.model, t.settings.to_dict(),
                                       tuple((m.role, m.content) for m in t.history),
                                       dict(t.overrides))
                          for t in self.targets),
            ended_at=self.ended_at, wall_s=self.wall_s, stopped=self.done and self.stopped,
            parent_id=self.parent_id,
        )

    # -- running -------------------------------------------------------------------------
    def lanes(self) -> list[list[Target]]:
        """Targets grouped into lanes (each lane runs its targets one after another)."""
        shared_lanes: dict[str, list[Target]] = {}
        lanes: list[list[Target]] = []
        for target in self.targets:
            key = serial_key(target.provider)
            if key is None:
                lanes.append([target])
            elif key in shared_lanes:
                shared_lanes[key].append(target)
            else:
                shared_lanes[key] = [target]
                lanes.append(shared_lanes[key])
        return lanes

    def queued_behind(self, target: Target) -> list[Target]:
        """The targets sharing ``target``'s lane (empty when it runs alone)."""
        lane = next(lane for lane in self.lanes() if target in lane)
        return [t for t in lane if t is not target]

    def start(self) -> Comparison:
        if self.started_at is not None or self._ended:
            raise RuntimeError("a comparison runs once (a reopened one has run already)")
        lanes = self.lanes()
        for target in self.targets:
            target.total_runs = self.repeat
        self._lanes_left = len(lanes)
        if self.repeat > 1 and len(lanes) > 1:
            self._rounds = threading.Barrier(len(lanes))
        for lane in lanes:
            jobs: list[tuple[Target, bool, int]] = []
            if self.use_warmup:
                jobs += [(t, True, -1) for t in lane]
            for round_ in range(self.repeat):
                order = list(lane)
                if self.repeat > 1:
                    self._rng.shuffle(order)
                jobs += [(t, False, round_) for t in order]
            thread = threading.Thread(
                target=self._run_lane, args=(jobs,), name="chatlib-compare-lane", daemon=True
            )
            self._lanes.append(thread)
            thread.start()
        # Every lane is waiting on the same event: their first requests leave together.
        self.started_at = time.monotonic()
        self._go.set()
        return self

    def _run_lane(self, jobs: list[tuple[Target, bool, int]]) -> None:
        self._go.wait()
        current_round = -1
        try:
            for target, warm, round_ in jobs:
                if round_ != current_round:
                    current_round = round_
                    if self._rounds is not None:
                        try:
                            self._rounds.wait()  # every lane starts round k together
                        except threading.BrokenBarrierError:  # stopped meanwhile
                            return
                with self._lock:
                    if self._stopping:
                        return
                    pump = self._new_pump(target, warm)
                    if warm:
                        target.warmup = pump
                    else:
                        target.runs.append(pump)
                    target.current = pump
                    pump.start()
                pump.wait()
        finally:
            with self._lock:
                self._lanes_left -= 1
                last = self._lanes_left == 0
                if last:
                    self.finished_at = time.monotonic()
                    self.ended_at = time.time()
                    if self.started_at is not None:
                        self.wall_s = self.finished_at - self.started_at
                    self._ended = True  # from here on stop() leaves it as it is
            if last and self._on_end is not None:
                try:
                    self._on_end(self)
                except Exception:  # the answers are kept whatever the store says
                    log.exception("storing the end of comparison %s failed", self.id)

    def _new_pump(self, target: Target, warm: bool) -> StreamPump:
        if target.provider is None or target.counter is None:
            raise RuntimeError("a reopened comparison cannot run again")
        messages = target.messages
        if self.shared.nonce:
            messages = _with_nonce(messages)
        # Every run starts cold: a repeat must not be timed against the previous run's cache
        # in this process (the embedded model's), which would make its TTFT a cache hit.
        settings = replace(target.settings,
                           extra={**target.settings.extra, FRESH_CONTEXT: True})
        return new_pump(
            target.provider,
            messages,
            settings,
            counter=target.counter,
            input_tokens=target.input_tokens,
            input_source=target.counter.source,
            on_done=None if warm else self._on_done,
            record_fields={"page": "compare", "group_id": self.id, "label": target.label},
            clock=self._clock,
        )

    def stop(self) -> None:
        """Stop every run now; each keeps the text it received. Safe to call twice; a
        finished comparison is left as it is."""
        with self._lock:
            if self.done:
                return
            self._stopping = True
            pumps = [t.current for t in self.targets if t.current is not None]
        if self._rounds is not None:
            self._rounds.abort()  # lanes waiting for the next round end now
        for pump in pumps:
            pump.stop()

    @property
    def stopped(self) -> bool:
        return self._stopping

    @property
    def done(self) -> bool:
        return self._ended

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for every lane to finish; True when done."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._lanes:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            thread.join(left)
        return self.done

    # -- results -------------------------------------------------------------------------
    @property
    def revealed(self) -> bool:
        """Whether names may be shown: always, except a blind comparison not yet voted on
        (a stopped one cannot be voted on, so it is revealed)."""
        return not self.blind or self.vote is not None or self._stopping

    def title(self, target: Target) -> str:
        return f"{target.label} · {target.name}" if self.revealed else target.label

    def choices(self) -> list[str]:
        return [t.label for t in self.targets] + [TIE]

    def cast_vote(self, choice: str, *, created_at: float | None = None) -> Vote:
        """Record the user's verdict (a label or ``TIE``); names are revealed after it.
        ``Comparisons.vote`` also stores it."""
        if choice not in self.choices():
            raise ValueError(f"vote for one of {self.choices()}, not {choice!r}")
        self.vote = Vote(
            comparison_id=self.id,
            choice=choice,
            blind=self.blind,
            prompt=self.prompt,
            targets=[
                {
                    "label": t.label,
                    "provider": t.provider_id,
                    "model": t.settings.model,
                    "run_ids": [p.run_id for p in t.runs],
                }
                for t in self.targets
            ],
            created_at=time.time() if created_at is None else created_at,
        )
        return self.vote



def _stored_message(role: str, content: str) -> Message:
    if role not in ("user", "assistant", "system"):
        raise ValueError(f"a stored history holds an unknown role {role!r}")
    return Message(role, content)  # type: ignore[arg-type]  # checked just above


def _with_nonce(messages: list[Message]) -> list[Message]:
    """``messages`` with a unique tag first (in the system prompt: what a prefix cache sees)."""
    tag = f"[request {uuid.uuid4().hex[:12]}]"
    if messages and messages[0].role == "system":
        return [Message("system", f"{tag} {messages[0].content}"), *messages[1:]]
    return [Message("system", tag), *messages]
