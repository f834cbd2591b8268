"""Property: every device's view, rebuilt from what it received, equals the server's (PROTOCOL.md §4, §6, §15, §16).

Three users with two devices each, all members of one group, run random
batches of concurrent sends, clears, deletions (on the server),
conversation deletions, pins and revokes, in peer conversations and in the
group's threads, and thread operations (create, join, leave, rename,
destroy, kick) and member attribute updates. Each device keeps a local view
the way a client would: from the events it received, plus the effect of its
own requests when their ok reply arrives (the acting device gets a reply,
not an event), applied in arrival order. At the end every view must equal
`queryConversationList` (existence, unread counts, pins), the total unread
count, each conversation's history (which messages, and which of them are
revoked), `queryJoinedThreadList` (the threads joined) and
`queryGroupMemberAttributes` (every member's attributes).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import trio
from hypothesis import HealthCheck, Phase, given, settings

from actors.account.policy import LoginPolicy
from hubbub_client import Client, ClientError
from gateway.config import Config
from gateway.server import Gateway, serve

from .cluster_servers import ClusterServers, SharedRedis
from .conftest import SECRET, TEST_STORE, token
from .messaging_support import RecordingClient, conversation_list, history, until
from .store_engines import PostgresForTests

USERS = ("u0", "u1", "u2")
PLATFORMS = ("iOS", "Windows")
GROUP = "g-sync"  # every user is a member; u0 is its Owner
PARENTS = 3  # group messages threads may start from
TOLERATED = {1003, 6001}  # the conversation or message went away in a concurrent step
# a thread or attribute step its state refused: a member kicking itself or a peer
# conversation gone (1003), not the owner or an admin (4003), a thread on that message
# already or already a member (4004), the thread gone (7001), not in it (7002)
THREAD_TOLERATED = {1003, 4003, 4004, 7001, 7002}


def _type_of(cid: str) -> int:
    """The conversation type of a conversation ID of this test: a user (0), the group (2) or one of its threads (3)."""
    return 0 if cid in USERS else 2 if cid == GROUP else 3


@dataclass
class View:
    """One device's idea of its account: conversations, counts, messages."""

    user_id: str
    conversations: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> {unread, pinned}
    total: int = 0
    last_seq: dict[str, int] = field(default_factory=dict)  # newest messageSeq seen per conversation
    read_seq: dict[str, int] = field(default_factory=dict)  # read watermark per conversation
    messages: dict[str, dict[str, tuple[int, int]]] = field(default_factory=dict)  # id -> message -> (seq, direction)
    revoked: set[str] = field(default_factory=set)  # message IDs
    threads: set[str] = field(default_factory=set)  # the threads this user is a member of
    attributes: dict[str, dict[str, str]] = field(default_factory=dict)  # member -> its attributes in the group

    # -- what a client learns -------------------------------------------------

    def _message(self, message: dict[str, Any]) -> None:
        cid = message["conversationID"]
        self.messages.setdefault(cid, {})[message["messageID"]] = (message["messageSeq"], message["direction"])
        self.last_seq[cid] = max(self.last_seq.get(cid, 0), message["messageSeq"])

    def _read(self, cid: str) -> None:
        self.read_seq[cid] = self.last_seq.get(cid, 0)
        if cid in self.conversations:
            self.conversations[cid]["unread"] = 0

    def _read_everything(self) -> None:
        for cid in set(self.last_seq) | set(self.conversations):
            self._read(cid)

    def _recount(self) -> None:
        self.total = sum(c["unread"] for c in self.conversations.values())

    def event(self, event: dict[str, Any]) -> None:
        name = event["ev"]
        if name in ("peerMessageReceived", "groupMessageReceived", "threadMessageReceived"):
            for message in event["messageList"]:
                self._message(message)
        elif name == "threadChanged":
            thread, kind = event["thread"], event["event"]
            if kind in ("join",) or kind == "create" and thread["ownerUserID"] == self.user_id:
                self.threads.add(thread["threadID"])
            elif kind in ("leave", "kick", "destroy"):
                self.threads.discard(thread["threadID"])
        elif name == "groupMemberAttributesUpdated":
            self.attributes[event["userID"]] = event["attributes"]
        elif name == "conversationChanged":
            for info in event["infoList"]:
                conversation = info["conversation"]
                cid = conversation["conversationID"]
                if info["event"] == 3:
                    self.conversations.pop(cid, None)
                    self._read(cid)
                else:
                    self.conversations[cid] = {"unread": conversation["unreadMessageCount"], "pinned": conversation["isPinned"]}
                    if conversation["unreadMessageCount"] == 0:
                        self._read(cid)
        elif name == "conversationTotalUnreadMessageCountUpdated":
            self.total = event["totalUnreadMessageCount"]
            if self.total == 0:
                self._read_everything()
        elif name == "messageRevokeReceived":
            self.revoked.update(m["messageID"] for m in event["messageList"])
        elif name == "conversationsAllDeleted":
            self._read_everything()
            self.conversations.clear()
        elif name == "messageDeleted":
            kind = event["messageDeleteType"]
            if kind == 0:
                for message in event["messageList"]:
                    self.messages.get(event["conversationID"], {}).pop(message["messageID"], None)
            elif kind == 1:
                self.messages[event["conversationID"]] = {}
                self._read(event["conversationID"])
            else:
                self.messages = {}
                self._read_everything()

    def own(self, op: tuple[Any, ...], reply: dict[str, Any]) -> None:
        """The effect of this device's own request, known from the request and its ok reply."""
        kind = op[0]
        if kind in ("send", "thread_send"):
            message = reply["message"]
            self._message(message)
            self.conversations.setdefault(message["conversationID"], {"unread": 0, "pinned": False})
        elif kind == "clear":
            self._read(op[3])
        elif kind == "clear_total":
            self._read_everything()
        elif kind == "pin":
            self.conversations[op[3]]["pinned"] = op[4]
        elif kind == "revoke":
            self.revoked.add(reply["message"]["messageID"])
        elif kind in ("thread_create", "thread_join"):
            self.threads.add(reply["thread"]["threadID"])
        elif kind in ("thread_leave", "thread_destroy"):
            self.threads.discard(reply["thread"]["threadID"])
        elif kind in ("attribute_set", "attribute_delete"):
            self.attributes[reply["userID"]] = reply["attributes"]
        elif kind == "delete_conversation":
            self.conversations.pop(op[3], None)
            self._read(op[3])
        elif kind == "delete_all_conversations":
            self._read_everything()
            self.conversations.clear()
        elif kind == "delete_messages":
            cid, ids = op[3], op[5]
            known = self.messages.get(cid, {})
            for message_id in ids:
                seq, direction = known.pop(message_id)
                if direction == 1 and seq > self.read_seq.get(cid, 0) and cid in self.conversations:
                    self.conversations[cid]["unread"] -= 1
        elif kind == "delete_all_message":
            self.messages[op[3]] = {}
            self._read(op[3])
        elif kind == "delete_all_conversation_messages":
            self.messages = {}
            self._read_everything()
        self._recount()


