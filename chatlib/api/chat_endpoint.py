"""The streaming chat API: ``POST /chat`` answered over Server-Sent Events, served by the
same process and port as the UI (``app.py`` adds these routes to its ``st.App``).

The contract (the seed's)::

    POST /chat  {"message": "...", "conversationHistory": [{"role", "content"}, ...],
                 optional: "provider", "model", "maxTokens", "temperature", "systemPrompt"}
    200 text/event-stream, Cache-Control: no-cache
        data: {"reasoning": "<text>"}    the model's thinking, when it streams any, in
                                         batches, always before the answer text after it
        data: {"content": "<text>"}      one event per batch of text, as it arrives
        data: [DONE]                     the answer is complete
        data: {"error": "<message>"}     instead of [DONE] when the provider fails mid-way
    400 {"error": ...}  before streaming: invalid JSON or Unicode, no message, a bad history,
                        an unknown provider or model, over the token budget
    401 {"error": ...}  when CHATLAB_API_TOKEN is set and the bearer token is not it
    403 {"error": ...}  when the app has sign-in set up and no CHATLAB_API_TOKEN: the API
                        would spend the server's keys for anyone who reaches the port
    403 {"error": ...}  a browser request from another site (its ``Origin`` is neither this
                        server nor one of CHATLAB_API_CORS_ORIGINS)
    405 {"error": ...}  any method but POST (and OPTIONS, a CORS preflight, when CORS is set)
    413 {"error": ...}  a body over 1,000,000 bytes
    415 {"error": ...}  a body that is not ``Content-Type: application/json``
    429 {"error": ...}  over the per-client limit (CHATLAB_API_RATE_PER_MINUTE), Retry-After

The bytes are the seed's: each event is ``data: ...`` ended by ``\n\n`` (LF, not the CRLF
that sse-starlette writes by default), so a client that splits reads on ``"\n\n"`` and
compares ``[DONE]`` exactly works.

Other websites cannot make the app act: a page elsewhere can send a "simple" request (a
``text/plain`` form body) with no CORS preflight, and the server would spend its keys even
though the page never reads the answer. So a body must be JSON (a content type no page can
send cross-site without a preflight the server refuses), and a request whose ``Origin``
header names another site is refused unless that site is listed in CORS origins.

Every answer goes the one streaming path (``StreamPump``: timestamps in its reader thread,
``fit_to_budget`` first) and is recorded in the run store with ``page="api"``, so it shows
on the Stats page. A client that goes away (an ``AbortController.abort()``) stops the pump,
which closes the provider's stream at once. Frames are written by sse-starlette.
"""

from __future__ import annotations

import hmac
import json
import math
import os
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from chatlib.core.conversation import fit_to_budget
from chatlib.core.errors import MissingKeyError, OverBudgetError, ProviderError
from chatlib.providers.base import Provider
from chatlib.providers import named
from chatlib.engine.client import new_pump
from chatlib.streaming.pump import StreamPump
from chatlib.providers.ratelimit import RateLimiter
from chatlib.runs.record import RunRecord
from chatlib.store import RunStore
from chatlib.core.tokens import TokenCounter
from chatlib.core.types import Message, Settings

__all__ = [
    "ApiConfig", "ChatRequest", "ApiError", "parse_chat_request", "api_routes", "check_origin",
    "check_content_type", "read_body",
]

DEMO_PAGE = Path(__file__).parent.parent / "data" / "api_demo.html"
_MAX_BODY = 1_000_000  # bytes: a chat request is text, not a file


@dataclass(frozen=True)
class ApiConfig:
    """What the environment sets; read once when the routes are made."""

    token: str | None = None  # CHATLAB_API_TOKEN: required as "Authorization: Bearer ..."
    per_minute: int = 60  # CHATLAB_API_RATE_PER_MINUTE per client address (0: no limit)
    budget: int = 2048  # tokens of context sent, as the chat page's default
    max_tokens: int = 256
    temperature: float = 0.7
    system_prompt: str = "You are a helpful assistant. Answer briefly and clearly."
    closed_without_token: bool = False  # the UI asks to sign in: so must the API
    # CHATLAB_API_CORS_ORIGINS: other sites whose pages may call the API (app.py also gives
    # them to the CORS middleware); every other Origin but the server's own is refused.
    cors_origins: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, *,
                 closed_without_token: bool = False) -> ApiConfig:
        env = dict(os.environ) if env is None else env
        origins = env.get("CHATLAB_API_CORS_ORIGINS", "")
        return cls(token=env.get("CHATLAB_API_TOKEN") or None,
                   per_minute=int(env.get("CHATLAB_API_RATE_PER_MINUTE", "60")),
                   closed_without_token=closed_without_token,
                   cors_origins=tuple(o.strip().rstrip("/") for o in origins.split(",")
                                      if o.strip()))


