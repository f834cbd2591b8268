"""The account a connection's request line names (gateway/handoff.py): a hint, read only when it is whole and plain."""

from __future__ import annotations

import secrets

import pytest
import trio

from gateway.handoff import Handoff, account_hint
from hubbub_client import with_account_hint


@pytest.mark.parametrize(
    ("head", "user"),
    [
        (b"GET /ws?user=alice HTTP/1.1\r\nHost: x\r\n\r\n", "alice"),
        (b"GET /ws?x=1&user=b%C3%B6b%2F1 HTTP/1.1\r\n", "b\u00f6b/1"),
        (b"GET /ws HTTP/1.1\r\n", None),  # names no account
        (b"GET /ws?user=alice HTTP/1.1", None),  # the line is not whole yet
        (b"POST /ws?user=alice HTTP/1.1\r\n", None),
        (b"GET /ws?user=a&user=b HTTP/1.1\r\n", None),  # two names: neither
        (b"GET /ws?user= HTTP/1.1\r\n", None),
        (b"GET /ws?user=" + b"x" * 300 + b" HTTP/1.1\r\n", None),
        (b"GET /ws?user=\xff HTTP/1.1\r\n", None),
        (b"\x16\x03\x01\x02\x00", None),  # a TLS hello on the plain port
        (b"", None),
    ],
)
def test_the_account_a_request_line_names(head: bytes, user: str | None) -> None:
    assert account_hint(head) == user


def test_the_client_names_its_account_in_the_url() -> None:
    assert with_account_hint("ws://h:1/ws", "al ice/1") == "ws://h:1/ws?user=al%20ice%2F1"
    assert with_account_hint("ws://h:1/ws?a=b", "bob") == "ws://h:1/ws?a=b&user=bob"
    url = with_account_hint("ws://h:1/ws", "b\u00f6b")
    assert account_hint(f"GET {url.split('h:1', 1)[1]} HTTP/1.1\r\n".encode()) == "b\u00f6b"


async def _accepted_pair(listener: trio.SocketListener) -> tuple[trio.SocketStream, trio.SocketStream]:
    host, port = listener.socket.getsockname()[:2]
    client = await trio.open_tcp_stream(host, port)
    return client, await listener.accept()


async def test_a_connection_is_handed_whole_to_the_owner_and_served_there(nursery: trio.Nursery) -> None:
    """The socket moves with its unread request; a hint owned here, no hint, or no owner listening: served here."""
    port = secrets.randbelow(50_000) + 10_000  # only names the handoff sockets: nothing listens on it
    served: list[trio.SocketStream] = []
    arrived = trio.Event()

    def serve_soon(stream: trio.SocketStream) -> None:
        served.append(stream)
        arrived.set()

    owners = {"alice": "w-2", "bob": "w-1", "carol": "w-3"}
    one = Handoff("127.0.0.1", port, "w-1", ["w-1", "w-2", "w-3"], owners.__getitem__, serve_soon)
    two = Handoff("127.0.0.1", port, "w-2", ["w-1", "w-2", "w-3"], owners.__getitem__, serve_soon)
    await nursery.start(two.run)
    (listener,) = await trio.open_tcp_listeners(0, host="127.0.0.1")
    with trio.fail_after(10):
        client, accepted = await _accepted_pair(listener)
        await client.send_all(b"GET /ws?user=alice HTTP/1.1\r\nHost: x\r\n\r\n")
        assert await one.place(accepted, 5)
        await accepted.aclose()  # this worker's copy: the connection lives on in w-2's
        await arrived.wait()
        (moved,) = served
        assert await moved.receive_some(100) == b"GET /ws?user=alice HTTP/1.1\r\nHost: x\r\n\r\n"  # nothing was read
        await moved.send_all(b"from w-2")
        assert await client.receive_some(100) == b"from w-2"
        for head in (b"GET /ws?user=bob HTTP/1.1\r\n", b"GET /ws HTTP/1.1\r\n", b"GET /ws?user=carol HTTP/1.1\r\n"):
            client, accepted = await _accepted_pair(listener)
            await client.send_all(head)
            assert not await one.place(accepted, 5), head  # bob is w-1's; no hint; w-3 does not listen
            assert await accepted.receive_some(100) == head
        assert one.stats == {"handed": 1, "taken": 0, "handoff_failed": 1} and two.stats["taken"] == 1


async def test_a_connection_silent_past_the_handshake_timeout_is_done_with(nursery: trio.Nursery) -> None:
    one = Handoff("127.0.0.1", 1, "w-1", ["w-1", "w-2"], lambda user: "w-2", lambda stream: None)
    (listener,) = await trio.open_tcp_listeners(0, host="127.0.0.1")
    _, accepted = await _accepted_pair(listener)
    with trio.fail_after(10):
        assert await one.place(accepted, 0.2)  # closed by the caller, as the handshake would have been