# ---- the random program ---------------------------------------------------------

# Sends are the most common step; every other step names a conversation
# with another user, so most of them find one.
KINDS = (
    ["send"] * 4 + ["clear"] * 2 + ["delete_messages"] * 2 + ["pin"] * 2 + ["revoke"] * 2
    + ["clear_total", "delete_conversation", "delete_all_conversations", "delete_all_message", "delete_all_conversation_messages"]
    + ["thread_send"] * 3 + ["thread_join"] * 2 + ["thread_create", "thread_leave", "thread_rename", "thread_destroy", "thread_kick"]
    + ["attribute_set"] * 2 + ["attribute_delete"]
)
# conversation steps that may name a thread instead of a peer (at run time, one of the threads made so far)
ON_A_THREAD = ("clear", "delete_messages", "pin", "revoke", "delete_conversation", "delete_all_message")
THREAD_OPS = ("thread_send", "thread_join", "thread_leave", "thread_rename", "thread_destroy", "thread_kick")


@st.composite
def steps(draw: st.DrawFn) -> tuple[Any, ...]:
    kind = draw(st.sampled_from(KINDS))
    index, device = draw(st.integers(0, len(USERS) - 1)), draw(st.integers(0, 1))
    offset = draw(st.sampled_from([1, 2, 1, 2, 0] if kind == "send" else [1, 2]))  # 0: to one's own devices
    user_id, peer = USERS[index], USERS[(index + offset) % len(USERS)]
    if kind in ON_A_THREAD and draw(st.integers(0, 2)) == 0:
        peer = f"#{draw(st.integers(0, 7))}"  # the thread of that index (modulo how many there are when the step runs)
    if kind in THREAD_OPS:
        return (kind, user_id, device, f"#{draw(st.integers(0, 7))}", peer)
    if kind == "thread_create":
        return (kind, user_id, device, draw(st.integers(0, PARENTS - 1)))
    if kind in ("attribute_set", "attribute_delete"):
        return (kind, user_id, device, peer if draw(st.integers(0, 3)) == 0 else user_id, draw(st.sampled_from(["a", "b"])))
    if kind in ("clear_total", "delete_all_conversations", "delete_all_conversation_messages"):
        return (kind, user_id, device)
    if kind == "pin":
        return (kind, user_id, device, peer, draw(st.booleans()))
    if kind in ("delete_messages", "revoke"):
        return (kind, user_id, device, peer, draw(st.integers(0, 2**16 - 1)))
    return (kind, user_id, device, peer)


