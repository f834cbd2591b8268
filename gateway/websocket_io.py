"""Everything the gateway adds to, or works around in, trio-websocket: the one module that knows its insides.

The library is used through its public API everywhere else. What follows
reaches its private names (`_impl`, `_wsproto`, `_stream`, `_stream_lock`,
`_close_reason`, `_handle_connection`, ...), so `apply()` first checks that
the installed version is one these were written against (0.12.x; pyproject
caps it below 0.13) and fails loudly otherwise. The gateway calls `apply()`
once when it starts serving; nothing is patched on import.

1. The outbound path (`send_messages`). trio-websocket writes each message
   with its own `send_all`: one system call, and one wake-up of the peer,
   per frame, each built by wsproto's general framing. A device that
   receives a group message gets three frames at once; written together
   they cost one call. They stay separate WebSocket messages, each one CBOR
   map (PROTOCOL.md §1). What a server sends is simple: final, unmasked
   (RFC 6455 §5.1), and never compressed (the library accepts connections
   with no extension), so each frame is built here as a header and the
   payload as it came from the actor, untouched. wsproto keeps the reading
   side, the handshake, pings, pongs and the close; it keeps no state for
   whole outgoing data messages, so frames built here and the frames it
   builds interleave on the stream lock.
2. Error 1004 before the library's own 1009 close (patched by `apply`). A
   frame larger than the connection's `max_message_size` is refused by the
   library itself, which closes with 1009 without a word; PROTOCOL.md §12
   promises the 1004 error frame first.
3. A ping that arrives after our close frame (patched by `apply`). The
   library answers every ping with a pong, even after this side has sent
   its close frame; wsproto then raises LocalProtocolError inside the
   connection's reader task, outside any handler
   (python-trio/trio-websocket#184, fix proposed in PR #198). Once the
   connection is no longer open the ping is dropped.
4. Every connection is a boundary (`GuardedServer`): an exception inside
   the library's per-connection tasks ends that connection only, never the
   listener and every other connection with it.
5. TLS handshake first (`GuardedServer`): a peer that fails it is dropped
   at once, instead of the library's reader ending while the connection
   waits for an HTTP request until the connect timeout.
6. Abort (`abort`): drop a connection without the close handshake, for a
   socket that cannot take even a close frame in time.
7. A ping that does not wait for its pong (`send_ping`). The library's
   `ping()` sends and then waits for the pong in the calling task; the
   session's one timer task (keepalive and token expiry) must go on
   waiting for the token's deadline meanwhile, so it takes the pong's
   event, registered as `ping()` registers it, and waits on it itself.
8. What the opening handshake leaves behind (`release_handshake`). Once
   the connection is upgraded, wsproto routes every byte and event to the
   WebSocket connection, yet keeps the handshake's HTTP/1.1 parser (an h11
   Connection) and its empty event queue for the connection's life: about
   1.7 KB of each idle device. Both are let go after the accept.

Each has its test: 1 and the version check in
tests/test_websocket_workarounds.py, 2 in tests/test_codec_limits.py
(huge frame), 3 in tests/test_connection_robustness.py (ping after the
close), 4 in tests/test_websocket_workarounds.py, 5 in tests/test_tls.py
(failed handshakes), 6 in tests/test_stalled_kicks.py (a kick the socket
cannot take), 7 in tests/test_websocket_workarounds.py and
tests/test_connection_robustness.py (a peer that never answers pings), 8
in tests/test_websocket_workarounds.py.

Writes take the connection's own stream lock, as `WebSocketConnection._send`
does, and look at its wsproto state under it, so pings, pongs and the close
handshake from the library's reader task interleave safely.
"""

from __future__ import annotations

import logging
import random
import struct
from collections import deque
from importlib.metadata import version as installed_version
from typing import Any

import trio
from trio_websocket import CloseReason, ConnectionClosed, WebSocketConnection, WebSocketServer, _impl
from wsproto.connection import ConnectionState
from wsproto.events import BytesMessage, Ping

from actors.errors import FrameTooLarge

from .codec import reply_error

log = logging.getLogger("hubbub.websocket")

SUPPORTED_VERSIONS = ("0.12.",)  # prefixes of the trio-websocket versions this module was written against

_original_handle_message_event = _impl.WebSocketConnection._handle_message_event
_original_handle_ping_event = _impl.WebSocketConnection._handle_ping_event


def check_version(version: str | None = None) -> None:
    """Raise RuntimeError unless trio-websocket (or `version`) is one this module supports."""
    found = installed_version("trio-websocket") if version is None else version
    if not found.startswith(SUPPORTED_VERSIONS):
        raise RuntimeError(
            f"trio-websocket {found} is not a version the gateway's workarounds were written for "
            f"({', '.join(v + 'x' for v in SUPPORTED_VERSIONS)}): check gateway/websocket_io.py against it"
        )


def apply() -> None:
    """Check the library's version, then install workarounds 2 and 3 (idempotent).

    Raises RuntimeError on an unsupported trio-websocket version.
    """
    check_version()
    connection = _impl.WebSocketConnection
    connection._handle_message_event = _refuse_oversized_with_1004  # type: ignore[method-assign]
    if not getattr(connection._handle_ping_event, "drops_late_pings", False):  # the client may have its copy in place
        connection._handle_ping_event = _drop_ping_unless_open  # type: ignore[method-assign]


