"""OpenAI Chat Completions streaming, as bytes: ``data: {chunk}\\n\\n`` frames, an optional
usage chunk (``stream_options.include_usage``: ``choices == []``), then ``data: [DONE]``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from tests.wire.server import Reply

__all__ = ["chunk", "reasoning_chunk", "usage_chunk", "stream", "error", "stream_error_frame",
           "models_body", "DONE", "MALFORMED"]

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


def reasoning_chunk(text: str, *, field: str = "reasoning_content",
                    model: str = "gpt-test") -> bytes:
    """A thinking delta as compatible servers send it: ``reasoning_content`` (DeepSeek,
    llama.cpp, older vLLM) or ``reasoning`` (newer vLLM), with ``content: null``. ``field``
    may name both, space-separated, for a server that sends the text under both names."""
    delta: dict[str, Any] = {"content": None}
    delta.update({name: text for name in field.split()})
    return _frame({
        "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
    })


def usage_chunk(prompt: int, completion: int, *, reasoning: int | None = None,
                cached: int | None = None, model: str = "gpt-test") -> bytes:
    """The ``include_usage`` chunk; ``reasoning`` adds OpenAI's
    ``completion_tokens_details.reasoning_tokens`` (part of ``completion``), ``cached`` its
    ``prompt_tokens_details.cached_tokens`` (part of ``prompt``)."""
    usage: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion,
                             "total_tokens": prompt + completion}
    if reasoning is not None:
        usage["completion_tokens_details"] = {"reasoning_tokens": reasoning,
                                              "accepted_prediction_tokens": 0,
                                              "rejected_prediction_tokens": 0}
    if cached is not None:
        usage["prompt_tokens_details"] = {"cached_tokens": cached, "audio_tokens": 0}
    return _frame({
        "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": model,
        "choices": [], "usage": usage,
    })


def stream(texts: list[str], *, usage: tuple[int, int] | None = (11, 7),
           finish: str | None = "stop", done: bool = True, model: str = "gpt-test",
           reasoning: Sequence[str] = (), reasoning_field: str = "reasoning_content",
           reasoning_tokens: int | None = None) -> tuple[bytes, ...]:
    """A whole answer: a role chunk, one chunk per ``reasoning`` text (under
    ``reasoning_field``), one per text, the finish chunk, usage, [DONE].
    ``finish=None`` and ``done=False`` leave the terminators out (a truncated stream)."""
    frames = [chunk("", role=True, model=model)]
    frames += [reasoning_chunk(t, field=reasoning_field, model=model) for t in reasoning]
    frames += [chunk(t, model=model) for t in texts]
    if finish is not None:
        frames.append(chunk(None, finish, model=model))
    if usage is not None:
        frames.append(usage_chunk(*usage, reasoning=reasoning_tokens, model=model))
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