PROGRAMS = st.lists(st.lists(steps(), min_size=1, max_size=4), min_size=1, max_size=10)


@dataclass
class Shared:
    """What every step may name: the group's parent messages, and the threads made so far (in order)."""

    parents: list[str] = field(default_factory=list)
    threads: list[str] = field(default_factory=list)

    def thread(self, pick: str) -> str | None:
        """The thread a `#n` pick names (None before there is any)."""
        return self.threads[int(pick[1:]) % len(self.threads)] if self.threads else None


def _named(op: tuple[Any, ...], shared: Shared) -> tuple[Any, ...] | None:
    """`op` with its `#n` thread pick replaced by a threadID (None: no thread yet)."""
    if len(op) > 3 and isinstance(op[3], str) and op[3].startswith("#"):
        thread_id = shared.thread(op[3])
        return None if thread_id is None else (*op[:3], thread_id, *op[4:])
    return op


async def _thread_op(client: Client, op: tuple[Any, ...], shared: Shared) -> dict[str, Any]:
    kind, user_id = op[0], op[1]
    if kind == "thread_create":
        reply = await client.request("createThread", groupID=GROUP, parentMessageID=shared.parents[op[3]], threadName=f"by {user_id}")
        shared.threads.append(reply["thread"]["threadID"])
        return reply
    if kind in ("attribute_set", "attribute_delete"):
        if kind == "attribute_set":
            return await client.request("setGroupMemberAttributes", groupID=GROUP, userID=op[3], attributes={op[4]: user_id})
        return await client.request("deleteGroupMemberAttributes", groupID=GROUP, userID=op[3], keys=[op[4]])
    thread_id = op[3]
    if kind == "thread_send":
        message = {"type": 1, "message": "t"}
        return await client.request("sendMessage", toConversationID=thread_id, conversationType=3, message=message)
    if kind == "thread_rename":
        return await client.request("updateThreadName", threadID=thread_id, threadName=f"by {user_id}")
    if kind == "thread_kick":
        return await client.request("kickThreadMembers", threadID=thread_id, userIDs=[op[4]])
    names = {"thread_join": "joinThread", "thread_leave": "leaveThread", "thread_destroy": "destroyThread"}
    return await client.request(names[kind], threadID=thread_id)


