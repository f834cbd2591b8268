"""Two fixes for trio-websocket 0.12, imported for their effect by the gateway and the client.

1. A ping that arrives after our close frame. trio-websocket answers every
   ping with a pong, even after this side has sent its close frame; wsproto
   then raises LocalProtocolError inside the connection's reader task, which
   is outside any handler, so one misbehaving peer could take down a whole
   server (python-trio/trio-websocket#184, fix proposed in PR #198). Once the
   connection is no longer open there is no one to answer: the ping is
   dropped.
2. A client connection that fails before its opening handshake completes
   (a TLS certificate the client refuses, a reset) ends its reader task, but
   `connect_websocket_url` went on waiting for the handshake for ever. The
   reader's end now releases that wait; the caller finds the connection
   closed.
"""

from __future__ import annotations

from typing import Any

from trio_websocket import _impl
from wsproto.connection import ConnectionState

_original = _impl.WebSocketConnection._handle_ping_event


async def _handle_ping_event(self: _impl.WebSocketConnection, event: Any) -> None:
    if self._wsproto.state != ConnectionState.OPEN:
        return
    await _original(self, event)


_impl.WebSocketConnection._handle_ping_event = _handle_ping_event  # type: ignore[method-assign]

_reader_task = _impl.WebSocketConnection._reader_task


async def _reader_task_releasing_connect(self: _impl.WebSocketConnection) -> None:
    await _reader_task(self)
    # Ended without an error (one, such as a refused handshake, reaches the
    # connect call through the nursery as before): release the connect wait,
    # which only the client's connect functions use.
    self._open_handshake.set()


_impl.WebSocketConnection._reader_task = _reader_task_releasing_connect  # type: ignore[method-assign]
