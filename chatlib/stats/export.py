"""Export runs with their raw per-chunk timestamps, as CSV or JSON.

Every figure on the stats page can be recomputed from an export: each run carries its
``chunk_offsets_s`` (seconds since t0, one per text chunk, full float precision) and
``reasoning_offsets_s`` (one per chunk of thinking), its token counts (reasoning apart) and
their sources, and its status. In CSV the offsets are one cell holding a JSON
array. Runs are read and written a batch at a time, so an export of 100k runs costs its own
size in memory and no more. Settings are exported as stored (``Settings.to_dict()``, which
holds no key) and run through ``redact_settings`` anyway, so a key put in a provider's extra
settings by mistake still never leaves the app.
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

from chatlib.core.tables import json_text
from chatlib.store import RunFilter, RunStore

__all__ = ["EXPORT_COLUMNS", "FORMAT", "redact_settings", "export_records", "export_csv",
           "export_json"]

FORMAT = "chatlab-runs/1"
_STORED = (
    "id", "created_at", "page", "provider", "model", "label", "group_id", "status", "error",
    "finish_reason", "attempts", "input_tokens", "input_source", "output_tokens",
    "output_source", "chunk_count", "ttft_s", "e2e_s", "tpot_s", "itl_mean_s", "output_tps",
    "decode_tps", "ttfat_s", "reasoning_s", "reasoning_tokens", "reasoning_source",
    "reasoning_hidden", "answer_tokens", "answer_decode_tps", "settings_json", "prompt",
    "response",
)
# What each exported run holds, in this order.
EXPORT_COLUMNS = (
    *_STORED[:2], "created_at_utc", *_STORED[2:-3], "settings", "prompt", "response",
    "chunk_offsets_s", "reasoning_offsets_s",
)
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


def export_records(store: RunStore, flt: RunFilter | None = None) -> Iterator[dict[str, Any]]:
    """One dict per run matching ``flt`` (oldest first), keys ``EXPORT_COLUMNS``; unknown
    values are ``None``, never 0. All read in one snapshot of the store."""
    with store.snapshot():
        for batch in store.iter_rows(_STORED, flt):
            for row in batch:
                stored = dict(zip(_STORED, row))
                settings = redact_settings(json.loads(stored.pop("settings_json")))
                record = {name: stored.get(name) for name in EXPORT_COLUMNS}
                record["created_at_utc"] = time.strftime(
                    "%Y-%m-%dT%H:%M:%S", time.gmtime(stored["created_at"])
                ) + f".{int(stored['created_at'] * 1000) % 1000:03d}Z"
                record["settings"] = settings
                record["chunk_offsets_s"] = memoryview(row[-2]).cast("d").tolist()
                record["reasoning_offsets_s"] = memoryview(row[-1]).cast("d").tolist()
                record["reasoning_hidden"] = bool(stored["reasoning_hidden"])
                yield record


def export_csv(store: RunStore, flt: RunFilter | None = None) -> bytes:
    """The runs as CSV (UTF-8, a header row); ``settings`` and ``chunk_offsets_s`` cells
    hold JSON, empty cells are unknown values."""
    buffer = io.BytesIO()
    with _utf8(buffer) as out:
        writer = csv.DictWriter(out, EXPORT_COLUMNS)
        writer.writeheader()
        for record in export_records(store, flt):
            record["settings"] = json_text(record["settings"], indent=None)
            record["chunk_offsets_s"] = json_text(record["chunk_offsets_s"], indent=None)
            writer.writerow(record)
        out.flush()
        return buffer.getvalue()


def _utf8(buffer: io.BytesIO) -> io.TextIOWrapper:
    # Encoded as it is written: a StringIO would hold the whole file as 4-byte characters
    # as soon as one answer has an emoji (measured: 1.6 GB for a 0.5 GB export).
    return io.TextIOWrapper(buffer, encoding="utf-8", newline="", write_through=False)


def export_json(store: RunStore, flt: RunFilter | None = None, definitions: str = "") -> bytes:
    """``{"format", "exported_at", "filter", "definitions", "runs": [...]}`` as UTF-8 JSON."""
    head = {
        "format": FORMAT,
        "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "filter": asdict(flt) if flt is not None else None,
        "definitions": definitions,
    }
    buffer = io.BytesIO()
    with _utf8(buffer) as out:
        out.write(json_text(head, indent=None)[:-1] + ', "runs": [')
        for i, record in enumerate(export_records(store, flt)):
            out.write(("," if i else "") + json_text(record, indent=None))
        out.write("]}")
        out.flush()
        return buffer.getvalue()