@dataclass(frozen=True)
class ChatRequest:
    message: str
    history: list[Message]
    provider: str
    model: str | None
    max_tokens: int | None
    temperature: float | None
    system_prompt: str | None


class ApiError(Exception):
    """A request refused before streaming: an HTTP status and a message for the client."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        return JSONResponse({"error": str(self)}, self.status, headers=self.headers)


def _has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _text(value: Any, field: str, *, required: bool = False) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise ApiError(400, f"'{field}' must be a string.")
    if _has_lone_surrogate(value):  # "\ud800" in JSON: not text any model could take
        raise ApiError(400, f"'{field}' holds invalid Unicode (a lone surrogate).")
    return value


def _number(value: Any, field: str, low: float, high: float, kind: type) -> Any:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
            kind is int and not float(value).is_integer()):
        raise ApiError(400, f"'{field}' must be a{'n integer' if kind is int else ' number'}.")
    if not low <= value <= high:
        raise ApiError(400, f"'{field}' must be between {low:g} and {high:g}.")
    return kind(value)


def parse_chat_request(body: bytes) -> ChatRequest:
    """The request, or ``ApiError`` (413 too large, else 400) saying what is wrong with it."""
    if len(body) > _MAX_BODY:
        raise _too_large()
    try:
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise ApiError(400, "The request body is not valid UTF-8.") from None
    except ValueError as exc:
        raise ApiError(400, f"The request body is not valid JSON ({exc}).") from None
    if not isinstance(data, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    message = _text(data.get("message"), "message", required=True) or ""
    if not message.strip():
        raise ApiError(400, "'message' is empty: send the text to answer.")
    history_in = data.get("conversationHistory", [])
    if not isinstance(history_in, list):
        raise ApiError(400, "'conversationHistory' must be a list of {role, content}.")
    history = []
    for i, item in enumerate(history_in):
        if not isinstance(item, dict) or item.get("role") not in ("user", "assistant"):
            raise ApiError(400, f"conversationHistory[{i}] must have a role of 'user' or "
                           "'assistant' and a content string.")
        history.append(Message(item["role"], _text(item.get("content"), f"conversationHistory"
                                                   f"[{i}].content", required=True) or ""))
    return ChatRequest(
        message=message, history=history,
        provider=_text(data.get("provider"), "provider") or "local",
        model=_text(data.get("model"), "model"),
        max_tokens=_number(data.get("maxTokens"), "maxTokens", 1, 32_000, int),
        temperature=_number(data.get("temperature"), "temperature", 0, 2, float),
        system_prompt=_text(data.get("systemPrompt"), "systemPrompt"),
    )


def _too_large() -> ApiError:
    return ApiError(413, f"The request body is over {_MAX_BODY:,} bytes: a chat request is "
                    "text; send a shorter message or conversationHistory.")


def resolve_provider(name: str, model: str | None) -> tuple[Provider, str, TokenCounter]:
    """The provider and model a request names (``chatlib.providers.named``); ``ApiError(400)``
    for an unknown one, a missing key or model file."""
    try:
        return named.resolve_provider(name, model)
    except MissingKeyError as exc:  # the page's words say "the sidebar": not for a caller
        raise ApiError(400, f"This server has no {exc.provider_label} API key (its operator "
                       f"sets {' or '.join(exc.key_names)}; a request cannot bring one): name "
                       "another 'provider', such as 'local'.") from None
    except ProviderError as exc:  # nothing was sent
        raise ApiError(400, exc.user_message) from None


def check_origin(origin: str | None, host: str | None, allowed: tuple[str, ...]) -> None:
    """``ApiError(403)`` unless the request comes from no browser page (no ``Origin``), a
    page of this server, or a listed site."""
    if origin is None:
        return  # curl, the SDKs, servers: not a page another site made the browser send
    origin = origin.rstrip("/")
    if origin in allowed or "*" in allowed:
        return
    if origin != "null" and host and origin.split("://", 1)[-1] == host:
        return  # the demo page at /chat/demo, or any page the server itself serves
    raise ApiError(403, f"Requests from pages of {origin} are not allowed: this server "
                   "accepts pages of its own and those listed in CHATLAB_API_CORS_ORIGINS.")


def check_content_type(content_type: str | None) -> None:
    """``ApiError(415)`` unless the body is declared JSON."""
    if (content_type or "").split(";", 1)[0].strip().lower() != "application/json":
        raise ApiError(415, "The request body must be JSON, sent with "
                       "'Content-Type: application/json'.")


async def read_body(request: Request) -> bytes:
    """The body, read no further than the limit (``ApiError(413)`` past it)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > _MAX_BODY:
        raise _too_large()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_BODY:
            raise _too_large()
    return bytes(body)


