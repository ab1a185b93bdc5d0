"""OpenAI Chat Completions streaming, as bytes: ``data: {chunk}\\n\\n`` frames, an optional
usage chunk (``stream_options.include_usage``: ``choices == []``), then ``data: [DONE]``."""

from __future__ import annotations

import json
from typing import Any

from tests.wire.server import Reply

__all__ = ["chunk", "stream", "error", "stream_error_frame", "models_body", "DONE", "MALFORMED"]

DONE = b"data: [DONE]\n\n"
MALFORMED = b'data: {"id": "chatcmpl-1", "choices": [{"delta": \n\n'


def _frame(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def chunk(content: str | None = None, finish: str | None = None, *, role: bool = False,
          model: str = "gpt-test") -> bytes:
    delta: dict[str, Any] = {}
    if role:
        delta["role"] = "assistant"
    if content is not None:
        delta["content"] = content
    return _frame({
        "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    })


def stream(texts: list[str], *, usage: tuple[int, int] | None = (11, 7),
           finish: str | None = "stop", done: bool = True,
           model: str = "gpt-test") -> tuple[bytes, ...]:
    """A whole answer: a role chunk, one chunk per text, the finish chunk, usage, [DONE].
    ``finish=None`` and ``done=False`` leave the terminators out (a truncated stream)."""
    frames = [chunk("", role=True, model=model)]
    frames += [chunk(t, model=model) for t in texts]
    if finish is not None:
        frames.append(chunk(None, finish, model=model))
    if usage is not None:
        frames.append(_frame({
            "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": model,
            "choices": [], "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1],
                                     "total_tokens": usage[0] + usage[1]},
        }))
    if done:
        frames.append(DONE)
    return tuple(frames)


def error(status: int, message: str, *, type_: str = "invalid_request_error",
          code: str | None = None, headers: dict[str, str] | None = None) -> Reply:
    body = {"error": {"message": message, "type": type_, "param": None, "code": code}}
    return Reply(status=status, body=body, headers=headers or {})


def stream_error_frame(message: str, type_: str = "server_error") -> bytes:
    """What OpenAI sends when generation fails after the stream began."""
    return _frame({"error": {"message": message, "type": type_, "param": None, "code": None}})


def models_body(ids: list[str]) -> dict[str, Any]:
    return {"object": "list",
            "data": [{"id": i, "object": "model", "created": 0, "owned_by": "test"} for i in ids]}
