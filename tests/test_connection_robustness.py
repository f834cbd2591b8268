"""A misbehaving peer at the WebSocket level never disturbs the server or others."""

from __future__ import annotations

from functools import partial

import pytest
import trio
import trio.testing
import wsproto
from trio_websocket import ConnectionTimeout
from wsproto.events import AcceptConnection, CloseConnection, Ping, Request

from hubbub_client import Client, ConnectFailed, open_client
from gateway.server import Gateway

from .cluster_servers import nodes_of
from .conftest import Login, StartServer, token

_MASKED_EMPTY_PING = bytes([0x89, 0x80, 0, 0, 0, 0])


async def _raw_connection(server: Gateway) -> tuple[trio.SocketStream, wsproto.WSConnection]:
    assert server.listening is not None
    stream = await trio.open_tcp_stream(server.listening.host, server.listening.ws_port)
    ws = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
    await stream.send_all(ws.send(Request(host="localhost", target="/ws")))
    while True:
        ws.receive_data(await stream.receive_some(65536))
        if any(isinstance(e, AcceptConnection) for e in ws.events()):
            return stream, ws


async def test_ping_after_the_server_closed_does_not_take_the_server_down(server: Gateway, login: Login) -> None:
    with trio.fail_after(20):
        bystander = await login(server, "bystander")
        stream, ws = await _raw_connection(server)
        # a frame over the limit: the server answers 1004 and sends its close frame
        await stream.send_all(ws.send(wsproto.events.BytesMessage(b"\xa0" + b"x" * (server.config.max_frame_bytes + 10))))
        closed = False
        while not closed:
            data = await stream.receive_some(65536)
            if not data:
                break
            ws.receive_data(data)
            closed = any(isinstance(e, CloseConnection) for e in ws.events())
        assert closed
        # instead of answering the close, ping (raw bytes: wsproto would refuse)
        await stream.send_all(_MASKED_EMPTY_PING)
        await trio.sleep(0.2)
        await stream.aclose()
        assert (await bystander.request("queryDevices"))["ok"]
        other = await login(server, "newcomer")
        assert (await other.request("queryDevices"))["ok"]


async def test_a_peer_that_never_answers_pings_is_closed_and_one_that_does_stays(
    start_server: StartServer, login: Login, autojump_clock: trio.testing.MockClock
) -> None:
    server = await start_server("multi", ping_interval_s=20.0, pong_timeout_s=10.0, login_timeout_s=3600.0)
    with trio.fail_after(300):
        answering = await login(server, "alice")
        stream, ws = await _raw_connection(server)  # wsproto answers nothing unless told to
        started = trio.current_time()
        pings, close = 0, None
        while close is None:
            data = await stream.receive_some(65536)
            assert data, "the server closed without a close frame"
            ws.receive_data(data)
            for event in ws.events():
                pings += isinstance(event, Ping)
                if isinstance(event, CloseConnection):
                    close = event
        assert (close.code, close.reason) == (1011, "no pong")
        assert pings == 1
        # one jittered interval (15-25 s) then the pong timeout (10 s)
        assert 25 <= trio.current_time() - started <= 36
        await stream.aclose()
        # the peer whose client answers pings is still there, pings and all
        await trio.sleep(100)
        assert (await answering.request("queryDevices"))["ok"]
        assert answering.close_code is None


async def test_one_timer_task_keeps_every_session_alive_and_holds_a_bounded_heap(
    start_server: StartServer, login: Login, autojump_clock: trio.testing.MockClock
) -> None:
    server = await start_server("multi", ping_interval_s=20.0, pong_timeout_s=10.0, token_warning_s=30.0)
    with trio.fail_after(600):
        clients = [await login(server, f"u{n}", ttl_s=3600) for n in range(5)]
        for _ in range(10):  # renewals arm earlier deadlines only when they are earlier: no pile of stale entries
            assert (await clients[0].request("renewToken", token=token("u0", 3600)))["ok"]
        await trio.sleep(300)  # about fifteen pings each, all from the gateway's one timer task
        for client in clients:
            assert (await client.request("queryDevices"))["ok"] and client.close_code is None
        assert sum(len(node.timers) for node in nodes_of(server)) <= 2 * len(clients)  # a cluster's: each node's own


@pytest.mark.one_process("max_connections is a limit of each node's process, and the test fills one server's")
async def test_connections_beyond_the_limit_get_503_and_the_rest_are_served(
    start_server: StartServer, login: Login
) -> None:
    server = await start_server("multi", max_connections=2)
    assert server.listening is not None
    with trio.fail_after(20):
        alice = await login(server, "alice")
        bob = await login(server, "bob")
        # the refusal reaches the caller of connect as one exception, status and body kept
        with pytest.raises(ConnectFailed) as full:
            async with open_client(server.listening.ws_url):
                raise AssertionError("connected beyond max_connections")
        assert full.value.status_code == 503 and full.value.body == b"server full: retry later\n"
        assert "HTTP 503: server full: retry later" in str(full.value)
        assert server.metrics.refused.labels("full")._value.get() == 1
        assert (await alice.request("queryDevices"))["ok"] and (await bob.request("queryDevices"))["ok"]
        await bob.close()
        while len(server.connections) > 1:  # noqa: ASYNC110  the server's connection set has no event to wait on; bounded by the test's fail_after
            await trio.sleep(0.01)
        carol = await login(server, "carol")  # room again once one left
        assert (await carol.request("queryDevices"))["ok"]


async def test_the_client_gives_up_on_a_server_that_never_answers_the_handshake(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    silent: list[trio.SocketStream] = []

    async def accept_and_say_nothing(stream: trio.SocketStream) -> None:
        silent.append(stream)
        await trio.sleep_forever()

    (listener,) = await nursery.start(partial(trio.serve_tcp, accept_and_say_nothing, 0, host="127.0.0.1"))
    port = listener.socket.getsockname()[1]
    started = trio.current_time()
    with pytest.raises(ConnectionTimeout):
        await Client(f"ws://127.0.0.1:{port}/ws", nursery, connect_timeout_s=5).connect()
    assert 5 <= trio.current_time() - started < 6
    assert len(silent) == 1
    nursery.cancel_scope.cancel()
