"""Anthropic Messages streaming, as bytes: ``event: <type>\\ndata: {json}\\n\\n`` frames from
message_start to message_stop; errors as ``{"type": "error", "error": {...}}``."""

from __future__ import annotations

import json
from typing import Any

from tests.wire.server import Reply

__all__ = ["event", "text_delta", "stream", "error", "error_event", "models_body", "MALFORMED"]

MALFORMED = b'event: content_block_delta\ndata: {"type": "content_block_delta", "index": \n\n'


def event(type_: str, data: dict[str, Any]) -> bytes:
    return f"event: {type_}\ndata: {json.dumps({'type': type_, **data})}\n\n".encode()


def stream(texts: list[str], *, input_tokens: int = 13, output_tokens: int = 9,
           stop_reason: str = "end_turn", stop: bool = True,
           model: str = "claude-test") -> tuple[bytes, ...]:
    """A whole answer; ``stop=False`` leaves out message_delta and message_stop (truncated)."""
    frames = [
        event("message_start", {"message": {
            "id": "msg_1", "type": "message", "role": "assistant", "model": model,
            "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": 1},
        }}),
        event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
        event("ping", {}),
    ]
    frames += [text_delta(t) for t in texts]
    if stop:
        frames += [
            event("content_block_stop", {"index": 0}),
            event("message_delta", {"delta": {"stop_reason": stop_reason, "stop_sequence": None},
                                    "usage": {"output_tokens": output_tokens}}),
            event("message_stop", {}),
        ]
    return tuple(frames)


def text_delta(text: str) -> bytes:
    return event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": text}})


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