_FIN_BINARY = 0x82  # FIN set, opcode 2 (binary)
_HEADER_16 = struct.Struct("!BBH")  # payload length 126..65,535: 126, then 16 bits
_HEADER_64 = struct.Struct("!BBQ")  # longer: 127, then 64 bits
_CLOSED_UNDER_US = CloseReason(1006, "the connection closed while a write waited")
_NO_HANDSHAKE_EVENTS: deque[Any] = deque(maxlen=0)  # shared: after the upgrade the handshake has none


def binary_frame_header(length: int) -> bytes:
    """The RFC 6455 §5.2 header of a server's final, unmasked binary frame of `length` payload bytes."""
    if length < 126:
        return bytes((_FIN_BINARY, length))
    if length < 0x10000:
        return _HEADER_16.pack(_FIN_BINARY, 126, length)
    return _HEADER_64.pack(_FIN_BINARY, 127, length)


async def send_messages(ws: WebSocketConnection, frames: list[bytes]) -> None:
    """Send `frames` as binary messages, in order, in one socket write (server connections only).

    Raises ConnectionClosed once the connection is closing or gone; nothing
    is written after this side's or the peer's close frame.
    """
    if ws._close_reason:
        raise ConnectionClosed(ws._close_reason)
    parts: list[bytes] = []
    for frame in frames:
        parts.append(binary_frame_header(len(frame)))
        parts.append(frame)
    data = b"".join(parts)
    async with ws._stream_lock:
        # the reader task may have sent a close (or a pong and a close) while this waited
        if ws._close_reason or ws._wsproto.state != ConnectionState.OPEN:
            raise ConnectionClosed(ws._close_reason or _CLOSED_UNDER_US)
        try:
            await ws._stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            await ws._abort_web_socket()
            assert ws._close_reason is not None
            raise ConnectionClosed(ws._close_reason) from None


async def send_ping(ws: WebSocketConnection) -> trio.Event:
    """Send a ping with a fresh payload; the returned event is set when its pong (or a later one) arrives.

    Raises ConnectionClosed once the connection is closing or gone. A pong
    answers every earlier ping in flight too (the library's rule).
    """
    if ws._close_reason:
        raise ConnectionClosed(ws._close_reason)
    payload = struct.pack("!I", random.getrandbits(32))
    while payload in ws._pings:
        payload = struct.pack("!I", random.getrandbits(32))
    pong = trio.Event()
    ws._pings[payload] = pong
    await ws._send(Ping(payload=payload))
    return pong


def release_handshake(ws: WebSocketConnection) -> None:
    """Let go of the finished opening handshake's parser and event queue (after `accept()`)."""
    handshake = ws._wsproto.handshake
    if ws._wsproto.connection is None or handshake._events:
        return  # not upgraded (or events still to read): the handshake is still in use
    del handshake._h11_connection
    handshake._events = _NO_HANDSHAKE_EVENTS


async def abort(ws: WebSocketConnection) -> None:
    """Drop the connection without a close handshake (the peer sees 1006).

    Closing the stream also ends a write stuck in it.
    """
    await trio.aclose_forcefully(ws._stream)


async def _refuse_oversized_with_1004(self: WebSocketConnection, event: Any) -> None:
    if not self._wsproto.client and self._message_size + len(event.data) > self._max_message_size:
        error = FrameTooLarge(f"frame of more than {self._max_message_size} bytes exceeds the frame limit")
        try:
            await self._send(BytesMessage(data=reply_error(None, error.code, error.message)))
        except ConnectionClosed:
            pass  # the peer is gone already; the library's close below still runs
    await _original_handle_message_event(self, event)


async def _drop_ping_unless_open(self: WebSocketConnection, event: Any) -> None:
    if self._wsproto.state != ConnectionState.OPEN:
        return
    await _original_handle_ping_event(self, event)


_drop_ping_unless_open.drops_late_pings = True  # type: ignore[attr-defined]


class GuardedServer(WebSocketServer):
    """A WebSocketServer whose every connection is a boundary (workarounds 4 and 5)."""

    async def _handle_connection(self, stream: trio.abc.Stream) -> None:
        if isinstance(stream, trio.SSLStream) and not await _tls_handshake(stream, self._connect_timeout):
            return
        try:
            await super()._handle_connection(stream)
        except Exception:
            log.exception("connection failed inside the WebSocket library; closing it")
            with trio.move_on_after(1, shield=True):
                await stream.aclose()


async def _tls_handshake(stream: trio.SSLStream[Any], timeout_s: float) -> bool:
    """Finish the TLS handshake first: a peer that fails it is dropped at once."""
    try:
        with trio.fail_after(timeout_s):
            await stream.do_handshake()
    except (trio.BrokenResourceError, trio.TooSlowError) as exc:
        log.info("TLS handshake failed: %s", exc.__cause__ or exc)
        await trio.aclose_forcefully(stream)
        return False
    return True
