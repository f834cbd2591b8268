"""Several WebSocket messages in one socket write.

trio-websocket writes each message with its own `send_all`, one system call
(and one wake-up of the peer) per frame. A device that receives a group
message gets three frames at once (the message, the conversation and the
unread total); writing them together costs one call. The frames stay
separate WebSocket messages, each one CBOR map (PROTOCOL.md §1): only the
socket write is shared.

This uses the connection's own wsproto state and stream lock, exactly as
`WebSocketConnection._send` does, so pings, pongs and the close handshake
from the reader task interleave safely.
"""

from __future__ import annotations

import trio
from trio_websocket import ConnectionClosed, WebSocketConnection
from wsproto.events import BytesMessage


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
