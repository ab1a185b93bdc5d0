"""Anthropic Messages streaming, as bytes: ``event: <type>\\ndata: {json}\\n\\n`` frames from
message_start to message_stop; errors as ``{"type": "error", "error": {...}}``."""

from __future__ import annotations

import json
from typing import Any

from tests.wire.server import Reply

__all__ = ["event", "text_delta", "stream", "thinking_block", "redacted_thinking_block",
           "error", "error_event", "models_body", "MALFORMED"]

MALFORMED = b'event: content_block_delta\ndata: {"type": "content_block_delta", "index": \n\n'


def event(type_: str, data: dict[str, Any]) -> bytes:
    return f"event: {type_}\ndata: {json.dumps({'type': type_, **data})}\n\n".encode()


def stream(texts: list[str], *, input_tokens: int = 13, output_tokens: int = 9,
           stop_reason: str = "end_turn", stop: bool = True, model: str = "claude-test",
           before: tuple[bytes, ...] = (), cache_read: int | None = None) -> tuple[bytes, ...]:
    """A whole answer; ``stop=False`` leaves out message_delta and message_stop (truncated).
    ``before``: blocks that come before the text block (``thinking_block(...)``, ...), which
    then takes the next index. ``texts=[]`` with ``before``: no text block at all (an answer
    cut off while thinking). ``cache_read``: input tokens read from the prompt cache (Anthropic
    counts them apart from ``input_tokens``)."""
    start_usage: dict[str, Any] = {"input_tokens": input_tokens, "output_tokens": 1}
    if cache_read is not None:
        start_usage["cache_read_input_tokens"] = cache_read
    frames = [
        event("message_start", {"message": {
            "id": "msg_1", "type": "message", "role": "assistant", "model": model,
            "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": start_usage,
        }}),
        *before,
    ]
    index = sum(1 for f in before if f.startswith(b"event: content_block_start"))
    if texts or not index:
        frames += [
            event("content_block_start",
                  {"index": index, "content_block": {"type": "text", "text": ""}}),
            event("ping", {}),
        ]
        frames += [text_delta(t, index) for t in texts]
        if stop:
            frames.append(event("content_block_stop", {"index": index}))
    if stop:
        frames += [
            event("message_delta", {"delta": {"stop_reason": stop_reason, "stop_sequence": None},
                                    "usage": {"output_tokens": output_tokens}}),
            event("message_stop", {}),
        ]
    return tuple(frames)


def text_delta(text: str, index: int = 0) -> bytes:
    return event("content_block_delta",
                 {"index": index, "delta": {"type": "text_delta", "text": text}})


def thinking_block(texts: list[str], index: int = 0, *, signature: str = "EqQBCkgIAhABGAIi",
                   stop: bool = True) -> tuple[bytes, ...]:
    """A ``thinking`` block: start, one ``thinking_delta`` per text, the ``signature_delta``
    the API sends just before the block's stop. ``stop=False``: cut off mid-thought."""
    frames = [event("content_block_start", {"index": index, "content_block": {
        "type": "thinking", "thinking": "", "signature": ""}})]
    frames += [event("content_block_delta", {"index": index, "delta": {
        "type": "thinking_delta", "thinking": t}}) for t in texts]
    if stop:
        frames += [
            event("content_block_delta", {"index": index, "delta": {
                "type": "signature_delta", "signature": signature}}),
            event("content_block_stop", {"index": index}),
        ]
    return tuple(frames)


def redacted_thinking_block(index: int = 0, data: str = "EmwKAhgBEgy3va3pzix") -> tuple[bytes, ...]:
    """A ``redacted_thinking`` block: the whole (encrypted) block in its start, no deltas."""
    return (
        event("content_block_start", {"index": index, "content_block": {
            "type": "redacted_thinking", "data": data}}),
        event("content_block_stop", {"index": index}),
    )


def error_event(type_: str = "overloaded_error", message: str = "Overloaded") -> bytes:
    return event("error", {"error": {"type": type_, "message": message}})


def error(status: int, type_: str, message: str, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status=status, headers=headers or {},
                 body={"type": "error", "error": {"type": type_, "message": message}})


def models_body(ids: list[str]) -> dict[str, Any]:
    data = [{"id": i, "type": "model", "display_name": i, "created_at": "2026-01-01T00:00:00Z"}
            for i in ids]
    return {"data": data, "has_more": False,
            "first_id": ids[0] if ids else None, "last_id": ids[-1] if ids else None}