async def _run(client: Client, op: tuple[Any, ...], replies: list[tuple[dict[str, Any], tuple[Any, ...]]], shared: Shared) -> None:
    named = _named(op, shared)
    if named is None:
        return
    op = named
    if op[0].startswith(("thread_", "attribute_")):
        try:
            replies.append((await _thread_op(client, op, shared), op))
        except ClientError as exc:
            assert exc.code in THREAD_TOLERATED, (op, exc)
        return
    kind, _, _, *args = op
    peer = {"conversationID": args[0], "conversationType": _type_of(args[0])} if args else {}
    on_server = {"isAlsoDeleteServerMessage": True}
    if kind == "delete_messages":
        found = await history(client, args[0], _type_of(args[0]))
        if not found:
            return
        picked = [m["messageID"] for i, m in enumerate(found) if (args[1] >> (i % 16)) & 1] or [found[0]["messageID"]]
        op = (*op, picked)
    if kind == "revoke":
        mine = [m["messageID"] for m in await history(client, args[0], _type_of(args[0])) if m["direction"] == 0 and not m["isRevoked"]]
        if not mine:
            return
        op = (*op, mine[args[1] % len(mine)])
    requests: dict[str, tuple[str, dict[str, Any]]] = {
        "clear": ("clearConversationUnreadMessageCount", peer),
        "clear_total": ("clearConversationTotalUnreadMessageCount", {}),
        "delete_conversation": ("deleteConversation", peer),
        "delete_all_conversations": ("deleteAllConversations", {}),
        "delete_all_message": ("deleteAllMessage", {**peer, "config": on_server}),
        "delete_all_conversation_messages": ("deleteAllConversationMessages", {"config": on_server}),
    }
    if kind == "send":
        name, fields = "sendMessage", {"toConversationID": op[3], "conversationType": 0, "message": {"type": 1, "message": "x"}}
    elif kind == "pin":
        name, fields = "updateConversationPinnedState", {**peer, "isPinned": op[4]}
    elif kind == "delete_messages":
        name, fields = "deleteMessages", {**peer, "messageIDs": op[5], "config": on_server}
    elif kind == "revoke":
        name, fields = "revokeMessage", {**peer, "messageID": op[5]}
    else:
        name, fields = requests[kind]
    try:
        reply = await client.request(name, **fields)
    except ClientError as exc:
        assert exc.code in TOLERATED, (op, exc)
        return
    replies.append((reply, op))


async def _settle(clients: dict[str, list[RecordingClient]], replies: list[tuple[dict[str, Any], tuple[Any, ...]]]) -> None:
    """Each device sends a note to its own account; the other device waits for it.

    Every delivery from another account was queued before the sender's
    reply, so by then each device has every durable event of its account.
    """
    for user_id, (first, second) in clients.items():
        for actor, watcher in ((first, second), (second, first)):
            op = ("send", user_id, 0, user_id)
            reply = await actor.request("sendMessage", toConversationID=user_id, conversationType=0, message={"type": 1, "message": "marker"})
            replies.append((reply, op))
            message_id = reply["message"]["messageID"]
            await until(watcher, lambda e: e["ev"] == "conversationChanged"
                        and (e["infoList"][0]["conversation"]["lastMessage"] or {}).get("messageID") == message_id)  # noqa: B023  until() is awaited inside this iteration


async def _group_with_parents(clients: dict[str, list[RecordingClient]], replies: list[tuple[dict[str, Any], tuple[Any, ...]]]) -> Shared:
    """The group of every user (u0 its Owner), its parent messages, and a first thread (u1's, u2 in it too)."""
    owner = clients[USERS[0]][0]
    await owner.request("createGroup", groupInfo={"groupID": GROUP, "groupName": GROUP}, userIDs=list(USERS[1:]))
    shared = Shared()
    for n in range(PARENTS):
        reply = await owner.request("sendMessage", toConversationID=GROUP, conversationType=2, message={"type": 1, "message": f"p{n}"})
        shared.parents.append(reply["message"]["messageID"])
        replies.append((reply, ("send", USERS[0], 0, GROUP)))
    for op in (("thread_create", USERS[1], 0, 0), ("thread_join", USERS[2], 0, "#0", USERS[0])):
        named = _named(op, shared)
        assert named is not None
        replies.append((await _thread_op(clients[op[1]][0], named, shared), named))
    return shared


def _rebuild(client: RecordingClient, user_id: str, own: dict[int, tuple[Any, ...]]) -> View:
    view = View(user_id)
    events = []
    for frame in client.log:
        if "ev" in frame:
            if "seq" in frame:
                events.append(frame)
                view.event(frame)
        elif id(frame) in own and frame.get("ok"):
            view.own(own[id(frame)], frame)
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(set(seqs)), f"{user_id}: durable events out of order or repeated: {seqs}"
    return view


