"""A fix for trio-websocket 0.12: a ping that arrives after our close frame.

trio-websocket answers every ping with a pong, even after this side has
sent its close frame; wsproto then raises LocalProtocolError inside the
connection's reader task, which is outside any handler, so one misbehaving
peer could take down a whole server (python-trio/trio-websocket#184, fix
proposed in PR #198). Once the connection is no longer open there is no one
to answer: the ping is dropped. Imported for its effect by the gateway and
the client.
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
