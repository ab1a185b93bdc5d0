"""Keep a lone surrogate typed in the browser from locking the page.

A JavaScript string may hold a lone UTF-16 surrogate (pasted text, an emoji cut in half).
Streamlit's frontend encodes it into its protobuf BackMsg as the three bytes ``ED A0..BF
80..BF`` (what protobuf.js writes for it), which is not UTF-8. The server then cannot parse
the message, closes the websocket (code 1002) and never runs the script: the prompt is
lost and the chat box stays in its Stop state. No script code can see that message, so
the repair happens here, in ASGI middleware on the websocket (``app.py``).

Only a message that fails to parse is touched. Each such three-byte sequence becomes
``EF BF BD``, U+FFFD (the replacement character), which is also three bytes, so every
length prefix in the message stays right; the repaired message is used only if it parses.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from google.protobuf.message import DecodeError
from streamlit.proto.BackMsg_pb2 import BackMsg

__all__ = ["RepairLoneSurrogates", "repair_back_msg"]

Message = MutableMapping[str, Any]
_SURROGATE = re.compile(rb"\xed[\xa0-\xbf][\x80-\xbf]")
_REPLACEMENT = "\ufffd".encode()


def _parses(data: bytes) -> bool:
    try:
        BackMsg().ParseFromString(data)
    except DecodeError:
        return False
    return True


def repair_back_msg(data: bytes) -> bytes:
    """``data`` with encoded lone surrogates replaced, if that makes it a valid BackMsg;
    else ``data`` unchanged (a valid message, or one broken in another way)."""
    if _SURROGATE.search(data) is None or _parses(data):
        return data
    repaired = _SURROGATE.sub(_REPLACEMENT, data)
    return repaired if _parses(repaired) else data


class RepairLoneSurrogates:
    """Pure ASGI middleware: websocket messages from the browser pass ``repair_back_msg``."""

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app

    async def __call__(
        self,
        scope: Message,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return

        async def receive_repaired() -> Message:
            message = await receive()
            data = message.get("bytes")
            if message["type"] == "websocket.receive" and data:
                message = {**message, "bytes": repair_back_msg(data)}
            return message

        await self.app(scope, receive_repaired, send)
