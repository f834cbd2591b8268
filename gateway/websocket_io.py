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
   here have neither: `GuardedServer` reads the opening handshake itself
   (8), and the session's own task calls `receive_message`, which parses with
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
8. The opening handshake (`read_upgrade`, `UpgradeRequest`). The library
   parses the request with wsproto's handshake, an h11 Connection kept for
   the connection's life, and answers through h11 again: about 70 µs of
   CPU of each login, and 1.7 KB of each idle device until let go. A
   server's handshake is one request and one answer (RFC 6455 §4.2), so it
   is read and checked here as wsproto checks it (GET, HTTP/1.1, `Host`,
   `Connection: Upgrade`, `Upgrade: websocket`, `Sec-WebSocket-Key`,
   `Sec-WebSocket-Version: 13`, else 400, or 426 for another version; no
   body; at most 16 KiB, h11's limit) and the 101 (or the refusal) written
   as bytes. The connection's wsproto is then the WebSocket `Connection`
   alone (no handshake object), started with whatever the peer sent after
   its request. No extension and no subprotocol is ever accepted (as the
   library accepted them). The connection's event queue, which only an end
   of data fed as None fills (`receive_message` never feeds that), is a
   shared empty one.

9. A write that needs no wait (`send_messages`). trio's `send_all` yields
   to the scheduler around every write, and taking the stream lock yields
   again, even when nothing else writes and the socket takes the bytes at
   once: the writer's wake-up and two more scheduler passes per write. When
   the lock is free, the frames are written to a plain socket stream's
   socket at once (`os.write` on its non-blocking descriptor); only what it
   does not take (a full socket buffer), or a TLS stream's bytes, go
   through the lock and `send_all`, ahead of any other writer.

Each has its test: 1, 2, 9 and the version check in
tests/test_websocket_workarounds.py and tests/test_codec_limits.py (1004
before 1009 at every size), 3 in tests/test_connection_robustness.py (ping
after the close), 4 in tests/test_websocket_workarounds.py, 5 in tests/test_tls.py
(failed handshakes), 6 in tests/test_stalled_kicks.py (a kick the socket
cannot take), 7 in tests/test_websocket_workarounds.py and
tests/test_connection_robustness.py (a peer that never answers pings), 8
in tests/test_websocket_workarounds.py and tests/test_opening_handshake.py.

Writes take the connection's own stream lock, as `WebSocketConnection._send`
does, and look at its wsproto state under it, so the writer's frames, the
timers' pings and the reader's pongs and close interleave safely. One task
reads a connection at a time: the session's, and after it stopped reading,
`close` in the same task.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import random
import re
import struct
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib.metadata import version as installed_version
from typing import Any, cast

import trio
from trio_websocket import CloseReason, ConnectionClosed, WebSocketConnection, WebSocketServer
from wsproto import ConnectionType, WSConnection
from wsproto.connection import Connection, ConnectionState
from wsproto.events import BytesMessage, CloseConnection, Ping, Pong, TextMessage
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
    joined = b"".join(parts)
    data: bytes | memoryview = joined
    lock = ws._stream_lock
    if not lock.locked() and ws._wsproto.state == ConnectionState.OPEN:
        # Nothing else is writing: as much as the socket takes now, with no wait (workaround 9).
        written = _write_now(ws._stream, joined)
        if written == len(joined):
            return
        data = memoryview(joined)[written:]
        lock.acquire_nowait()  # free, and nothing ran since: the rest follows before anyone else's bytes
    else:
        await lock.acquire()
    try:
        # the reader task may have sent a close (or a pong and a close) while this waited
        if ws._close_reason or ws._wsproto.state != ConnectionState.OPEN:
            raise ConnectionClosed(ws._close_reason or _CLOSED_UNDER_US)
        try:
            await ws._stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            await ws._abort_web_socket()
            assert ws._close_reason is not None
            raise ConnectionClosed(ws._close_reason) from None
    finally:
        lock.release()


def _write_now(stream: trio.abc.Stream, data: bytes) -> int:
    """Write what a plain socket stream's socket takes without blocking; how many bytes (0 for any other stream).

    A failure writes nothing here: `send_all` meets it again and reports it as a closed stream.
    """
    if type(stream) is not trio.SocketStream:
        return 0  # TLS, or a test's wrapper: the stream's own send_all
    try:
        return os.write(stream.socket.fileno(), data)
    except OSError:  # would block (BlockingIOError), or the peer is gone: send_all raises it properly
        return 0


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


# ---- the opening handshake (workaround 8) -------------------------------------------

_MAX_REQUEST_BYTES = 16 * 1024  # of the opening handshake's request: h11's default limit
_ACCEPT_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3
_TOKEN = re.compile(rb"[-!#$%&'*+.^_`|~0-9A-Za-z]+")  # a header name (RFC 9110 §5.6.2)
_REASONS = {400: b"Bad Request", 404: b"Not Found", 426: b"Upgrade Required", 503: b"Service Unavailable"}


class BadHandshake(Exception):
    """The opening handshake is not one a WebSocket server accepts: answered with `status` (and `headers`)."""

    def __init__(self, why: str, status: int = 400, headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
        super().__init__(why)
        self.status = status
        self.headers = headers


@dataclass(frozen=True, slots=True)
class Upgrade:
    """What the server needs of a valid opening handshake: where to, the key to answer, what came after it."""

    target: str
    key: bytes
    trailing: bytes  # frames the peer sent before it had the 101


def parse_upgrade(head: bytes, trailing: bytes = b"") -> Upgrade:
    """The request `head` (without its blank line) as an Upgrade; raises BadHandshake as wsproto would refuse it."""
    request_line, *lines = head.split(b"\r\n")
    parts = request_line.split(b" ")
    if len(parts) != 3 or parts[2] != b"HTTP/1.1":
        raise BadHandshake("not an HTTP/1.1 request line")
    method, target, _ = parts
    if method != b"GET":
        raise BadHandshake("Request method must be GET")
    try:
        path = target.decode("ascii")
    except UnicodeDecodeError:
        raise BadHandshake("the request target is not ASCII") from None
    fields: dict[bytes, bytes] = {}
    for line in lines:
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN.fullmatch(name):
            raise BadHandshake("a malformed header line")
        name = name.lower()
        value = value.strip(b" \t")
        # headers that may repeat are joined as one list (RFC 9110 §5.3)
        fields[name] = fields[name] + b", " + value if name in fields else value
    if b"upgrade" not in (token.strip().lower() for token in fields.get(b"connection", b"").split(b",")):
        raise BadHandshake("Missing header, 'Connection: Upgrade'")
    version = fields.get(b"sec-websocket-version")
    if version != b"13":
        raise BadHandshake("Missing header, 'Sec-WebSocket-Version'", 426 if version else 400, ((b"Sec-WebSocket-Version", b"13"),))
    key = fields.get(b"sec-websocket-key")
    if key is None:
        raise BadHandshake("Missing header, 'Sec-WebSocket-Key'")
    if fields.get(b"upgrade", b"").lower() != b"websocket":
        raise BadHandshake("Missing header, 'Upgrade: websocket'")
    if b"host" not in fields:
        raise BadHandshake("Missing header, 'Host'")
    if fields.get(b"content-length", b"0") != b"0" or b"transfer-encoding" in fields:
        raise BadHandshake("an opening handshake has no body")
    return Upgrade(path, key, trailing)


def accept_response(key: bytes) -> bytes:
    """The 101 that accepts the handshake of `key` (RFC 6455 §4.2.2), with no extension and no subprotocol."""
    accept = base64.b64encode(hashlib.sha1(key + _ACCEPT_GUID).digest())
    return b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"


def refusal_response(status: int, body: bytes = b"", headers: tuple[tuple[bytes, bytes], ...] = ()) -> bytes:
    """An HTTP response refusing the handshake; the connection closes after it."""
    lines = [b"HTTP/1.1 %d %s" % (status, _REASONS.get(status, b""))]
    lines += [name + b": " + value for name, value in headers]
    lines += [b"Content-Length: %d" % len(body), b"Connection: close", b"", b""]
    return b"\r\n".join(lines) + body


async def read_upgrade(stream: trio.abc.Stream, receive_size: int | None) -> Upgrade | None:
    """Read and check the opening handshake; None if the peer went away or was refused (400 or 426 sent)."""
    data = bytearray()
    while True:
        try:
            chunk = await stream.receive_some(receive_size)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return None
        if not chunk:
            return None
        searched = max(0, len(data) - 3)
        data += chunk
        end = data.find(b"\r\n\r\n", searched)
        if end >= 0 and end <= _MAX_REQUEST_BYTES:
            break
        if len(data) > _MAX_REQUEST_BYTES:
            await _refuse(stream, BadHandshake("the request is longer than the limit"))
            return None
    try:
        return parse_upgrade(bytes(data[:end]), bytes(data[end + 4 :]))
    except BadHandshake as refused:
        await _refuse(stream, refused)
        return None


async def _refuse(stream: trio.abc.Stream, refused: BadHandshake) -> None:
    log.debug("opening handshake refused with %d: %s", refused.status, refused)
    try:
        await stream.send_all(refusal_response(refused.status, headers=refused.headers))
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass  # the peer is gone: nothing to tell


class UpgradeRequest:
    """A checked opening handshake, for the handler to accept (a WebSocketConnection) or refuse with a status."""

    __slots__ = ("_stream", "_upgrade", "_receive_buffer_size")

    def __init__(self, stream: trio.abc.Stream, upgrade: Upgrade, receive_buffer_size: int | None) -> None:
        self._stream = stream
        self._upgrade = upgrade
        self._receive_buffer_size = receive_buffer_size

    @property
    def path(self) -> str:
        return self._upgrade.target

    async def reject(self, status_code: int, *, body: bytes = b"") -> None:
        """Refuse the handshake with `status_code` and `body`; the connection closes."""
        await self._stream.send_all(refusal_response(status_code, body))

    async def accept(self) -> WebSocketConnection:
        """Send the 101; the connection that reads and writes frames from here on.

        Raises ConnectionClosed if the peer went away. What the peer sent
        after its request is read as frames (a bad one closes with 1002, as
        any bad frame does).
        """
        upgrade = self._upgrade
        # The WebSocket connection alone: its `client`, `state`, `send`, `receive_data` and `events` are all the library uses.
        protocol = Connection(ConnectionType.SERVER)
        protocol._events = _NO_HANDSHAKE_EVENTS
        ws = WebSocketConnection(self._stream, cast(WSConnection, protocol), receive_buffer_size=self._receive_buffer_size)
        _shed_reader_state(ws)
        ws._path = upgrade.target
        try:
            await self._stream.send_all(accept_response(upgrade.key))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            await ws._abort_web_socket()
            raise ConnectionClosed(ws._close_reason) from None
        if upgrade.trailing:
            protocol.receive_data(upgrade.trailing)
        return ws


UpgradeHandler = Callable[[UpgradeRequest], Awaitable[None]]


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
    """A WebSocketServer that reads each connection's handshake itself and guards it (workarounds 2, 4, 5, 8).

    `place`, when set, may hand a plain accepted connection elsewhere before
    anything of it is read (True: nothing more to do here, the connection is
    closed in this process; gateway/handoff.py); `serve_handed` serves one
    handed here.
    """

    place: Callable[[trio.SocketStream, float], Awaitable[bool]] | None = None

    def __init__(
        self,
        handler: UpgradeHandler,
        listeners: list[Any],
        *,
        handler_nursery: trio.Nursery | None = None,
        connect_timeout: float,
        disconnect_timeout: float,
    ) -> None:
        super().__init__(
            cast(Any, handler), listeners, handler_nursery=handler_nursery,
            connect_timeout=connect_timeout, disconnect_timeout=disconnect_timeout,
        )  # fmt: skip
        self._upgrade_handler = handler

    async def _handle_connection(self, stream: trio.abc.Stream) -> None:
        if self.place is not None and isinstance(stream, trio.SocketStream):
            try:
                handed = await self.place(stream, self._connect_timeout)
            except Exception:
                log.exception("connection could not be placed; serving it here")
                handed = False
            if handed:
                await trio.aclose_forcefully(stream)  # this process's copy: the other worker holds the connection
                return
        await self.serve_handed(stream)

    async def serve_handed(self, stream: trio.abc.Stream) -> None:
        """Serve one connection: its TLS and WebSocket handshakes, then the handler; closed whatever happens."""
        if isinstance(stream, trio.SSLStream) and not await _tls_handshake(stream, self._connect_timeout):
            return
        try:
            upgrade = None
            with trio.move_on_after(self._connect_timeout):
                upgrade = await read_upgrade(stream, self._receive_buffer_size)
            if upgrade is not None:
                await self._upgrade_handler(UpgradeRequest(stream, upgrade, self._receive_buffer_size))
        except ConnectionClosed:
            pass  # the peer went away before (or while) the handshake was answered
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
