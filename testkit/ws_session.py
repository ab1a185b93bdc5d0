"""A light client for ONE Streamlit session over its real websocket protocol: no browser.

``WsSession`` speaks what Streamlit's frontend speaks on ``/_stcore/stream`` (subprotocol
``streamlit``, protobuf ``BackMsg`` up, ``ForwardMsg`` down, parsed with
``streamlit.proto``), enough to drive a page as a user would:

- ``connect()`` opens the websocket (127.0.0.1 only) and sends the initial rerun;
- every rerun it sends carries the widget states the app's elements declare, as a browser
  keeps them: a widget's default (or the value the script set, ``set_value``) until the
  user changes it; states of widgets the last complete run did not draw are dropped; the
  query string the app set (``page_info_changed``) and the current page's hash go along;
- ``select(label, option)`` picks an option of a selectbox (by its label and the option's
  text, as shown), ``click(label)`` presses a button, ``send_chat(text)`` submits the chat
  box (a trigger-like value: sent with one rerun, then cleared);
- ``watch(needle, below=...)`` records when a text first arrived in a delta (optionally
  only below, in page order, an element showing another text in the same script run:
  "the answer under this prompt"), and the text it last arrived with;
- the frontend's message cache is kept too (hashes of cacheable elements go with each
  rerun; a ``ref_hash`` the server sends instead of an element is resolved from it), so the
  server does the work, and sends the bytes, it does for a browser;
- ``errors`` lists every exception element and ``st.error`` alert received (and a
  websocket that closed while in use); ``running`` / ``last_finish`` / ``idle`` tell the
  session's script state (``session_status_changed``, ``script_finished``).

Every ``ForwardMsg`` is parsed once, on receipt, stamped with ``time.time()``; only a small
summary of each is kept (``log``: a bounded deque), and no bytes but the cache's (cacheable
elements, dropped two runs after their last use, as the frontend drops them), so a hundred
sessions at ~25 messages/s each stay cheap for the driver. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import urlparse

from streamlit.proto.Alert_pb2 import Alert
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ClientState_pb2 import ClientState
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.NumberInput_pb2 import NumberInput
from streamlit.proto.Slider_pb2 import Slider
from streamlit.proto.WidgetStates_pb2 import WidgetState
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

__all__ = ["WsSession", "TextWatch", "Widget", "Received", "FINISHED", "EARLY_FOR_RERUN",
           "chat_session"]

FINISHED = ForwardMsg.FINISHED_SUCCESSFULLY
EARLY_FOR_RERUN = ForwardMsg.FINISHED_EARLY_FOR_RERUN
# The element field holding the text a user reads, per element type.
_TEXT_FIELD = {"markdown": "body", "heading": "body", "text": "body", "alert": "body",
               "exception": "message", "code": "code_text"}
_WIDGETS = ("selectbox", "text_input", "text_area", "number_input", "slider", "checkbox",
            "chat_input", "button")

Path = tuple[int, ...]


class Received(NamedTuple):
    """What is kept of one ForwardMsg: its receipt time, type, delta path, element type."""

    t: float
    kind: str  # ForwardMsg's type: "delta", "new_session", "script_finished", ...
    path: Path  # metadata.delta_path (deltas only)
    element: str  # the element or block type (deltas only)


@dataclass
class Widget:
    """A widget the current script run drew."""

    id: str
    kind: str  # the element type: "selectbox", "chat_input", ...
    label: str  # its label (a chat input's placeholder)
    path: Path
    options: list[str] = field(default_factory=list)  # a selectbox's options, as shown
    disabled: bool = False


@dataclass
class TextWatch:
    """When ``needle`` first arrived in a delta received at or after ``since`` (below an
    element showing ``below``, and in the root container ``root`` (0: main, 1: sidebar),
    if given), and the text it last arrived with."""

    needle: str
    since: float
    below: str | None = None
    root: int | None = None
    first_t: float | None = None
    last_t: float | None = None
    last_text: str = ""
    hits: int = 0  # deltas it arrived in (a streamed answer: one per update)
    run: int = -1  # the script run (counted by the session) of its first arrival
    # Paths of this run's elements showing ``below``, by root container.
    _anchors: dict[int, list[Path]] = field(default_factory=dict, repr=False)

    def _see(self, t: float, run: int, path: Path, text: str) -> bool:
        """Note an element's text; True when it is a hit."""
        if self.below is not None and self.below in text:
            self._anchors.setdefault(path[0], []).append(path)
        if t < self.since or self.needle not in text or (
                self.root is not None and path[0] != self.root):
            return False
        if self.below is not None and not any(
                a < path for a in self._anchors.get(path[0], ())):
            return False
        if self.first_t is None:
            self.first_t, self.run = t, run
        self.last_t, self.last_text = t, text
        self.hits += 1
        return True