class _ClientLimits:
    """A ``RateLimiter`` per client address."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._limiters: dict[str, RateLimiter] = {}
        self._lock = threading.Lock()

    def check(self, client: str) -> None:
        if self.per_minute <= 0:
            return
        with self._lock:
            limiter = self._limiters.setdefault(client, RateLimiter(self.per_minute))
        wait = limiter.wait_s()
        if wait > 0:
            raise ApiError(429, f"Too many requests: at most {self.per_minute} a minute per "
                           f"client. Try again in {math.ceil(wait)} s.",
                           {"Retry-After": str(math.ceil(wait))})
        limiter.acquire()


def _events(pump: StreamPump) -> AsyncIterator[dict[str, str]]:
    """The SSE events of one answer; stops the pump if the client goes away."""

    async def events() -> AsyncIterator[dict[str, str]]:
        thinking: list[str] = []  # filled by the reader's callback, in the worker thread
        batches = pump.text_batches(on_reasoning=thinking.append)
        try:
            while True:
                batch = await run_in_threadpool(next, batches, None)
                # The callback ran inside that next(): its thinking precedes this batch.
                while thinking:
                    yield {"data": json.dumps({"reasoning": thinking.pop(0)})}
                if batch is None:
                    break
                if batch:
                    yield {"data": json.dumps({"content": batch})}
            record = await run_in_threadpool(pump.wait, 30)
            if record is not None and record.status == "error":
                yield {"data": json.dumps({"error": record.error})}
            else:
                yield {"data": "[DONE]"}
        finally:  # the client disconnected (cancelled) or the answer ended
            if not pump.done:
                pump.stop()

    return events()


def api_routes(
    config: ApiConfig | None = None, store_factory: Callable[[], RunStore] = RunStore
) -> list[Route]:
    """The API's Starlette routes (``app.py`` passes them to ``st.App(routes=...)``)."""
    config = config or ApiConfig.from_env()
    limits = _ClientLimits(config.per_minute)
    stores: list[RunStore] = []

    def store() -> RunStore:
        if not stores:
            stores.append(store_factory())
        return stores[0]

    async def chat(request: Request) -> Response:
        try:
            if request.method != "POST":
                # Without this route Streamlit's page would answer 200 to GET /chat.
                raise ApiError(405, "POST /chat with a JSON body; see /chat/demo.",
                               {"Allow": "POST"})
            check_origin(request.headers.get("origin"), request.headers.get("host"),
                         config.cors_origins)
            check_content_type(request.headers.get("content-type"))
            if config.token is None and config.closed_without_token:
                raise ApiError(403, "The API is closed: this Chat Lab asks its users to sign "
                               "in, so the API needs a token too (set CHATLAB_API_TOKEN).")
            if config.token is not None:
                given = request.headers.get("authorization", "")
                if not hmac.compare_digest(given.encode(), f"Bearer {config.token}".encode()):
                    raise ApiError(401, "A bearer token is required (Authorization: Bearer "
                                   "<CHATLAB_API_TOKEN>).", {"WWW-Authenticate": "Bearer"})
            limits.check(request.client.host if request.client else "unknown")
            parsed = parse_chat_request(await read_body(request))
            pump = await run_in_threadpool(_start, parsed, config, store)
        except ApiError as exc:
            return exc.response()
        return EventSourceResponse(_events(pump), headers={"Cache-Control": "no-cache"},
                                   ping=15, sep="\n")

    async def demo(_request: Request) -> Response:
        return HTMLResponse(DEMO_PAGE.read_text(encoding="utf-8"))

    return [Route("/chat", chat, methods=["POST", "GET", "HEAD", "PUT", "PATCH", "DELETE"]),
            Route("/chat/demo", demo, methods=["GET"])]


def _start(parsed: ChatRequest, config: ApiConfig, store: Callable[[], RunStore]) -> StreamPump:
    """Fit the history to the budget and start the answer (in a worker thread: loading the
    embedded model or tokenizing a long history must not block the event loop)."""
    provider, model, counter = resolve_provider(parsed.provider, parsed.model)
    system_prompt = (parsed.system_prompt if parsed.system_prompt is not None
                     else config.system_prompt)
    settings = Settings(
        model=model, system_prompt=system_prompt,
        max_tokens=parsed.max_tokens or config.max_tokens,
        temperature=parsed.temperature if parsed.temperature is not None else config.temperature,
    )
    history = [*parsed.history, Message("user", parsed.message)]
    try:
        fit = fit_to_budget(history, config.budget, counter, system_prompt)
    except OverBudgetError as exc:
        raise ApiError(400, f"'message' needs {exc.needed} tokens (plus {exc.system} for the "
                       f"system prompt) but the API's token budget is {exc.budget}: send a "
                       "shorter 'message' or 'systemPrompt'.") from None
    except ProviderError as exc:
        raise ApiError(400, exc.user_message) from None

    def record(run: RunRecord) -> None:
        store().add(run)

    return new_pump(provider, fit.messages, settings, counter=counter, input_tokens=fit.tokens,
                    input_source=counter.source, on_done=record,
                    record_fields={"page": "api"}).start()

