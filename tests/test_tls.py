"""wss:// when the server is given a certificate (PROTOCOL.md §1), with a test CA from trustme."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
import trio
import trustme
from trio_websocket import HandshakeError

from hubbub_client import Client, open_client

from .cluster_servers import nodes_of
from .conftest import Login, StartServer, token


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


def _server_files(ca: trustme.CA, tmp_path: Path) -> tuple[Path, Path]:
    cert = ca.issue_cert("127.0.0.1", "localhost")
    chain, key = tmp_path / "chain.pem", tmp_path / "key.pem"
    chain.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    key.write_bytes(cert.private_key_pem.bytes())
    return chain, key


def _trusting(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


async def test_wss_serves_a_client_that_trusts_the_certificate(
    start_server: StartServer, login: Login, ca: trustme.CA, tmp_path: Path
) -> None:
    chain, key = _server_files(ca, tmp_path)
    server = await start_server("multi", tls_cert=chain, tls_key=key)
    assert server.listening is not None and server.listening.ws_url.startswith("wss://127.0.0.1:")
    with trio.fail_after(20):
        async with open_client(server.listening.ws_url, ssl_context=_trusting(ca)) as alice, open_client(
            server.listening.ws_url, ssl_context=_trusting(ca)
        ) as bob:
            await alice.login("alice", token("alice"), platform="Mac")
            await bob.login("bob", token("bob"), platform="iOS")
            sent = await alice.request("sendMessage", toConversationID="bob", conversationType=0, message={"type": 1, "message": "over TLS"})
            got = await bob.next_event("peerMessageReceived")
            assert got["messageList"][0]["messageID"] == sent["message"]["messageID"]


async def test_peers_that_fail_the_tls_handshake_disturb_no_one(
    start_server: StartServer, ca: trustme.CA, tmp_path: Path, nursery: trio.Nursery
) -> None:
    chain, key = _server_files(ca, tmp_path)
    server = await start_server("multi", tls_cert=chain, tls_key=key)
    assert server.listening is not None
    url = server.listening.ws_url
    with trio.fail_after(20):
        async with open_client(url, ssl_context=_trusting(ca)) as bystander:
            await bystander.login("bystander", token("bystander"), platform="Mac")
            # a client that does not trust the certificate refuses the server
            with pytest.raises(HandshakeError):
                await Client(url, nursery, ssl_context=ssl.create_default_context()).connect()
            # plain WebSocket to the TLS port: the server refuses the handshake
            with pytest.raises(HandshakeError):
                await Client(url.replace("wss://", "ws://"), nursery).connect()
            # garbage bytes where a TLS hello should be
            stream = await trio.open_tcp_stream("127.0.0.1", server.listening.ws_port)
            await stream.send_all(b"\x16\x03\x01 not really a client hello" * 10)
            await stream.aclose()
            assert (await bystander.request("queryDevices"))["ok"]
            assert sum(len(node.connections) for node in nodes_of(server)) == 1
