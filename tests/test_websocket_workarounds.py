"""The trio-websocket workarounds (gateway/websocket_io.py, hubbub_client/wsfix.py), one test each.

The outbound frames the gateway builds itself are checked byte for byte
against wsproto's own framing, decoded by the real client at every length
class (7-bit, 16-bit and 64-bit lengths), and interleaved with pings, pongs
and the close handshake of a raw peer.

The others have theirs where the behaviour lives: 1004 before 1009 in
test_codec_limits.py, a ping after the close in test_connection_robustness.py,
TLS handshakes in test_tls.py, abort in test_stalled_kicks.py.
"""

from __future__ import annotations

from typing import Any

import cbor2
import pytest
import trio
import trio.testing
import wsproto
import wsproto.connection
from trio_websocket import ConnectionClosed
from wsproto.events import BytesMessage, CloseConnection, Ping, Pong
from wsproto.frame_protocol import FrameProtocol

from gateway import websocket_io
from gateway.server import Gateway
from gateway.session import DeviceSession
from hubbub_client import wsfix

from .cluster_servers import nodes_of, session_of
from .conftest import Login, StartServer
from .test_connection_robustness import _raw_connection

# payload lengths at the edges of the three length encodings of RFC 6455 §5.2
_LENGTHS = (0, 1, 125, 126, 127, 65_535, 65_536, 300_000)


@pytest.mark.parametrize("check", [websocket_io.check_version, wsfix.check_version], ids=["gateway", "client"])
def test_only_the_supported_trio_websocket_versions_pass(check: Any) -> None:
    check()  # the installed one
    check("0.12.9")
    for unexpected in ("0.13.0", "1.0.0", "0.11.1"):
        with pytest.raises(RuntimeError, match=f"trio-websocket {unexpected} is not a version"):
            check(unexpected)