async def _start(nursery: trio.Nursery, config: Config, clusters: ClusterServers | None) -> Gateway:
    """A server for one example in this nursery: one process, or (HUBBUB_TEST_STORE=cluster) three nodes."""
    if clusters is None:
        gateway: Gateway = await nursery.start(serve, config)
        return gateway
    return await clusters.start(config)


def _ws_url(server: Gateway, clusters: ClusterServers | None) -> str:
    """Where the next device connects: the server, or the next node of its cluster (round-robin)."""
    node = server if clusters is None else clusters.node_for_client(server)
    assert node.listening is not None
    return node.listening.ws_url


# No explain phase: each run starts a server, and a minimal failing program says enough.
# `cluster_backends` is the run's PostgreSQL and Redis (None unless HUBBUB_TEST_STORE=cluster), the same for every example;
# there each example starts three nodes (about 9 s of a loaded machine's time each), so fewer of them.
@settings(
    max_examples=15 if TEST_STORE != "cluster" else 6, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
)
@given(program=PROGRAMS)
async def test_every_device_view_rebuilt_from_events_matches_the_server(
    cluster_backends: tuple[PostgresForTests, SharedRedis] | None, program: list[list[tuple[Any, ...]]]
) -> None:
    with tempfile.TemporaryDirectory() as data_dir, trio.fail_after(60 if cluster_backends is None else 180):
        config = replace(Config(), data_dir=Path(data_dir), auth_secret=SECRET, admin_port=None, policy=LoginPolicy.preset("multi"))
        async with trio.open_nursery() as nursery:
            cluster_servers = None if cluster_backends is None else ClusterServers(nursery, *cluster_backends)
            server = await _start(nursery, config, cluster_servers)
            clients: dict[str, list[RecordingClient]] = {}
            for user_id in USERS:
                clients[user_id] = []
                for platform in PLATFORMS:
                    client = RecordingClient(_ws_url(server, cluster_servers), nursery)
                    await client.connect()
                    await client.login(user_id, token(user_id), platform=platform, device_id=f"{user_id}-{platform}")
                    clients[user_id].append(client)
            replies: list[tuple[dict[str, Any], tuple[Any, ...]]] = []
            shared = await _group_with_parents(clients, replies)
            await _settle(clients, replies)  # every device has the setup's events before the program starts

            for batch in program:
                async with trio.open_nursery() as steps:
                    for op in batch:
                        steps.start_soon(_run, clients[op[1]][op[2]], op, replies, shared)
            await _settle(clients, replies)
            own = {id(reply): op for reply, op in replies}

            for user_id, devices in clients.items():
                server_list = await conversation_list(devices[0])
                expected = {c["conversationID"]: {"unread": c["unreadMessageCount"], "pinned": c["isPinned"]} for c in server_list}
                joined = {t["threadID"] for t in (await devices[0].request("queryJoinedThreadList", config={"count": 100}))["threadList"]}
                infos = (await devices[0].request("queryGroupMemberAttributes", groupID=GROUP, userIDs=list(USERS)))["infos"]
                attributes = {i["userID"]: i["attributes"] for i in infos if i["attributes"]}
                for index, client in enumerate(devices):
                    view = _rebuild(client, user_id, own)
                    where = f"{user_id} device {index}"
                    assert view.conversations == expected, (where, view.conversations, expected)
                    assert view.total == sum(c["unread"] for c in expected.values()), where
                    assert view.threads == joined, where
                    assert {u: a for u, a in view.attributes.items() if a} == attributes, where
                    for cid in set(view.messages) | set(expected):
                        found = await history(client, cid, _type_of(cid))
                        assert set(view.messages.get(cid, {})) == {m["messageID"] for m in found}, (where, cid)
                        revoked = {m["messageID"] for m in found if m["isRevoked"]}
                        assert set(view.messages.get(cid, {})) & view.revoked == revoked, (where, cid)
            # close the connections first: the server then has nothing to wait for
            async with trio.open_nursery() as closing:
                for devices in clients.values():
                    for client in devices:
                        closing.start_soon(client.close)
            nursery.cancel_scope.cancel()
