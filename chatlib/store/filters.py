"""Which runs a caller asks for: ``RunFilter``, a typed value, and the SQL it stands for.

Callers (the stats page, pickers, exports, tests) build a ``RunFilter``; only the store turns
it into a ``WHERE`` clause (``where``), so no SQL leaves this package. Whose runs they are
is not part of the filter: a store scoped to a signed-in user (``RunStore.for_owner``) adds
that itself, so no caller can forget it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["RunFilter", "where"]


@dataclass(frozen=True)
class RunFilter:
    """An empty tuple means "any". Times are epoch seconds, ``since`` inclusive and
    ``until`` exclusive. Hashable, so a page can cache on it."""

    since: float | None = None
    until: float | None = None
    providers: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    pages: tuple[str, ...] = ()
    prompts: tuple[str, ...] = ()
    group_ids: tuple[str, ...] = ()  # a chat's or a comparison's runs
    labels: tuple[str, ...] = ()  # compare targets ("A", "B", ...)
    not_providers: tuple[str, ...] = ()
    streamed: bool = False  # only runs that streamed at least one chunk

    def narrowed(self, **fields: Any) -> RunFilter:
        """This filter with some fields replaced (e.g. one provider and model)."""
        from dataclasses import replace

        return replace(self, **fields)


_IN_COLUMNS = (("providers", "provider"), ("models", "model"), ("statuses", "status"),
               ("pages", "page"), ("prompts", "prompt"), ("group_ids", "group_id"),
               ("labels", "label"))


def where(flt: RunFilter, owner: str | None, table: str = "") -> tuple[str, list[Any]]:
    """The ``WHERE`` clause (with ``WHERE``, or empty) over ``runs`` columns and its
    parameters; ``table`` prefixes the columns (``"runs."`` in a join); ``owner`` (not
    ``None``) keeps one user's runs."""
    parts: list[str] = []
    params: list[Any] = []
    if flt.since is not None:
        parts.append(f"{table}created_at >= ?")
        params.append(float(flt.since))
    if flt.until is not None:
        parts.append(f"{table}created_at < ?")
        params.append(float(flt.until))
    for field_name, column in _IN_COLUMNS:
        values = getattr(flt, field_name)
        if values:
            parts.append(f"{table}{column} IN ({','.join('?' * len(values))})")
            params.extend(values)
    if flt.not_providers:
        parts.append(f"{table}provider NOT IN ({','.join('?' * len(flt.not_providers))})")
        params.extend(flt.not_providers)
    if flt.streamed:
        parts.append(f"{table}chunk_count > 0")
    if owner is not None:
        parts.append(f"{table}owner = ?")
        params.append(owner)
    return (" WHERE " + " AND ".join(parts) if parts else ""), params