async def test_the_server_refuses_to_start_on_an_unsupported_version(
    start_server: StartServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(websocket_io, "installed_version", lambda name: "0.13.0")
    with trio.fail_after(10), pytest.raises(RuntimeError, match="trio-websocket 0.13.0"):
        await start_server("multi")


class _CountingStream(trio.abc.Stream):
    def __init__(self, inner: trio.abc.Stream) -> None:
        self.inner = inner
        self.writes = 0

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        self.writes += 1
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        return await self.inner.receive_some(max_bytes)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_frames_sent_together_go_in_one_socket_write_as_separate_messages(server: Gateway, login: Login) -> None:
    with trio.fail_after(20):
        client = await login(server, "u1")
        session = session_of(server, client.login_id)
        counting = _CountingStream(session.ws._stream)
        session.ws._stream = counting
        await websocket_io.send_messages(session.ws, [cbor2.dumps({"ev": "probe", "n": n}) for n in range(3)])
        assert counting.writes == 1
        assert [(await client.next_event("probe"))["n"] for _ in range(3)] == [0, 1, 2]
        assert (await client.request("queryDevices"))["ok"]


@pytest.mark.parametrize("length", _LENGTHS)
def test_a_built_frame_is_the_frame_wsproto_would_send(length: int) -> None:
    payload = bytes(range(256)) * (length // 256) + bytes(length % 256)
    server_side = FrameProtocol(client=False, extensions=[])
    assert websocket_io.binary_frame_header(length) + payload == server_side.send_data(payload, fin=True)


def _probe_of_length(length: int, n: int) -> bytes:
    """A CBOR event frame of exactly `length` bytes (`length` >= 20)."""
    base = len(cbor2.dumps({"ev": "probe", "n": n, "pad": b""}))
    for pad in range(length - base, max(-1, length - base - 10), -1):
        frame = cbor2.dumps({"ev": "probe", "n": n, "pad": b"x" * pad})
        if len(frame) == length:
            return frame
    raise AssertionError(f"no probe frame of {length} bytes")


async def test_built_frames_of_every_length_class_decode_in_the_real_client(server: Gateway, login: Login) -> None:
    with trio.fail_after(20):
        client = await login(server, "u1")
        session = session_of(server, client.login_id)
        lengths = [max(20, length) for length in _LENGTHS]
        frames = [_probe_of_length(length, n) for n, length in enumerate(lengths)]
        await websocket_io.send_messages(session.ws, frames)  # all in one write
        for n, length in enumerate(lengths):
            event = await client.next_event("probe")
            assert event["n"] == n and len(cbor2.dumps(event)) == length
        await websocket_io.send_messages(session.ws, [frames[-1]])  # and one alone
        assert (await client.next_event("probe"))["n"] == len(lengths) - 1
        assert (await client.request("queryDevices"))["ok"]


async def _raw_session(server: Gateway) -> tuple[trio.SocketStream, wsproto.WSConnection, DeviceSession]:
    """A raw peer's connection, and the server's session for it (not logged in)."""
    stream, ws = await _raw_connection(server)
    await trio.testing.wait_all_tasks_blocked()  # the server's session for it has started
    (session,) = [s for s in server.connections if s.address is None]
    return stream, ws, session


async def test_built_frames_interleave_with_pings_and_nothing_follows_the_close(server: Gateway) -> None:
    with trio.fail_after(20):
        stream, ws, session = await _raw_session(server)
        await stream.send_all(ws.send(Ping(b"first")))
        await websocket_io.send_messages(session.ws, [cbor2.dumps({"ev": "probe", "n": n}) for n in range(3)])
        await stream.send_all(ws.send(Ping(b"second")))
        await websocket_io.send_messages(session.ws, [cbor2.dumps({"ev": "probe", "n": 3})])
        seen: list[object] = []
        while len(seen) < 6:
            data = await stream.receive_some(65536)
            assert data, "the server closed early"
            ws.receive_data(data)
            for event in ws.events():
                if isinstance(event, Pong):
                    seen.append(bytes(event.payload))
                elif isinstance(event, BytesMessage):
                    seen.append(cbor2.loads(event.data)["n"])
        # each pong where its ping came; every frame whole and in order around them
        assert [x for x in seen if isinstance(x, int)] == [0, 1, 2, 3]
        assert [x for x in seen if isinstance(x, bytes)] == [b"first", b"second"]
        assert seen.index(b"second") > seen.index(2)
        # the peer closes: the server answers the close, and its writer then writes nothing
        await stream.send_all(ws.send(CloseConnection(code=1000)))
        after_close: list[object] = []
        closed = False
        while True:
            data = await stream.receive_some(65536)
            if not data:
                break
            ws.receive_data(data)
            for event in ws.events():
                if closed:
                    after_close.append(event)
                closed = closed or isinstance(event, CloseConnection)
        assert closed and after_close == []
        with pytest.raises(ConnectionClosed):
            await websocket_io.send_messages(session.ws, [cbor2.dumps({"ev": "probe", "n": 4})])


async def _frames_read(stream: trio.SocketStream, ws: wsproto.WSConnection, count: int) -> list[bytes]:
    """The next `count` binary messages a raw peer reads, whole."""
    got: list[bytes] = []
    part = b""
    while len(got) < count:
        data = await stream.receive_some(1 << 20)
        assert data, "the server closed early"
        ws.receive_data(data)
        for event in ws.events():
            if isinstance(event, BytesMessage):
                part += event.data
                if event.message_finished:
                    got.append(part)
                    part = b""
    return got


async def test_frames_go_to_the_socket_at_once_and_the_rest_of_a_full_socket_waits_its_turn(server: Gateway) -> None:
    with trio.fail_after(20):
        stream, ws, session = await _raw_session(server)
        assert type(session.ws._stream) is trio.SocketStream
        small = cbor2.dumps({"ev": "probe", "n": 0})
        with trio.testing.assert_no_checkpoints():  # the socket took it all: no wait, no lock
            await websocket_io.send_messages(session.ws, [small])
        assert await _frames_read(stream, ws, 1) == [small]
        # far more than the socket buffers while the peer does not read: written in part, the rest waits
        big = [cbor2.dumps({"ev": "probe", "n": n, "pad": bytes([n]) * 1_000_000}) for n in range(1, 9)]
        after = cbor2.dumps({"ev": "probe", "n": 9})
        async with trio.open_nursery() as nursery:
            nursery.start_soon(websocket_io.send_messages, session.ws, big)
            await trio.testing.wait_all_tasks_blocked()
            assert session.ws._stream_lock.locked()  # the first write holds the stream for its rest
            nursery.start_soon(websocket_io.send_messages, session.ws, [after])  # queued behind, not into it
            await trio.testing.wait_all_tasks_blocked()
            assert await _frames_read(stream, ws, 9) == [*big, after]
        assert not session.ws._stream_lock.locked()


async def test_a_ping_sent_without_waiting_is_answered_by_its_pong_or_a_later_one(server: Gateway) -> None:
    with trio.fail_after(20):
        stream, ws, session = await _raw_session(server)
        first = await websocket_io.send_ping(session.ws)
        second = await websocket_io.send_ping(session.ws)
        payloads: list[bytes] = []
        while len(payloads) < 2:
            data = await stream.receive_some(65536)
            assert data, "the server closed early"
            ws.receive_data(data)
            payloads += [bytes(e.payload) for e in ws.events() if isinstance(e, Ping)]
        assert len(set(payloads)) == 2  # each ping its own payload
        assert not first.is_set() and not second.is_set()
        # answering only the later ping answers the earlier one too
        await stream.send_all(ws.send(Pong(payloads[1])))
        with trio.fail_after(10):
            await first.wait()
            await second.wait()
        third = await websocket_io.send_ping(session.ws)
        await stream.send_all(ws.send(Pong(b"no such ping")))  # a pong for nothing wakes nothing
        await stream.send_all(ws.send(CloseConnection(code=1000)))
        while await stream.receive_some(65536):
            pass
        assert not third.is_set()
        with pytest.raises(ConnectionClosed):
            await websocket_io.send_ping(session.ws)


async def test_no_handshake_state_is_kept_and_the_connection_serves_on(server: Gateway, login: Login) -> None:
    with trio.fail_after(20):
        client = await login(server, "u1")
        session = session_of(server, client.login_id)
        connection = session.ws._wsproto  # the WebSocket connection alone: no HTTP parser, no handshake object
        assert isinstance(connection, wsproto.connection.Connection) and connection._events is websocket_io._NO_HANDSHAKE_EVENTS
        other = await login(server, "u2")
        assert other.ws is not None and client.ws is not None
        await client.ws.ping()  # pings, pongs, frames both ways and the close still work
        assert (await client.request("queryDevices"))["ok"]
        await other.ws.aclose(1000)
        while any(s.login_id == other.login_id for s in server.connections):  # noqa: ASYNC110  no event for a session's end; bounded by fail_after
            await trio.sleep(0.01)
        assert (await client.request("queryDevices"))["ok"]


async def test_a_failure_inside_the_library_ends_that_connection_only(
    server: Gateway, login: Login, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with trio.fail_after(20):
        bystander = await login(server, "bystander")

        async def failing_accept(*args: Any, **kwargs: Any) -> None:
            raise RuntimeError("the library failed while accepting")

        monkeypatch.setattr(websocket_io.UpgradeRequest, "accept", failing_accept)
        assert server.listening is not None
        stream = await trio.open_tcp_stream(server.listening.host, server.listening.ws_port)
        ws = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
        await stream.send_all(ws.send(wsproto.events.Request(host="localhost", target="/ws")))
        assert await stream.receive_some(65536) == b""  # this one connection is closed
        await trio.testing.wait_all_tasks_blocked()
        assert "connection failed in its handshake or handler" in caplog.text  # the guard caught it
        await stream.aclose()
        monkeypatch.undo()
        assert (await bystander.request("queryDevices"))["ok"]
        newcomer = await login(server, "newcomer")
        assert (await newcomer.request("queryDevices"))["ok"]


def _tasks_named(name: str) -> list[trio.lowlevel.Task]:
    found, todo = [], [trio.lowlevel.current_root_task()]
    while todo:
        task = todo.pop()
        assert task is not None
        if task.coro.__qualname__.endswith(name):
            found.append(task)
        todo.extend(child for nursery in task.child_nurseries for child in nursery.child_tasks)
    return found


async def test_the_session_reads_its_frames_itself(server: Gateway) -> None:
    """No reader task nor message queue of the library: fragments, pings between them and pipelined frames are all read."""
    with trio.fail_after(20):
        stream, ws, session = await _raw_session(server)
        assert _tasks_named("_reader_task") == [] and session.ws._recv_channel is websocket_io._NO_MESSAGES[1]
        # its tasks: the connection's own and the writer; its deadlines are the gateway's one timer task's
        assert len(_tasks_named("DeviceSession._writer")) == 1
        assert len(_tasks_named("SessionTimers.run")) == len(nodes_of(server))  # one per gateway (a cluster's: three here)
        assert _tasks_named("DeviceSession._keepalive_ping") == [] and len(server.timers) == 1
        frame = cbor2.dumps({"op": "queryDevices", "id": 7})
        # one message in three fragments with a ping between them, then two whole ones, all in one write
        data = ws.send(BytesMessage(frame[:3], message_finished=False))
        data += ws.send(Ping(b"between"))
        data += ws.send(BytesMessage(frame[3:6], message_finished=False))
        data += ws.send(BytesMessage(frame[6:]))
        data += ws.send(BytesMessage(cbor2.dumps({"op": "queryDevices", "id": 8})))
        data += ws.send(BytesMessage(cbor2.dumps({"op": "queryDevices", "id": 9})))
        await stream.send_all(data)
        pongs: list[bytes] = []
        replies: list[tuple[int, int]] = []
        while len(replies) < 3:
            received = await stream.receive_some(65536)
            assert received, "the server closed early"
            ws.receive_data(received)
            for event in ws.events():
                if isinstance(event, Pong):
                    pongs.append(bytes(event.payload))
                elif isinstance(event, BytesMessage):
                    reply = cbor2.loads(event.data)
                    replies.append((reply["re"], reply["error"]["code"]))
        assert pongs == [b"between"]
        assert replies == [(7, 2001), (8, 2001), (9, 2001)]  # each answered (2001: not logged in yet), in order
        await stream.aclose()
