"""The "Replay a recorded run" choice of the provider picker: a select of recorded runs
(newest first) whose answer is re-streamed on its recorded timing (``ReplayProvider``)."""

from __future__ import annotations

import time

from streamlit.delta_generator import DeltaGenerator

from chatlib.core.errors import ConfigError, ProviderError
from chatlib.providers.kinds import counter_for_run
from chatlib.providers.replay import ReplayProvider, replay_model
from chatlib.store import RunFilter
from ui.provider_pick import ProviderPick
from ui.resources import run_store

# The picker lists the newest runs only: a select of 100k options would freeze the page.
REPLAY_CHOICES = 200


def run_label(row) -> str:
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row.created_at))
    words = " ".join(str(row.preview or "").split()[:8])
    status = "" if row.status == "ok" else f" [{row.status}]"
    return f"{when} · {row.provider}/{row.model}{status} · {words}…"


def pick_replay(box: DeltaGenerator, key: str, advanced: DeltaGenerator | None = None):
    """Draw the run select; return a ``ProviderPick`` for the chosen run, or the error
    (a replay has no settings of its own for ``advanced``)."""

    store = run_store()
    # Replays of replays and runs with no text have nothing worth replaying.
    runs = store.recent(RunFilter(not_providers=("replay",), streamed=True), REPLAY_CHOICES)
    if runs.empty:
        return ConfigError("No recorded run to replay yet: chat with a provider first.")
    labels = {row.id: run_label(row) for row in runs.itertuples(index=False)}
    run_id = box.selectbox("Recorded run", list(labels), format_func=labels.__getitem__,
                           key=f"{key}replay_run",
                           help="Its answer is streamed again on its recorded timing, offline.")
    record = store.get(run_id)
    if record is None:
        return ProviderError("That run is no longer in the store.")
    provider = ReplayProvider(record)
    return ProviderPick(provider, replay_model(record),
                        counter_for_run(record.provider, record.model),
                        {"replay_of": record.id})
