"""Export runs with their raw per-chunk timestamps, as CSV or JSON.

Every figure on the stats page can be recomputed from an export: each run carries its
``chunk_offsets_s`` (seconds since t0, one per text chunk, full float precision), its token
counts and their sources, and its status. In CSV the offsets are one cell holding a JSON
array. Settings are exported as stored (``Settings.to_dict()``, which holds no key) and run
through ``redact_settings`` anyway, so a key put in a provider's extra settings by mistake
still never leaves the app.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict
from typing import Any

import pandas as pd

from chatlib.store import RunStore

__all__ = ["EXPORT_COLUMNS", "FORMAT", "redact_settings", "export_frame", "export_csv",
           "export_json"]

FORMAT = "chatlab-runs/1"
EXPORT_COLUMNS = (
    "id", "created_at", "page", "provider", "model", "label", "group_id", "status", "error",
    "finish_reason", "attempts", "input_tokens", "input_source", "output_tokens",
    "output_source", "chunk_count", "ttft_s", "e2e_s", "tpot_s", "itl_mean_s", "output_tps",
    "decode_tps", "settings_json", "prompt", "response",
)
_INT_COLUMNS = ("attempts", "input_tokens", "output_tokens", "chunk_count")
# Names of settings that could hold a credential ("max_tokens" is not one).
_SECRET_NAME = re.compile(r"(api[_-]?key|secret|password|passwd|authorization|bearer|"
                          r"access[_-]?token|auth[_-]?token|credential)", re.IGNORECASE)


def redact_settings(value: Any) -> Any:
    """``value`` with every mapping entry whose name looks like a credential replaced by
    ``"[redacted]"``, at any depth."""
    if isinstance(value, dict):
        return {k: "[redacted]" if _SECRET_NAME.search(str(k)) else redact_settings(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [redact_settings(v) for v in value]
    return value


def export_frame(store: RunStore, where: str = "", params: list[Any] | None = None) -> pd.DataFrame:
    """One row per run matching ``where`` (oldest first): ``EXPORT_COLUMNS`` with the
    settings parsed and redacted (``settings``) and the offsets as a list (``chunk_offsets_s``)."""
    params = list(params or [])
    with store.snapshot():
        frame = store.select(EXPORT_COLUMNS, where, params)
        offsets: dict[str, list[float]] = {}
        for batch in store.iter_offsets(where, params):
            for run_id, blob in batch:
                offsets[run_id] = memoryview(blob).cast("d").tolist()
    frame["settings"] = [redact_settings(json.loads(s)) for s in frame.pop("settings_json")]
    frame["created_at_utc"] = pd.to_datetime(frame.created_at, unit="s", utc=True).map(
        lambda t: t.isoformat(timespec="milliseconds"))
    for column in _INT_COLUMNS:
        frame[column] = frame[column].astype("Int64")
    frame["chunk_offsets_s"] = [offsets.get(i, []) for i in frame.id]
    return frame


def export_csv(frame: pd.DataFrame) -> bytes:
    """The frame as CSV (UTF-8); ``settings`` and ``chunk_offsets_s`` cells hold JSON."""
    out = frame.copy()
    out["settings"] = [json.dumps(s, ensure_ascii=False) for s in out.settings]
    out["chunk_offsets_s"] = [json.dumps(o) for o in out.chunk_offsets_s]
    return out.to_csv(index=False).encode("utf-8")


def export_json(frame: pd.DataFrame, filter_: Any = None, definitions: str = "") -> bytes:
    """``{"format", "exported_at", "filter", "definitions", "runs": [...]}`` as UTF-8 JSON;
    unknown values are ``null``, never 0."""
    runs = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    doc = {
        "format": FORMAT,
        "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "filter": asdict(filter_) if filter_ is not None else None,
        "definitions": definitions,
        "runs": runs,
    }
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")
