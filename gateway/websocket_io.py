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
2. The session reads frames itself (`receive_message`). The library runs
   a reader task per connection that parses frames into a message queue
   the handler drains: for an idle device a task, its await stack and a
   channel (about 3 KB) only to wait on a socket. The server's connections
   here have neither: `GuardedServer` reads the opening handshake itself,
   and the session's own task calls `receive_message`, which parses with
   wsproto as the library does, answers pings, takes pongs (setting the
   events `send_ping` waits on) and the peer's close on the way. A message
   larger than the session's limit raises FrameTooLarge as soon as its
   parts pass it (nothing more of it is kept), so the session answers 1004
   and closes 1009 (PROTOCOL.md §12) at any size.
3. Our close (`close`): the close frame, then the peer's close awaited by
   reading (whatever else arrives is dropped: data, and pings, which the
   library would answer with a pong after our close frame, a protocol
   error in wsproto: python-trio/trio-websocket#184), then the stream
   closed.
4. Every connection is a boundary (`GuardedServer`): an exception while
   its handshake is read or its handler runs ends that connection only,
   never the listener and every other connection with it; the stream is
   closed whatever happened.
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
   1.7 KB of each idle device. Both are let go after the accept, and so is
   the WebSocket connection's own event queue (760 bytes), which only an
   end of data fed as None fills: `receive_message` never feeds that.

Each has its test: 1, 2 and the version check in
tests/test_websocket_workarounds.py and tests/test_codec_limits.py (1004
before 1009 at every size), 3 in tests/test_connection_robustness.py (ping
after the close), 4 in tests/test_websocket_workarounds.py, 5 in tests/test_tls.py
(failed handshakes), 6 in tests/test_stalled_kicks.py (a kick the socket
cannot take), 7 in tests/test_websocket_workarounds.py and
tests/test_connection_robustness.py (a peer that never answers pings), 8
in tests/test_websocket_workarounds.py.

Writes take the connection's own stream lock, as `WebSocketConnection._send`
does, and look at its wsproto state under it, so the writer's frames, the
timers' pings and the reader's pongs and close interleave safely. One task
reads a connection at a time: the session's, and after it stopped reading,
`close` in the same task.
"""

from __future__ import annotations

import logging
import random
import struct
from collections import deque
from importlib.metadata import version as installed_version
from typing import Any

import trio
from trio_websocket import CloseReason, ConnectionClosed, WebSocketConnection, WebSocketRequest, WebSocketServer
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import BytesMessage, CloseConnection, Ping, Pong, Request, TextMessage
from wsproto.utilities import RemoteProtocolError

from actors.errors import FrameTooLarge


log = logging.getLogger("hubbub.websocket")

SUPPORTED_VERSIONS = ("0.12.",)  # prefixes of the trio-websocket versions this module was written against

def check_version(version: str | None = None) -> None:
    """Raise RuntimeError unless trio-websocket (or `version`) is one this module supports."""
    found = installed_version("trio-websocket") if version is None else version
    if not found.startswith(SUPPORTED_VERSIONS):
        raise RuntimeError(
            f"trio-websocket {found} is not a version the gateway's workarounds were written for "
            f"({', '.join(v + 'x' for v in SUPPORTED_VERSIONS)}): check gateway/websocket_io.py against it"
        )


def apply() -> None:
    """Check the library's version (idempotent). Raises RuntimeError on an unsupported trio-websocket version."""
    check_version()


_FIN_BINARY = 0x82  # FIN set, opcode 2 (binary)
_HEADER_16 = struct.Struct("!BBH")  # payload length 126..65,535: 126, then 16 bits
_HEADER_64 = struct.Struct("!BBQ")  # longer: 127, then 64 bits
_CLOSED_UNDER_US = CloseReason(1006, "the connection closed while a write waited")
_NO_HANDSHAKE_EVENTS: deque[Any] = deque(maxlen=0)  # shared: after the upgrade the handshake has none


def _closed_channel() -> tuple[trio.MemorySendChannel[bytes | str], trio.MemoryReceiveChannel[bytes | str]]:
    send, receive = trio.open_memory_channel[bytes | str](0)
    send.close()
    receive.close()
    return send, receive


def _set_event() -> trio.Event:
    event = trio.Event()
    event.set()
    return event


_NO_MESSAGES = _closed_channel()  # shared by every server connection: `get_message` raises ConnectionClosed
_DONE = _set_event()  # shared: the library's handshake events, set once and never waited on here


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
    if not ws._wsproto.connection._events:
        ws._wsproto.connection._events = _NO_HANDSHAKE_EVENTS


async def receive_message(ws: WebSocketConnection, max_bytes: int) -> bytes | str:
    """The peer's next data message; pings are answered and pongs and the peer's close taken on the way.

    Raises ConnectionClosed once the connection is closed or gone, and
    FrameTooLarge as soon as a message's parts pass `max_bytes` (their rest
    is not read).
    """
    parts: list[Any] = []  # of one message: all bytes (or bytearray), or all str
    size = 0
    while True:
        event = next(ws._wsproto.events(), None)
        if event is None:
            await _receive_data(ws)
        elif isinstance(event, (BytesMessage, TextMessage)):
            size += len(event.data)
            if size > max_bytes:
                raise FrameTooLarge(f"frame exceeds the {max_bytes}-byte limit")
            parts.append(event.data)
            if event.message_finished:
                joined: bytes | str = (b"" if isinstance(event, BytesMessage) else "").join(parts)
                return joined
        elif isinstance(event, Ping):
            if ws._wsproto.state == ConnectionState.OPEN:
                with trio.CancelScope(shield=True):  # half a pong would corrupt the stream; `abort` ends a stuck one
                    await ws._send(event.response())
        else:
            await _take_control_event(ws, event)


async def close(ws: WebSocketConnection, code: int, reason: str) -> None:
    """Send our close frame, read until the peer's close (dropping anything else), and close the stream.

    Call it from the task that read the connection, once it stopped
    reading. Unbounded: the caller bounds it, and aborts on its timeout.
    """
    try:
        if ws._close_reason or ws._wsproto.state != ConnectionState.OPEN:
            return
        ws._close_reason = CloseReason(1000, None)  # as the library's close: writes raise ConnectionClosed from here on
        await ws._send(CloseConnection(code=code, reason=reason))
        while ws._wsproto.state != ConnectionState.CLOSED:  # type: ignore[comparison-overlap]  # `_send` moved it on
            event = next(ws._wsproto.events(), None)
            if event is None:
                await _receive_data(ws)
            elif isinstance(event, (CloseConnection, Pong)):
                await _take_control_event(ws, event)
    except ConnectionClosed:
        pass  # the peer went away first: nothing more to wait for
    finally:
        await ws._close_stream()


async def _receive_request(ws: WebSocketConnection) -> Request | None:
    """The opening handshake's HTTP request, or None if the peer sent a bad one (refused with 400)."""
    while True:
        event = next(ws._wsproto.events(), None)
        if isinstance(event, Request):
            return event
        if event is not None:
            return None  # nothing else can come before the request
        try:
            await _receive_data(ws)
        except ConnectionClosed:
            return None


async def _receive_data(ws: WebSocketConnection) -> None:
    """Read once from the stream into wsproto. Raises ConnectionClosed at its end or on a protocol error."""
    try:
        data = await ws._stream.receive_some(ws._receive_buffer_size)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        data = b""
    if not data:
        await ws._abort_web_socket()
        raise ConnectionClosed(ws._close_reason)
    if ws._wsproto.state == ConnectionState.CLOSED:
        return
    try:
        ws._wsproto.receive_data(bytes(data) if isinstance(data, bytearray) else data)
    except RemoteProtocolError as err:
        log.debug("connection %s: remote protocol error: %s", ws._id, err)
        if err.event_hint is not None:
            await ws._send(err.event_hint)  # the 400 of a bad handshake, the 1002 close of a bad frame
        await ws._abort_web_socket()
        raise ConnectionClosed(ws._close_reason) from None


async def _take_control_event(ws: WebSocketConnection, event: Any) -> None:
    """A pong sets the pings' events it answers; the peer's close is answered and ends the connection."""
    if isinstance(event, Pong):
        await ws._handle_pong_event(event)
    elif isinstance(event, CloseConnection):
        await ws._handle_close_connection_event(event)  # answers it (unless ours came first) and closes the stream
        raise ConnectionClosed(ws._close_reason)


def _shed_reader_state(ws: WebSocketConnection) -> None:
    """Replace what only the library's reader task and `get_message` use with shared, finished objects.

    No task of the library reads this connection (`receive_message` does):
    its message channel, handshake proposal and handshake events would
    otherwise be held, empty, for the connection's life.
    """
    ws._send_channel, ws._recv_channel = _NO_MESSAGES
    ws._connection_proposal = None
    ws._open_handshake = ws._close_handshake = ws._for_testing_peer_closed_connection = _DONE


async def abort(ws: WebSocketConnection) -> None:
    """Drop the connection without a close handshake (the peer sees 1006).

    Closing the stream also ends a write stuck in it.
    """
    await trio.aclose_forcefully(ws._stream)


class GuardedServer(WebSocketServer):
    """A WebSocketServer that reads each connection's handshake itself and guards it (workarounds 2, 4, 5)."""

    async def _handle_connection(self, stream: trio.abc.Stream) -> None:
        if isinstance(stream, trio.SSLStream) and not await _tls_handshake(stream, self._connect_timeout):
            return
        ws = WebSocketConnection(
            stream,
            WSConnection(ConnectionType.SERVER),
            max_message_size=self._max_message_size,
            receive_buffer_size=self._receive_buffer_size,
        )
        _shed_reader_state(ws)
        try:
            request = None
            with trio.move_on_after(self._connect_timeout):
                request = await _receive_request(ws)
            if request is not None:
                await self._handler(WebSocketRequest(ws, request))
        except ConnectionClosed:
            pass  # the peer went away before (or while) the handshake was read
        except Exception:
            log.exception("connection failed in its handshake or handler; closing it")
        finally:
            with trio.CancelScope(shield=True):
                await trio.aclose_forcefully(stream)


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
