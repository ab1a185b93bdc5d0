"""The comparisons of this process and the store: start one, find it again by id, vote.

The lifecycle, the way ``chatlib.chat.answers`` keeps a chat's answer::

    Comparisons.start   register in this process's table (by id), store the row, start
    each counted run    recorded by its reader thread as it ends (finished, stopped, failed)
    last lane ends      the row gets its wall time and whether it was stopped
    Comparisons.open    the live object while this process has it (in flight, or among the
                        last that ended: a reload re-attaches to the runs still streaming),
                        else ``Comparison.reopen`` of the stored row, runs and vote

A reopened comparison's runs are ``StoredRun``s (the records read back) and its targets have
no provider object (so no key): the views read only what both kinds have (``RunView``).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence

from chatlib.compare.comparison import Comparison, SharedSettings, TargetSpec, Vote
from chatlib.core.types import Message
from chatlib.store.comparisons import ComparisonStore
from chatlib.streaming.live_table import LiveTable

__all__ = ["Comparisons"]

# How many ended comparisons this process keeps live (besides every one in flight).
_KEEP_ENDED = 32

# comparison id -> its Comparison, for every session of this process: each one in flight and
# the last _KEEP_ENDED that ended, with whose it is (the store's owner: with sign-in, a user
# never re-attaches to another's).
_LIVE: LiveTable[str, Comparison] = LiveTable()


class Comparisons:
    """Starts comparisons, stores them, and finds them again by id (see the module
    docstring): the page keeps one of these for the whole process."""

    def __init__(self, store: ComparisonStore) -> None:
        self.store = store

    def start(
        self,
        prompt: str,
        specs: Sequence[TargetSpec],
        shared: SharedSettings,
        *,
        repeat: int = 1,
        warmup: bool = False,
        blind: bool = False,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        follows: Comparison | None = None,
    ) -> Comparison:
        """A new comparison, stored and registered before its first request is sent; each
        counted run is stored as it ends, and the row gets its end with the last lane.
        ``follows``: the comparison this one continues, if ``specs`` are its targets
        (``continuation``); else it starts afresh."""
        histories: list[list[Message]] | None = None
        continued = self.continuation(follows, specs) if follows is not None else None
        if continued is not None and follows is not None:
            specs, histories = continued
            blind = follows.blind  # the same labels for the same targets, turn after turn
        else:
            follows = None
        comparison = Comparison(prompt, specs, shared, repeat=repeat, warmup=warmup,
                                blind=blind, on_done=self.store.add_run, on_end=self._ended,
                                rng=rng, clock=clock,
                                histories=histories,
                                parent_id=follows.id if follows is not None else None)
        _LIVE.put(comparison.id, comparison, self.store.owner)
        _LIVE.keep_last(_KEEP_ENDED, lambda c: c.done)
        try:
            self.store.create(comparison.stored())
        except BaseException:
            _LIVE.remove(comparison.id, comparison)
            raise
        return comparison.start()

    @staticmethod
    def continuation(previous: Comparison, picked: Sequence[TargetSpec]
                     ) -> tuple[list[TargetSpec], list[list[Message]]] | None:
        """``previous``'s targets matched to the ``picked`` ones (same provider and model,
        the picked settings), each with its own conversation so far: what the next turn
        runs. ``None`` when the picked targets are not the same ones: then the next prompt
        starts a new comparison."""
        if len(picked) != len(previous.targets):
            return None
        specs, histories, free = [], [], list(picked)
        for target in previous.targets:
            spec = next((s for s in free if (s.provider.id, s.model)
                         == (target.provider_id, target.settings.model)), None)
            if spec is None:
                return None
            free.remove(spec)
            specs.append(spec)
            histories.append(target.next_history(previous.prompt))
        return specs, histories

    def chain(self, comparison: Comparison) -> list[Comparison]:
        """The turns of a multi-turn comparison up to ``comparison``, oldest first."""
        turns, seen = [comparison], {comparison.id}
        while turns[0].parent_id and turns[0].parent_id not in seen:
            parent = self.open(turns[0].parent_id)
            if parent is None:
                break
            seen.add(parent.id)
            turns.insert(0, parent)
        return turns

    def _ended(self, comparison: Comparison) -> None:
        # In the last lane's thread; the comparison stays in _LIVE until newer ones push it
        # out, so this process keeps serving the very object (and its warm-up runs).
        self.store.finish(comparison.id, ended_at=comparison.ended_at or time.time(),
                          wall_s=comparison.wall_s, stopped=comparison.stopped)

    def open(self, comparison_id: str) -> Comparison | None:
        """The comparison of that id: the live one of this process, else the stored one
        reopened; ``None`` when there is none."""
        live = _LIVE.get(comparison_id, self.store.owner)
        if live is not None:
            return live
        stored = self.store.get(comparison_id)
        if stored is None:
            return None
        return Comparison.reopen(stored, self.store.runs(comparison_id))

    def vote(self, comparison: Comparison, choice: str) -> Vote:
        """Cast the user's verdict and store it (voting again replaces it)."""
        vote = comparison.cast_vote(choice)
        self.store.add_vote(vote.comparison_id, vote.choice, blind=vote.blind,
                            prompt=vote.prompt, targets=vote.targets,
                            created_at=vote.created_at)
        return vote
