"""The opening handshake read and answered by the gateway itself (gateway/websocket_io.py, workaround 8).

Over real sockets: a valid request gets the RFC 6455 101 (checked by
wsproto's own client), frames sent before it arrived are read; each kind of
request wsproto refuses is refused with its status, and the server serves
on. The parser's rules are checked on their own below.
"""

from __future__ import annotations

import cbor2
import pytest
import trio
import wsproto
from wsproto.events import AcceptConnection, BytesMessage, Request

from gateway import websocket_io
from gateway.server import Gateway
from gateway.websocket_io import BadHandshake, accept_response, parse_upgrade

from .conftest import Login

KEY = b"dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 §1.3's example
GOOD = [
    b"GET /ws HTTP/1.1", b"Host: localhost", b"Upgrade: websocket", b"Connection: Upgrade",
    b"Sec-WebSocket-Key: " + KEY, b"Sec-WebSocket-Version: 13",
]  # fmt: skip


def _request(lines: list[bytes]) -> bytes:
    return b"\r\n".join([*lines, b"", b""])


def _without(prefix: bytes) -> list[bytes]:
    return [line for line in GOOD if not line.startswith(prefix)]


async def _answer(server: Gateway, request: bytes) -> bytes:
    """Everything the server sends for `request` until it closes the connection."""
    assert server.listening is not None
    stream = await trio.open_tcp_stream(server.listening.host, server.listening.ws_port)
    await stream.send_all(request)
    answer = b""
    while chunk := await stream.receive_some(65536):
        answer += chunk
    await stream.aclose()
    return answer


def test_the_accept_token_is_rfc_6455s() -> None:
    assert accept_response(KEY) == (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
    )


def test_header_names_and_tokens_are_read_as_http_reads_them() -> None:
    request = [
        b"GET /ws?v=1 HTTP/1.1", b"HOST: localhost", b"upgrade: WebSocket", b"connection: keep-alive",
        b"Connection: upgrade", b"sec-websocket-key:" + KEY, b"Sec-WebSocket-Version:   13  ",
    ]  # fmt: skip
    upgrade = parse_upgrade(b"\r\n".join(request), b"rest")
    assert (upgrade.target, upgrade.key, upgrade.trailing) == ("/ws?v=1", KEY, b"rest")


@pytest.mark.parametrize(
    ("lines", "status"),
    [
        ([b"POST /ws HTTP/1.1", *GOOD[1:]], 400),
        ([b"GET /ws HTTP/1.0", *GOOD[1:]], 400),
        ([b"GET /ws", *GOOD[1:]], 400),
        (_without(b"Connection"), 400),
        ([*_without(b"Connection"), b"Connection: keep-alive"], 400),
        (_without(b"Upgrade"), 400),
        ([*_without(b"Upgrade"), b"Upgrade: h2c"], 400),
        (_without(b"Sec-WebSocket-Key"), 400),
        (_without(b"Sec-WebSocket-Version"), 400),
        ([*_without(b"Sec-WebSocket-Version"), b"Sec-WebSocket-Version: 8"], 426),
        (_without(b"Host"), 400),
        ([*GOOD, b"Content-Length: 5"], 400),
        ([*GOOD, b"Transfer-Encoding: chunked"], 400),
        ([*GOOD, b"no colon here"], 400),
        ([*GOOD, b" folded: line"], 400),
        ([*GOOD, b"Bad Name: x"], 400),
    ],
)
def test_what_wsproto_refuses_is_refused_with_its_status(lines: list[bytes], status: int) -> None:
    with pytest.raises(BadHandshake) as refused:
        parse_upgrade(b"\r\n".join(lines))
    assert refused.value.status == status


async def test_a_valid_handshake_is_accepted_and_frames_sent_before_the_101_are_read(server: Gateway) -> None:
    with trio.fail_after(20):
        assert server.listening is not None
        stream = await trio.open_tcp_stream(server.listening.host, server.listening.ws_port)
        client = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
        request = client.send(Request(host="localhost", target="/ws"))
        # sent before the 101 arrived (wsproto's client would wait for it): the frame built as it builds it, masked
        frame = wsproto.frame_protocol.FrameProtocol(client=True, extensions=[]).send_data(cbor2.dumps({"op": "queryDevices", "id": 5}))
        await stream.send_all(request + frame)
        events: list[object] = []
        while not any(isinstance(e, BytesMessage) for e in events):
            client.receive_data(await stream.receive_some(65536))
            events += list(client.events())
        assert isinstance(events[0], AcceptConnection)  # wsproto checked the Sec-WebSocket-Accept
        (reply,) = [cbor2.loads(e.data) for e in events if isinstance(e, BytesMessage)]
        assert (reply["re"], reply["ok"], reply["error"]["code"]) == (5, False, 2001)  # read and answered: log in first
        await stream.aclose()


async def test_refused_handshakes_get_their_status_and_the_server_serves_on(server: Gateway, login: Login) -> None:
    with trio.fail_after(30):
        bystander = await login(server, "bystander")
        assert (await _answer(server, _request([b"POST /ws HTTP/1.1", *GOOD[1:]]))).startswith(b"HTTP/1.1 400 ")
        version = await _answer(server, _request([*_without(b"Sec-WebSocket-Version"), b"Sec-WebSocket-Version: 8"]))
        assert version.startswith(b"HTTP/1.1 426 ") and b"\r\nSec-WebSocket-Version: 13\r\n" in version
        too_long = _request([*GOOD, b"X-Padding: " + b"p" * (websocket_io._MAX_REQUEST_BYTES + 1)])
        assert (await _answer(server, too_long)).startswith(b"HTTP/1.1 400 ")
        not_found = await _answer(server, _request([b"GET /elsewhere HTTP/1.1", *GOOD[1:]]))
        assert not_found.startswith(b"HTTP/1.1 404 ") and not_found.endswith(b"\r\n\r\nhubbub serves WebSocket at /ws\n")
        assert await _answer(server, b"GET /ws HTTP/1.1\r\nHost: localhost\r\n") == b""  # gone before the end: nothing sent
        assert (await bystander.request("queryDevices"))["ok"]
        newcomer = await login(server, "newcomer")
        assert (await newcomer.request("queryDevices"))["ok"]
