"""What the gateway adds to trio-websocket's connections.

1. Several messages in one socket write. trio-websocket writes each message
   with its own `send_all`: one system call, and one wake-up of the peer,
   per frame. A device that receives a group message gets three frames at
   once (the message, the conversation, the unread total); written together
   they cost one call. They stay separate WebSocket messages, each one CBOR
   map (PROTOCOL.md §1): only the socket write is shared.
2. Error 1004 before the library's own 1009 close. A frame larger than the
   connection's `max_message_size` is refused by trio-websocket itself,
   which closes with 1009 without a word; PROTOCOL.md §12 promises the
   client the 1004 error frame first, so server connections now send it.

Both use the connection's own wsproto state and stream lock, exactly as
`WebSocketConnection._send` does, so pings, pongs and the close handshake
from the reader task interleave safely. The gateway calls
`answer_oversized_frames()` when it starts serving.
"""

from __future__ import annotations

from typing import Any

import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, _impl
from wsproto.events import BytesMessage

from actors.errors import FrameTooLarge

from .codec import reply_error


async def send_messages(ws: WebSocketConnection, frames: list[bytes]) -> None:
    """Send `frames` as binary messages, in order, in one socket write."""
    if len(frames) == 1:
        await ws.send_message(frames[0])
        return
    if ws._close_reason:
        raise ConnectionClosed(ws._close_reason)
    data = b"".join([ws._wsproto.send(BytesMessage(data=frame)) for frame in frames])
    async with ws._stream_lock:
        try:
            await ws._stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            await ws._abort_web_socket()
            assert ws._close_reason is not None
            raise ConnectionClosed(ws._close_reason) from None


async def abort(ws: WebSocketConnection) -> None:
    """Drop the connection without a close handshake (the peer sees 1006).

    For a socket that cannot take even a close frame in time: closing the
    stream also ends a write stuck in it.
    """
    await trio.aclose_forcefully(ws._stream)


_handle_message_event = _impl.WebSocketConnection._handle_message_event


def answer_oversized_frames() -> None:
    """Make server connections send error 1004 before the library's 1009 close (idempotent)."""
    _impl.WebSocketConnection._handle_message_event = _refuse_oversized_with_1004  # type: ignore[method-assign]


async def _refuse_oversized_with_1004(self: WebSocketConnection, event: Any) -> None:
    if not self._wsproto.client and self._message_size + len(event.data) > self._max_message_size:
        error = FrameTooLarge(f"frame of more than {self._max_message_size} bytes exceeds the frame limit")
        try:
            await self._send(BytesMessage(data=reply_error(None, error.code, error.message)))
        except ConnectionClosed:
            pass  # the peer is gone already; the library's close below still runs
    await _handle_message_event(self, event)

