"""The client's own fixes for trio-websocket 0.12, installed by `apply()` (the client calls it on connect).

1. A client connection that fails before its opening handshake completes
   (a TLS certificate the client refuses, a reset) ends its reader task,
   but `connect_websocket_url` went on waiting for the handshake for ever.
   The reader's end now releases that wait; the caller finds the
   connection closed (`close_failed`, then, closes its stream, which the
   library leaves open).
2. A ping that arrives after our close frame. The library answers every
   ping with a pong, even after this side has sent its close frame; wsproto
   then raises LocalProtocolError inside the connection's reader task
   (python-trio/trio-websocket#184, fix proposed in PR #198). Once the
   connection is no longer open the ping is dropped.

Both reach private names of the library, so `apply()` refuses a version
they were not written for (anything but 0.12.x) with RuntimeError. The
server has its own copy of fix 2 in gateway/websocket_io.py: the client
package and the server do not import each other.
"""

from __future__ import annotations

from importlib.metadata import version as installed_version
from typing import Any

import trio
from trio_websocket import WebSocketConnection, _impl
from wsproto.connection import ConnectionState

SUPPORTED_VERSIONS = ("0.12.",)

_original_reader_task = _impl.WebSocketConnection._reader_task
_original_handle_ping_event = _impl.WebSocketConnection._handle_ping_event


def check_version(version: str | None = None) -> None:
    """Raise RuntimeError unless trio-websocket (or `version`) is one these fixes were written for."""
    found = installed_version("trio-websocket") if version is None else version
    if not found.startswith(SUPPORTED_VERSIONS):
        raise RuntimeError(f"trio-websocket {found} is not a version hubbub_client's fixes were written for (0.12.x)")


def apply() -> None:
    """Check the library's version, then install both fixes (idempotent)."""
    check_version()
    connection = _impl.WebSocketConnection
    if connection._reader_task is not _reader_task_releasing_connect:
        connection._reader_task = _reader_task_releasing_connect  # type: ignore[method-assign]
    if getattr(connection._handle_ping_event, "drops_late_pings", False):
        return  # this fix, or the server's copy of it, is in place
    connection._handle_ping_event = _drop_ping_unless_open  # type: ignore[method-assign]


async def close_failed(ws: WebSocketConnection) -> None:
    """Close the stream of a connection whose opening handshake failed."""
    await trio.aclose_forcefully(ws._stream)


async def _reader_task_releasing_connect(self: WebSocketConnection) -> None:
    await _original_reader_task(self)
    # Ended without an error (one, such as a refused handshake, reaches the
    # connect call through the nursery as before): release the connect wait,
    # which only the client's connect functions use.
    self._open_handshake.set()


async def _drop_ping_unless_open(self: WebSocketConnection, event: Any) -> None:
    if self._wsproto.state != ConnectionState.OPEN:
        return
    await _original_handle_ping_event(self, event)


_drop_ping_unless_open.drops_late_pings = True  # type: ignore[attr-defined]