class WsSession:
    """One Streamlit session over a websocket (see the module docstring)."""

    def __init__(self, url: str, *, log_size: int = 5_000, open_timeout_s: float = 30,
                 context: dict[str, Any] | None = None) -> None:
        parsed = urlparse(url)
        if parsed.hostname != "127.0.0.1":  # load never leaves the machine
            raise ValueError(f"ws sessions target 127.0.0.1 only, not {parsed.hostname}")
        self.ws_url = f"ws://127.0.0.1:{parsed.port}{parsed.path.rstrip('/')}/_stcore/stream"
        self.url = url
        self.open_timeout_s = open_timeout_s
        self.context = context or {"timezone": "UTC", "timezone_offset": 0,
                                   "locale": "en-US", "url": url}
        self.log: deque[Received] = deque(maxlen=log_size)
        self.messages = 0  # ForwardMsgs received
        self.bytes = 0  # their size on the wire (payloads)
        self.errors: list[str] = []
        self.session_id = ""
        self.page_script_hash = ""
        self.query_string = ""
        self.run = 0  # script runs started (one new_session each)
        self.running = False  # session_status_changed.script_is_running
        self.last_finish: int | None = None  # the last script_finished status
        self.last_change = 0.0  # time.time() of the last run start, finish or status
        self.widgets: dict[str, Widget] = {}  # drawn by the current run, by id
        self.closed: str | None = None  # why the websocket closed, once it has
        self._states: dict[str, WidgetState] = {}  # what the next rerun carries
        self._run_widgets: set[str] = set()
        self._widget_at: dict[Path, str] = {}  # the current run's widgets by delta path
        # The frontend's ForwardMsg cache: hash -> [run count it was last used, its bytes].
        # Its hashes go with every rerun; the server then sends a reference (``ref_hash``)
        # instead of an element this client holds. Aged as the frontend ages it.
        self._cache: dict[str, list[Any]] = {}
        self._cache_run = 0
        self._cache_age = 2  # new_session.config.max_cached_message_age
        self.refs = 0  # references received (resolved from the cache)
        self._watches: list[TextWatch] = []
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self._closing = False
        self._asked = False  # a rerun was sent and no run has started since

    # -- connection --------------------------------------------------------------------
    async def connect(self) -> WsSession:
        """Open the websocket and send the initial rerun (what a page load does)."""
        self._ws = await connect(
            self.ws_url, subprotocols=["streamlit"],  # type: ignore[list-item]
            compression=None, proxy=None, open_timeout=self.open_timeout_s,
            max_size=64 * 2**20, max_queue=None, close_timeout=5)
        self._reader = asyncio.create_task(self._read(), name="ws-session-read")
        await self.rerun()
        return self

    async def close(self) -> None:
        self._closing = True
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            try:
                await asyncio.wait_for(self._reader, 10)
            except (TimeoutError, asyncio.CancelledError):
                self._reader.cancel()

    async def _read(self) -> None:
        assert self._ws is not None
        ws = self._ws
        try:
            while True:
                data = await ws.recv(decode=False)
                t = time.time()
                msg = ForwardMsg()
                msg.ParseFromString(data)
                self.messages += 1
                self.bytes += len(data)
                if msg.metadata.cacheable and msg.hash:
                    self._cache.setdefault(msg.hash, [0, data])[0] = self._cache_run
                elif msg.ref_hash:
                    held = self._cached(msg)
                    if held is None:
                        continue
                    msg = held
                self._on_message(t, msg)
        except ConnectionClosed as exc:
            if not self._closing:
                self.closed = f"websocket closed by the server: {exc}"
                self.errors.append(self.closed)
            else:
                self.closed = "closed by the client"
        except Exception as exc:  # a message this client cannot handle: an error of the run
            self.closed = f"reader failed: {type(exc).__name__}: {exc}"
            self.errors.append(self.closed)
        finally:
            self._changed.set()

    # -- what arrives ------------------------------------------------------------------
    def _cached(self, ref: ForwardMsg) -> ForwardMsg | None:
        """The message a ``ref_hash`` stands for, with the reference's metadata (its delta
        path), as the frontend's message cache resolves it."""
        entry = self._cache.get(ref.ref_hash)
        self.refs += 1
        if entry is None:
            self.errors.append(f"cached message missing: {ref.ref_hash}")
            return None
        entry[0] = self._cache_run
        msg = ForwardMsg()
        msg.ParseFromString(entry[1])
        msg.metadata.CopyFrom(ref.metadata)
        return msg

    def _age_cache(self) -> None:
        """After a run (not one stopped for a rerun): forget messages unused for more than
        ``max_cached_message_age`` runs, as the frontend does."""
        self._cache_run += 1
        oldest = self._cache_run - self._cache_age
        for h in [h for h, (used, _) in self._cache.items() if used < oldest]:
            del self._cache[h]

    def _on_message(self, t: float, msg: ForwardMsg) -> None:
        kind = msg.WhichOneof("type") or ""
        if kind == "delta":
            path = tuple(msg.metadata.delta_path)
            self.log.append(Received(t, kind, path, self._on_delta(t, path, msg.delta)))
            return
        self.log.append(Received(t, kind, (), ""))
        if kind == "new_session":
            ns = msg.new_session
            self.run += 1
            self._asked = False
            self.widgets = {}
            self._widget_at = {}
            self._run_widgets = set()
            for w in self._watches:
                w._anchors = {}
            if ns.HasField("initialize"):
                self.session_id = ns.initialize.session_id
            if ns.page_script_hash:
                self.page_script_hash = ns.page_script_hash
            if ns.config.max_cached_message_age:
                self._cache_age = ns.config.max_cached_message_age
        elif kind == "navigation":
            if msg.navigation.page_script_hash:
                self.page_script_hash = msg.navigation.page_script_hash
        elif kind == "page_info_changed":
            self.query_string = msg.page_info_changed.query_string
        elif kind == "session_status_changed":
            self.running = msg.session_status_changed.script_is_running
        elif kind == "script_finished":
            self.last_finish = msg.script_finished
            if msg.script_finished != EARLY_FOR_RERUN:
                self._age_cache()
            if msg.script_finished == FINISHED:  # a complete run: as the frontend does
                for wid in [w for w in self._states if w not in self._run_widgets]:
                    del self._states[wid]
        elif kind == "session_event":
            event = msg.session_event.WhichOneof("type")
            if event == "script_compilation_exception":
                self.errors.append(f"script compilation error: "
                                   f"{msg.session_event.script_compilation_exception.message}")
        elif kind == "page_not_found":
            self.errors.append(f"page not found: {msg.page_not_found.page_name}")
        self.last_change = t
        self._changed.set()

    def _on_delta(self, t: float, path: Path, delta: Any) -> str:
        which = delta.WhichOneof("type")
        if self._widget_at:
            self._replaced(path, block=which == "add_block")
        if which != "new_element":
            return delta.add_block.WhichOneof("type") or "" if which == "add_block" else ""
        element = delta.new_element
        etype = element.WhichOneof("type") or ""
        text_field = _TEXT_FIELD.get(etype)
        if text_field is not None:
            body = getattr(element, etype)
            text = getattr(body, text_field)
            if etype == "exception":
                self.errors.append(f"exception shown: {body.type}: {text}"[:500])
            elif etype == "alert" and body.format == Alert.ERROR:
                self.errors.append(f"error shown: {text}"[:500])
            for w in self._watches:
                if w._see(t, self.run, path, text):
                    self._changed.set()
        elif etype in _WIDGETS:
            self._on_widget(path, etype, getattr(element, etype))
            self._changed.set()
        return etype

    def _replaced(self, path: Path, block: bool) -> None:
        """A delta at ``path`` replaces what was drawn there (and, for a block, under it)
        in this run: a widget that was there is gone (e.g. a button swapped for text)."""
        gone = [path] if path in self._widget_at else []
        if block:
            gone += [p for p in self._widget_at if p[:len(path)] == path and p != path]
        for p in gone:
            wid = self._widget_at.pop(p)
            self.widgets.pop(wid, None)
            self._run_widgets.discard(wid)

    def _on_widget(self, path: Path, kind: str, proto: Any) -> None:
        wid = proto.id
        label = proto.placeholder if kind == "chat_input" else proto.label
        options = list(proto.options) if kind == "selectbox" else []
        self.widgets[wid] = Widget(wid, kind, label, path, options, bool(proto.disabled))
        self._widget_at[path] = wid
        self._run_widgets.add(wid)
        if kind in ("button", "chat_input"):
            return  # triggers: a value only in the rerun that sends it
        state = _declared_state(kind, proto, have=wid in self._states)
        if state is not None:
            self._states[wid] = state

    def watch(self, needle: str, *, below: str | None = None, root: int | None = None,
              since: float | None = None) -> TextWatch:
        """Start recording when ``needle`` arrives (see ``TextWatch``); ``since`` defaults to
        now. Watch before sending what causes it: a run started since counts in full."""
        w = TextWatch(needle, time.time() if since is None else since, below, root)
        self._watches.append(w)
        return w

    def unwatch(self, w: TextWatch) -> None:
        if w in self._watches:
            self._watches.remove(w)

    @property
    def idle(self) -> bool:
        """The script is not running, its last run finished (not stopped for a rerun), and
        no rerun this client sent is still to start."""
        return not self._asked and not self.running and self.last_finish == FINISHED

    def widget(self, kind: str, label: str) -> Widget | None:
        """The current run's first widget of ``kind`` labelled ``label`` (page order)."""
        found = [w for w in self.widgets.values() if w.kind == kind and w.label == label]
        return min(found, key=lambda w: w.path) if found else None

    # -- waiting -----------------------------------------------------------------------
    async def wait_for(self, predicate: Any, timeout_s: float) -> bool:
        """Wait (at most ``timeout_s``) until ``predicate()`` holds; False if it did not
        (or the websocket closed first)."""
        deadline = time.monotonic() + timeout_s
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.closed is not None:
                return bool(predicate())
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.5))
            except TimeoutError:
                pass
        return True

    async def wait_idle(self, timeout_s: float = 30, settle_s: float = 0.3) -> bool:
        """Wait until ``idle`` holds and still holds ``settle_s`` later with nothing new (not
        the gap between a run and the rerun it asked for). Bounded by ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if not await self.wait_for(lambda: self.idle, max(0.0, left)):
                return False
            mark = self.last_change
            await asyncio.sleep(settle_s)
            if self.idle and self.last_change == mark:
                return True
            if time.monotonic() > deadline:
                return False

    # -- what the user does ------------------------------------------------------------
    async def rerun(self, extra: Iterable[WidgetState] = ()) -> float:
        """Send a rerun carrying the kept widget states (and ``extra`` triggers, this once);
        returns ``time.time()`` just before it was sent."""
        if self._ws is None:
            raise RuntimeError("not connected")
        state = ClientState(query_string=self.query_string,
                            page_script_hash=self.page_script_hash)
        state.cached_message_hashes.extend(self._cache)
        state.widget_states.widgets.extend(self._states.values())
        state.widget_states.widgets.extend(extra)
        state.context_info.timezone = self.context["timezone"]
        state.context_info.timezone_offset = self.context["timezone_offset"]
        state.context_info.locale = self.context["locale"]
        state.context_info.url = self.context["url"]
        msg = BackMsg()
        msg.rerun_script.CopyFrom(state)
        data = msg.SerializeToString()
        t = time.time()
        self._asked = True
        await self._ws.send(data)
        return t

    async def select(self, label: str, option: str, timeout_s: float = 30) -> float:
        """Choose ``option`` (its text as shown) in the selectbox labelled ``label``, drawn
        by the current run (waited for, bounded); the rerun it causes is not waited for."""
        if not await self.wait_for(lambda: self.widget("selectbox", label) is not None,
                                   timeout_s):
            raise TimeoutError(f"no selectbox {label!r} drawn within {timeout_s} s")
        box = self.widget("selectbox", label)
        assert box is not None
        if option not in box.options:
            raise ValueError(f"{label!r} offers no {option!r}: {box.options}")
        self._states[box.id] = WidgetState(id=box.id, string_value=option)
        return await self.rerun()

    def selected(self, label: str) -> str | None:
        """The option the selectbox labelled ``label`` holds in the kept states."""
        box = self.widget("selectbox", label)
        state = self._states.get(box.id) if box is not None else None
        return state.string_value if state is not None else None

    async def click(self, label: str, timeout_s: float = 30) -> float:
        """Press the button labelled ``label`` (a trigger, sent with one rerun)."""
        if not await self.wait_for(lambda: self.widget("button", label) is not None,
                                   timeout_s):
            raise TimeoutError(f"no button {label!r} drawn within {timeout_s} s")
        button = self.widget("button", label)
        assert button is not None
        return await self.rerun([WidgetState(id=button.id, trigger_value=True)])

    async def send_chat(self, text: str, placeholder: str | None = None,
                        timeout_s: float = 30) -> float:
        """Submit ``text`` in the chat box (the one with ``placeholder``, else the first
        drawn), once it is drawn and enabled (bounded); returns the send time."""
        def box() -> Widget | None:
            boxes = [w for w in self.widgets.values() if w.kind == "chat_input"
                     and (placeholder is None or w.label == placeholder) and not w.disabled]
            return boxes[0] if boxes else None

        if not await self.wait_for(lambda: box() is not None, timeout_s):
            raise TimeoutError(f"no enabled chat box drawn within {timeout_s} s")
        chat = box()
        assert chat is not None
        value = WidgetState(id=chat.id)
        value.chat_input_value.data = text
        return await self.rerun([value])


async def chat_session(url: str, provider: str, model: str, timeout_s: float) -> WsSession:
    """A session on the chat page, connected, with ``provider`` and ``model`` chosen and
    idle: what the load benches start each of theirs with."""
    s = WsSession(url)
    await s.connect()
    if not await s.wait_idle(timeout_s):
        raise TimeoutError("the first page load did not finish")
    if s.selected("Provider") != provider:
        await s.select("Provider", provider, timeout_s)
        if not await s.wait_idle(timeout_s):
            raise TimeoutError("the rerun after choosing the provider did not finish")
    await s.select("Model", model, timeout_s)
    if not await s.wait_idle(timeout_s):
        raise TimeoutError("the rerun after choosing the model did not finish")
    if s.selected("Model") != model or s.errors:
        raise RuntimeError(f"model not chosen ({s.selected('Model')}): {s.errors[:1]}")
    return s


def _declared_state(kind: str, proto: Any, have: bool) -> WidgetState | None:
    """The state a browser keeps for a widget just drawn: what the script set
    (``set_value``), else the default for a widget it has no state of yet."""
    if have and not proto.set_value:
        return None  # the user's (or the earlier) value stands
    state = WidgetState(id=proto.id)
    if kind == "selectbox":
        if proto.set_value:
            if not proto.HasField("raw_value"):
                return None
            state.string_value = proto.raw_value
        elif proto.HasField("default") and 0 <= proto.default < len(proto.options):
            state.string_value = proto.options[proto.default]
        else:
            return None
    elif kind in ("text_input", "text_area"):
        value = proto.value if proto.set_value else proto.default
        if not (proto.HasField("value") if proto.set_value else proto.HasField("default")):
            return None
        state.string_value = value
    elif kind == "number_input":
        has = proto.HasField("value") if proto.set_value else proto.HasField("default")
        if not has:
            return None
        value = proto.value if proto.set_value else proto.default
        if proto.data_type == NumberInput.INT:
            state.int_value = int(value)
        else:
            state.double_value = value
    elif kind == "slider":
        if proto.type == Slider.SELECT_SLIDER:  # its state is its options' text: not kept here
            return None
        state.double_array_value.data.extend(proto.value if proto.set_value else proto.default)
    elif kind == "checkbox":
        state.bool_value = proto.value if proto.set_value else proto.default
    else:
        return None
    return state
