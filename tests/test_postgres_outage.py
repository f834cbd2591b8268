"""PostgreSQL unreachable: requests fail with 9001 and nothing is half-applied; service returns with the server.

The test owns its PostgreSQL (not the session's shared one): it stops the
server under a running hubbub, checks what devices see, and starts it again
on the same socket.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterator

import psycopg
import pytest
import trio

from gateway.server import Gateway
from hubbub_client import Client, ClientError

from .conftest import Connect, Login, StartServer, token
from .messaging_support import history, send
from .store_engines import EmbeddedPostgres


@pytest.fixture
def own_postgres() -> Iterator[EmbeddedPostgres]:
    """A PostgreSQL server of this test's own, with an empty database `hubbub`."""
    server = EmbeddedPostgres()
    try:
        with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
            conn.execute("CREATE DATABASE hubbub")
        yield server
    finally:
        server.cleanup()


async def _until_served(client: Client, to: str, text: str) -> dict[str, object]:
    """Send `text` again while the store is still coming back (9001), until it is stored; the reply's Message."""
    while True:
        try:
            return await send(client, to, text, clientMessageID=f"retry-{text}")
        except ClientError as exc:
            assert exc.code == 9001, exc
        await trio.sleep(0.2)


async def test_requests_fail_with_9001_while_postgresql_is_down_and_work_again_once_it_is_back(
    start_server: StartServer, connect: Connect, login: Login, own_postgres: EmbeddedPostgres
) -> None:
    with trio.fail_after(120):
        server: Gateway = await start_server(store_url=own_postgres.url("hubbub"))
        alice = await login(server, "alice", device="A1")
        bob = await login(server, "bob", device="B1")
        await alice.request("createGroup", groupInfo={"groupID": "g1", "groupName": "G"}, userIDs=["bob"])
        await send(alice, "bob", "before")
        await bob.next_event("peerMessageReceived")
        await trio.to_thread.run_sync(own_postgres.stop)

        # every kind of write fails with 9001 while the server is down (at once, together: each waits for the pool)
        carol = await connect(server)
        refusals: dict[str, str] = {}

        async def refused(name: str, request: Awaitable[object]) -> None:
            with pytest.raises(ClientError) as error:
                await request
            assert error.value.code == 9001, error.value
            refusals[name] = error.value.message

        async with trio.open_nursery() as requests:
            body = {"type": 1, "message": "during"}
            requests.start_soon(refused, "send", alice.request("sendMessage", toConversationID="bob", conversationType=0, message=body, timeout=30))
            requests.start_soon(refused, "group", alice.request("updateGroupName", groupID="g1", groupName="renamed", timeout=30))
            requests.start_soon(refused, "draft", bob.request("setConversationDraft", conversationID="alice", conversationType=0, draft="x", timeout=30))
            # a login of an account not live yet: its actor cannot start
            requests.start_soon(refused, "login", carol.login("carol", token("carol"), device_id="C1", timeout=30))
        assert set(refusals) == {"send", "group", "draft", "login"}
        assert all("postgresql" in message for message in refusals.values()), refusals

        await trio.to_thread.run_sync(own_postgres.start)
        after = await _until_served(alice, "bob", "after")
        got = await bob.next_event("peerMessageReceived")
        assert [m["messageID"] for m in got["messageList"]] == [after["messageID"]]
        # nothing of the failed requests was stored
        assert [m["message"] for m in await history(bob, "alice")] == ["after", "before"]
        info = await alice.request("queryGroupInfo", groupID="g1")
        assert info["groupInfo"]["groupName"] == "G"
        assert (await bob.request("queryConversation", conversationID="alice", conversationType=0))["conversation"]["draft"] == ""
        assert await login(server, "carol", device="C1")
