"""The trio-websocket workarounds (gateway/websocket_io.py, hubbub_client/wsfix.py), one test each.

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
from trio_websocket import _impl
from wsproto.events import CloseConnection

from gateway import websocket_io
from gateway.server import Gateway
from hubbub_client import wsfix

from .conftest import Login, StartServer
from .test_connection_robustness import _MASKED_EMPTY_PING, _raw_connection


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
        session = next(s for s in server.connections if s.login_id == client.login_id)
        counting = _CountingStream(session.ws._stream)
        session.ws._stream = counting
        await websocket_io.send_messages(session.ws, [cbor2.dumps({"ev": "probe", "n": n}) for n in range(3)])
        assert counting.writes == 1
        assert [(await client.next_event("probe"))["n"] for _ in range(3)] == [0, 1, 2]
        assert (await client.request("queryDevices"))["ok"]


async def test_a_failure_inside_the_library_ends_that_connection_only(
    server: Gateway, login: Login, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with trio.fail_after(20):
        bystander = await login(server, "bystander")
        # without fix 3 a ping after our close frame raises inside the library's reader task
        monkeypatch.setattr(_impl.WebSocketConnection, "_handle_ping_event", websocket_io._original_handle_ping_event)
        stream, ws = await _raw_connection(server)
        await stream.send_all(ws.send(wsproto.events.BytesMessage(b"\xa0" + b"x" * (server.config.max_frame_bytes + 10))))
        closed = False
        while not closed:
            data = await stream.receive_some(65536)
            assert data, "the server dropped the connection before its close frame"
            ws.receive_data(data)
            closed = any(isinstance(e, CloseConnection) for e in ws.events())
        await stream.send_all(_MASKED_EMPTY_PING)
        assert await stream.receive_some(65536) == b""  # this one connection is closed
        await trio.testing.wait_all_tasks_blocked()
        assert "connection failed inside the WebSocket library" in caplog.text  # the guard caught it
        monkeypatch.undo()
        assert (await bystander.request("queryDevices"))["ok"]
        newcomer = await login(server, "newcomer")
        assert (await newcomer.request("queryDevices"))["ok"]
