"""Three nodes on one PostgreSQL and one Redis: one account's devices spread over nodes, messages between them.

The nodes are real `hubbub serve` processes; the devices connect to
different ones, so every event below crossed the bus from the node that
owns the account actor to the node that holds the device's socket.
"""

from __future__ import annotations

from pathlib import Path

import coredis
import trio

from actors.bus.placement import owner_of
from actors.runtime import Address

from .cluster_support import device, start_cluster, stop_cluster, three_nodes
from .messaging_support import conversation, message_ids, send, until
from .redis_servers import RedisForTests


async def test_a_message_sent_on_one_node_reaches_devices_on_the_others(
    nursery: trio.Nursery, tmp_path: Path, postgres_url: str, redis_server: RedisForTests
) -> None:
    with trio.fail_after(150):
        nodes = await start_cluster(tmp_path, 3, postgres_url, redis_server.url)
        try:
            n1, n2, n3 = (n.url for n in nodes)
            alice_ios = await device(nursery, n1, "alice", "iOS")
            alice_mac = await device(nursery, n2, "alice", "Mac")
            bob_ios = await device(nursery, n2, "bob", "iOS")
            bob_mac = await device(nursery, n3, "bob", "Mac")
            sent = [await send(alice_ios, "bob", f"hello {i}") for i in range(5)]
            ids = [m["messageID"] for m in sent]
            for receiver in (bob_ios, bob_mac, alice_mac):
                got = message_ids(await until(receiver, lambda e: message_ids([e]) == ids[-1:], timeout=20))
                assert got == ids  # every one, once, in order
            assert [(await conversation(receiver, "alice"))["unreadMessageCount"] for receiver in (bob_ios, bob_mac)] == [5, 5]
            reply = await send(bob_mac, "alice", "hi back")
            for receiver in (alice_ios, alice_mac, bob_ios):
                assert message_ids(await until(receiver, lambda e: message_ids([e]) == [reply["messageID"]], timeout=20)) == [reply["messageID"]]
        finally:
            await stop_cluster(nodes)


async def test_a_group_message_crosses_to_each_other_node_once_whatever_its_members_there(
    nursery: trio.Nursery, tmp_path: Path, postgres_url: str, redis_server: RedisForTests
) -> None:
    """The group's node sends each other node its members' share in one envelope; every member's device gets the message once."""
    with trio.fail_after(150):
        async with three_nodes(tmp_path, postgres_url, redis_server.url) as nodes:
            names = tuple(sorted(n.name for n in nodes))
            url_of = {n.name: n.url for n in nodes}
            owned: dict[str, list[str]] = {name: [] for name in names}
            for user in (f"member{i}" for i in range(200)):
                owner = owner_of(Address("account", user), names)
                if len(owned[owner]) < 6:
                    owned[owner].append(user)
            members = [user for share in owned.values() for user in share]
            # each device on its account's node: what crosses is the group's fan-out alone
            clients = {user: await device(nursery, url_of[owner_of(Address("account", user), names)], user, "iOS") for user in members}
            sender = members[0]
            group_id = (await clients[sender].request("createGroup", groupInfo={"groupName": "g"}, userIDs=members[1:]))["groupInfo"]["groupID"]
            async with coredis.Redis.from_url(redis_server.url) as raw:
                before = {name: await raw.xlen(f"hubbub:inbox:{name}") for name in names}
                reply = await clients[sender].request(
                    "sendMessage", toConversationID=group_id, conversationType=2, message={"type": 1, "message": "to all"}
                )
                message_id = reply["message"]["messageID"]
                for user in members[1:]:
                    events = await until(clients[user], lambda e: e.get("ev") == "groupMessageReceived", timeout=20)
                    assert [m["messageID"] for m in events[-1]["messageList"]] == [message_id], user
                grown = {name: await raw.xlen(f"hubbub:inbox:{name}") - before[name] for name in names}
            # the group's node asks nothing more of the others: at most its share's envelope, an ask and its answer each
            assert all(count <= 3 for count in grown.values()), grown
