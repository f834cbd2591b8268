"""Messages, conversations, the outbox, groups, friends and profiles in the store, on every engine."""

from __future__ import annotations

import threading
from typing import Any
from dataclasses import replace
from functools import partial

import pytest
import trio
import trio.testing

from actors.store.base import (
    AccountState,
    AccountWrite,
    AlreadyDelivered,
    ClientMessageIDTaken,
    ConversationRow,
    DeviceRecord,
    GroupRecord,
    GroupWrite,
    MessageRow,
    Pending,
    StoredEvent,
    ThreadRecord,
    UserProfile,
    ViewRow,
)
from actors.ids import IDEMPOTENCY_WINDOW_MS
from tests.store_engines import Engine, EngineStore

SENT, RECEIVED = 0, 1  # a view row's direction


def _message(message_id: str, body: str | bytes = "hi", *, sender: str = "alice", target: str = "bob", at: int = 1_000,
             client_id: str | None = None, receipt: bool = False, conversation_type: int = 0) -> MessageRow:
    return MessageRow(message_id, conversation_type, sender, target, 1, body, '{"k": 1}', at, client_id, receipt, 1 if receipt else 0)


def _event(seq: int) -> StoredEvent:
    return StoredEvent(seq, "peerMessageReceived", b"\xa1\x61m" + bytes([seq]), 1_000 + seq)


def _send(m: MessageRow, sender_seq: int) -> AccountWrite:
    """The sender's step: the message, the sender's view and conversation, a delivery to the receiver."""
    return AccountWrite(
        user_id=m.sender,
        events=[_event(sender_seq)],
        conversations=[ConversationRow(m.target, 0, last_seq=sender_seq, last_message_id=m.message_id, order_key=m.timestamp)],
        new_message=m,
        views=[ViewRow(0, m.target, sender_seq, m.message_id, SENT)],
        deliveries=[(m.target, m.message_id)],
    )


def _receive(m: MessageRow, seq: int, unread: int) -> AccountWrite:
    """The receiver's step: takes the delivery, shows the message in its view."""
    return AccountWrite(
        user_id=m.target,
        events=[_event(seq)],
        conversations=[ConversationRow(m.sender, 0, last_seq=seq, unread=unread, last_message_id=m.message_id, marks=(2, 5))],
        views=[ViewRow(0, m.sender, seq, m.message_id, RECEIVED)],
        delivered=m.message_id,
    )


async def test_an_accounts_state_is_what_the_separate_reads_give(engine: Engine) -> None:
    with trio.fail_after(15):
        async with engine.open() as store:
            empty = await store.account_state("nobody")
            assert (empty.oldest_seq, empty.head_seq, empty.online, empty.conversations, empty.deliveries_pending) == (1, 0, [], [], False)
            text = _message("m1", "hello")
            await store.commit(_send(text, 1))
            phone = DeviceRecord("L1", "d1", "iOS", "phone", 5)
            await store.commit(AccountWrite("bob", device_online=("local", phone)))
            for user_id in ("alice", "bob"):
                state = await store.account_state(user_id)
                assert (state.oldest_seq, state.head_seq) == await store.stream_bounds(user_id)
                assert state.online == await store.online_devices(user_id)
                assert state.conversations == await store.load_conversations(user_id)
                assert state.deliveries_pending == bool(await store.pending_deliveries(user_id))
            bob = await store.account_state("bob")
            assert bob.deliveries_pending and bob.online == [phone] and bob.conversations == []
            await store.commit(_receive(text, 1, unread=1))
            bob = await store.account_state("bob")
            assert not bob.deliveries_pending and [row.conversation_id for row, _ in bob.conversations] == ["alice"]


async def test_accounts_starting_together_read_their_state_and_deliveries_in_one_read(engine: Engine) -> None:
    """Many accounts at once (a takeover): what each gets from the coalesced reads is what it reads alone, nothing stored included."""
    with trio.fail_after(30):
        async with engine.open() as store:
            for n in range(5):
                await store.commit(_send(_message(f"m{n}", f"hi {n}", sender="alice", target=f"u{n % 3}", at=1_000 + n), n + 1))
            await store.commit(AccountWrite("u1", device_online=("local", DeviceRecord("L1", "d1", "iOS", "phone", 5))))
            await store.commit(_receive(_message("m1", "hi 1", sender="alice", target="u1", at=1_001), 1, unread=1))
            users = ["alice", "u0", "u1", "u2", "nobody", "u1"]  # one with nothing stored, one asked twice
            alone = {user: (await store.account_states([user]))[user] for user in users}
            pending_alone = {user: (await store.pending_deliveries_of([user]))[user] for user in users}
            assert pending_alone["u0"] and not pending_alone["nobody"] and alone["u1"].online and alone["alice"].head_seq == 5
            states, pending = await store.account_states(users), await store.pending_deliveries_of(users)
            assert states == alone and pending == pending_alone
            got: dict[str, tuple[AccountState, list[Pending]]] = {}

            async def start(user: str) -> None:
                got[user] = (await store.account_state(user), await store.pending_deliveries(user))

            reads = store.coalesced_starts.reads
            async with trio.open_nursery() as nursery:
                for user in users * 20:
                    nursery.start_soon(start, user)
            assert got == {user: (alone[user], pending_alone[user]) for user in users}
            assert store.coalesced_starts.reads - reads < len(users) * 20  # they shared reads


async def test_a_peer_message_is_stored_once_delivered_once_and_seen_in_both_views(engine: Engine) -> None:
    with trio.fail_after(15):
        async with engine.open() as store:
            text, binary = _message("m1", "héllo", receipt=True), _message("m2", b"\x00\xffraw", at=2_000)
            assert await store.commit(_send(text, 1)) == []
            await store.commit(_send(binary, 2))
            assert await store.users_with_pending_deliveries() == ["bob"]
            pending = await store.pending_deliveries("bob")
            assert [(p.message, p.group_seq, p.events, p.notice) for p in pending] == [(text, None, None, None), (binary, None, None, None)]
            assert pending[0].queued < pending[1].queued

            await store.commit(_receive(text, 1, unread=1))
            with pytest.raises(AlreadyDelivered):  # a repeat changes nothing, not even the stream
                await store.commit(_receive(text, 2, unread=9))
            assert await store.stream_bounds("bob") == (1, 1)
            await store.commit(_receive(binary, 2, unread=2))
            assert await store.pending_deliveries("bob") == []
            assert await store.users_with_pending_deliveries() == []

            (conversation, last), = await store.load_conversations("bob")
            assert conversation == ConversationRow("alice", 0, last_seq=2, unread=2, last_message_id="m2", marks=(2, 5))
            assert last == binary
            newest_first = await store.history("bob", 0, "alice", 10, None, False)
            assert [(v.message.message_id, v.message_seq, v.direction) for v in newest_first] == [("m2", 2, RECEIVED), ("m1", 1, RECEIVED)]
            assert [v.message.message_id for v in await store.history("bob", 0, "alice", 1, 2, False)] == ["m1"]
            assert [v.message.message_id for v in await store.history("bob", 0, "alice", 10, 1, True)] == ["m2"]
            assert [v.message.body for v in await store.history("alice", 0, "bob", 10, None, True)] == ["héllo", b"\x00\xffraw"]
            assert (await store.view_of("alice", "m1")).direction == SENT  # type: ignore[union-attr]
            assert await store.view_of("carol", "m1") is None
            assert [v.message.message_id for v in await store.viewed("bob", 0, "alice", ["m2", "m1", "nope"])] == ["m1", "m2"]
            assert await store.viewed("bob", 0, "alice", []) == []


async def test_receipts_revokes_and_hiding_change_only_what_they_name(engine: Engine) -> None:
    with trio.fail_after(15):
        async with engine.open() as store:
            asked, plain = _message("m1", receipt=True), _message("m2")
            for seq, m in enumerate((asked, plain), start=1):
                await store.commit(_send(m, seq))
                await store.commit(_receive(m, seq, unread=seq))
            assert [v.message.message_id for v in await store.unread_receipts("bob", 0, "alice")] == ["m1"]
            await store.commit(AccountWrite(user_id="bob", receipts_read=["m1"]))
            assert await store.unread_receipts("bob", 0, "alice") == []
            assert (await store.view_of("alice", "m1")).message.receipt_status == 2  # type: ignore[union-attr]

            await store.commit(AccountWrite(user_id="alice", revoke="m2"))
            assert (await store.view_of("bob", "m2")).message.is_revoked  # type: ignore[union-attr]
            assert not (await store.view_of("bob", "m1")).message.is_revoked  # type: ignore[union-attr]

            await store.commit(AccountWrite(user_id="bob", hide=[(0, "alice", "m1")]))
            assert [v.message.message_id for v in await store.history("bob", 0, "alice", 10, None, True)] == ["m2"]
            assert len(await store.history("alice", 0, "bob", 10, None, True)) == 2  # the sender's view keeps it
            await store.commit(AccountWrite(user_id="alice", hide_all=[(0, "bob")]))
            assert await store.history("alice", 0, "bob", 10, None, True) == []
            assert len(await store.history("bob", 0, "alice", 10, None, True)) == 1


async def test_client_message_ids_are_found_only_inside_their_window(engine: Engine) -> None:
    later = 1_000 + IDEMPOTENCY_WINDOW_MS + 1
    with trio.fail_after(15):
        async with engine.open() as store:
            await store.commit(_send(_message("m1", client_id="c-1", at=1_000), 1))
            await store.commit(_send(_message("m2", client_id="c-1", at=later), 2))  # reused after its window
            assert (await store.find_client_message("alice", "c-1", 0)).message_id == "m2"  # type: ignore[union-attr]
            assert (await store.find_client_message("alice", "c-1", later - 1)).message_id == "m2"  # type: ignore[union-attr]
            assert await store.find_client_message("alice", "c-1", later + 1) is None
            assert await store.find_client_message("bob", "c-1", 0) is None


async def test_a_trim_drops_the_senders_keys_past_their_window(engine: Engine) -> None:
    """Keys older than the window before the sender's newest key can only be taken over: a trim drops them."""
    later = 1_000 + IDEMPOTENCY_WINDOW_MS + 1
    with trio.fail_after(15):
        async with engine.open() as store:
            await store.commit(_send(_message("m1", client_id="c-1", at=1_000), 1))
            await store.commit(_send(_message("m2", client_id="c-2", at=2_000), 2))
            await store.commit(_send(_message("m3", client_id="c-3", at=later), 3))
            await store.commit(_send(_message("m4", client_id="c-1", at=1_000, sender="carol"), 1))

            def keys(conn: Any) -> list[tuple[str, str]]:
                return sorted((r[0], r[1]) for r in conn.execute("SELECT sender, client_message_id FROM send_keys"))

            assert len(await store.read(keys)) == 4
            await store.trim_stream("alice", keep_count=100, min_time_ms=0)
            # c-2 is within the window of c-3 (2,000 >= later - window); carol's keys are hers
            assert await store.read(keys) == [("alice", "c-2"), ("alice", "c-3"), ("carol", "c-1")]
            await store.commit(_send(_message("m5", client_id="c-1", at=later + 1), 4))  # the dropped key is free
            assert (await store.find_client_message("alice", "c-1", later)).message_id == "m5"  # type: ignore[union-attr]


async def test_a_client_message_id_takes_one_message_within_its_window(engine: Engine) -> None:
    """The key is taken in the message's own write: a second message with it, from any writer, changes nothing."""
    with trio.fail_after(15):
        async with engine.open() as store:
            await store.commit(_send(_message("m1", client_id="c-1", at=1_000), 1))
            group = GroupRecord("g1", "G", "", {}, 0, 1, {"alice": (0, 0)})
            with pytest.raises(ClientMessageIDTaken) as taken:  # the same key, through a group, a moment later
                await store.commit_group(GroupWrite(group, new_message=_message("m2", client_id="c-1", at=1_001, target="g1", conversation_type=2), message_seq=1))
            assert (taken.value.sender, taken.value.client_message_id) == ("alice", "c-1")
            assert (await store.find_client_message("alice", "c-1", taken.value.since_ms)).message_id == "m1"  # type: ignore[union-attr]
            with pytest.raises(ClientMessageIDTaken):
                await store.commit(_send(_message("m3", client_id="c-1", at=1_002), 2))
            assert [v.message.message_id for v in await store.history("alice", 0, "bob", 10, None, True)] == ["m1"]
            assert await store.view_of("alice", "m3") is None
            # another sender's key, or none at all, is free
            await store.commit(_send(_message("m4", client_id="c-1", at=1_003, sender="carol"), 1))
            await store.commit(_send(_message("m5", at=1_004), 2))


async def test_outbox_events_and_notices_keep_one_queue_order_and_are_taken_once(engine: Engine) -> None:
    with trio.fail_after(15):
        async with engine.open() as store:
            ids = await store.commit(AccountWrite(
                user_id="alice",
                outbox_events=[("bob", b"\x81\x82a1\xa0", "L7"), ("carol", b"\x80", None)],
                outbox_notices=[("bob", b"\x82\x01\xa0")],
            ))
            assert len(ids) == 3 and ids == sorted(ids)
            pending = await store.pending_deliveries("bob")
            assert [(p.queued, p.message, p.events, p.exclude_login, p.notice) for p in pending] == [
                (ids[0], None, b"\x81\x82a1\xa0", "L7", None),
                (ids[2], None, None, None, b"\x82\x01\xa0"),
            ]
            assert sorted(await store.users_with_pending_deliveries()) == ["bob", "carol"]
            await store.commit(AccountWrite(user_id="bob", events=[_event(1)], delivered_outbox=ids[0]))
            with pytest.raises(AlreadyDelivered):
                await store.commit(AccountWrite(user_id="bob", events=[_event(2)], delivered_outbox=ids[0]))
            with pytest.raises(AlreadyDelivered):  # another account's row is not bob's to take
                await store.commit(AccountWrite(user_id="bob", delivered_outbox=ids[1]))
            assert await store.stream_bounds("bob") == (1, 1)
            assert [p.queued for p in await store.pending_deliveries("bob")] == [ids[2]]
            assert [p.queued for p in await store.pending_deliveries("carol")] == [ids[1]]


async def test_groups_members_messages_and_read_counts(engine: Engine) -> None:
    with trio.fail_after(15):
        async with engine.open() as store:
            group = GroupRecord("g1", "Team", "hello", {"topic": "x"}, 100, 0, {})
            await store.commit_group(GroupWrite(group, upsert_members=[("alice", 1, 100), ("bob", 3, 100), ("carol", 3, 200)]))
            loaded = await store.load_group("g1")
            assert loaded == GroupRecord("g1", "Team", "hello", {"topic": "x"}, 100, 0,
                                         {"alice": (1, 100), "bob": (3, 100), "carol": (3, 200)})
            assert list(loaded.members) == ["alice", "bob", "carol"]
            assert await store.load_group("nope") is None

            m = _message("gm1", target="g1", receipt=True, conversation_type=2)
            ids = await store.commit_group(GroupWrite(
                GroupRecord("g1", "Team", "hello", {"topic": "x"}, 100, 1, {}),
                remove_members=["carol"],
                new_message=m,
                message_seq=1,
                deliveries=[("alice", "gm1", "L1"), ("bob", "gm1", None)],
                member_events=[("carol", b"\x80", None)],
            ))
            assert len(ids) == 1
            (for_alice,) = await store.pending_deliveries("alice")
            assert (for_alice.message, for_alice.group_seq, for_alice.exclude_login) == (m, 1, "L1")
            assert [p.events for p in await store.pending_deliveries("carol")] == [b"\x80"]
            assert set((await store.load_group("g1")).members) == {"alice", "bob"}  # type: ignore[union-attr]
            assert [(g.group_id, g.last_seq, role) for g, role in await store.user_groups("bob")] == [("g1", 1, 3)]

            assert await store.group_read_counts(["gm1"]) == {"gm1": 0}
            assert await store.group_read_counts(["gm1"], counting="bob") == {"gm1": 1}
            await store.commit(AccountWrite(user_id="bob", group_reads=["gm1"]))
            await store.commit(AccountWrite(user_id="bob", group_reads=["gm1"]))  # reading twice counts once
            assert await store.group_read_counts(["gm1"]) == {"gm1": 1}
            assert await store.group_read_counts(["gm1"], counting="bob") == {"gm1": 1}
            assert await store.group_read_counts(["gm1"], counting="alice") == {"gm1": 2}
            assert await store.group_read_counts([]) == {}

            await store.commit_group(GroupWrite(GroupRecord("g1", "Team", "", {}, 100, 1, {}, dismissed=True)))
            assert await store.user_groups("bob") == []
            assert (await store.load_group("g1")).dismissed  # type: ignore[union-attr]


async def test_group_join_mode_applications_and_barred_users(engine: Engine) -> None:
    with trio.fail_after(15):
        async with engine.open() as store:
            members = {"alice": (1, 100), "bob": (2, 100), "carol": (3, 100)}
            group = GroupRecord("g1", "Team", "", {}, 100, 0, members, join_mode=1)
            await store.commit_group(GroupWrite(
                group, upsert_members=[(u, r, t) for u, (r, t) in members.items()],
                add_applications=[("dave", 300), ("erin", 200)], bar=["mallory"],
            ))
            loaded = await store.load_group("g1")
            assert loaded == GroupRecord(
                "g1", "Team", "", {}, 100, 0, members, join_mode=1, applications={"erin": 200, "dave": 300}, barred=frozenset({"mallory"})
            )
            # the applicant and the group's Owner and Admins see the applications, plain members none
            for user in ("alice", "bob"):
                assert await store.group_applications(user) == [("g1", "erin", 200), ("g1", "dave", 300)]
            assert await store.group_applications("dave") == [("g1", "dave", 300)]
            assert await store.group_applications("carol") == []

            await store.commit_group(GroupWrite(
                GroupRecord("g1", "Team", "", {}, 100, 0, members, join_mode=2),
                remove_applications=["erin"], unbar=["mallory"], bar=["carol"], remove_members=["carol"],
            ))
            after = await store.load_group("g1")
            assert after is not None
            assert (after.join_mode, after.applications, after.barred) == (2, {"dave": 300}, frozenset({"carol"}))
            await store.commit_group(GroupWrite(GroupRecord("g1", "Team", "", {}, 100, 0, {}, dismissed=True)))
            assert await store.group_applications("alice") == []


async def test_group_member_attributes_are_stored_and_go_with_the_membership(engine: Engine) -> None:
    with trio.fail_after(15):
        async with engine.open() as store:
            members = {"alice": (1, 100), "bob": (3, 100)}
            group = GroupRecord("g1", "Team", "", {}, 100, 0, members)
            rows = [(u, r, t) for u, (r, t) in members.items()]
            await store.commit_group(GroupWrite(group, upsert_members=rows, member_attributes=[("bob", {"nick": "B", "seat": "3"})]))
            loaded = await store.load_group("g1")
            assert loaded is not None and loaded.member_attributes == {"bob": {"nick": "B", "seat": "3"}}
            # a role change keeps the attributes; an empty map is no entry
            await store.commit_group(GroupWrite(group, upsert_members=[("bob", 2, 100)], member_attributes=[("alice", {})]))
            loaded = await store.load_group("g1")
            assert loaded is not None and loaded.member_attributes == {"bob": {"nick": "B", "seat": "3"}}
            await store.commit_group(GroupWrite(group, remove_members=["bob"]))
            await store.commit_group(GroupWrite(group, upsert_members=[("bob", 3, 200)]))
            loaded = await store.load_group("g1")
            assert loaded is not None and loaded.member_attributes == {}


async def test_threads_their_members_and_messages_are_stored_with_their_group(engine: Engine) -> None:
    with trio.fail_after(15):
        async with engine.open() as store:
            members = {"alice": (1, 100), "bob": (3, 100), "carol": (3, 100)}
            group = GroupRecord("g1", "Team", "", {}, 100, 1, members)
            parent = _message("m-parent", sender="alice", target="g1", conversation_type=2)
            rows = [(u, r, t) for u, (r, t) in members.items()]
            await store.commit_group(GroupWrite(group, upsert_members=rows, new_message=parent, message_seq=1))
            assert await store.group_message_seq("g1", "m-parent") == 1
            assert await store.group_message_seq("g1", "m-nowhere") is None
            assert await store.group_message_seq("g-other", "m-parent") is None

            thread = ThreadRecord("t1", "g1", "m-parent", "plans", "bob", 200, members={"bob": 200})
            await store.commit_group(GroupWrite(group, threads=[thread], thread_joins=[("t1", "bob", 200)]))
            joined = ThreadRecord("t1", "g1", "m-parent", "plans", "bob", 200, members={"bob": 200, "carol": 300})
            await store.commit_group(GroupWrite(group, threads=[joined], thread_joins=[("t1", "carol", 300)]))
            assert await store.thread_group("t1") == "g1" and await store.thread_group("t-nowhere") is None
            assert await store.thread_members("t1") == ["bob", "carol"]

            # a thread message: its own seq, a pending delivery per thread member carrying it
            message = _message("m-t1", sender="carol", target="t1", conversation_type=3)
            sent = ThreadRecord("t1", "g1", "m-parent", "plans", "bob", 200, 1, joined.members, message)
            await store.commit_group(
                GroupWrite(group, threads=[sent], new_message=message, message_seq=1,
                           deliveries=[("bob", "m-t1", None), ("carol", "m-t1", "L1")])
            )
            loaded = await store.load_group("g1")
            assert loaded is not None and loaded.threads == {"t1": sent}
            pending = await store.pending_deliveries("bob")
            assert [(p.message.message_id if p.message else None, p.group_seq) for p in pending] == [("m-t1", 1)]
            page, more = await store.joined_threads("carol", 10, 0)
            assert (page, more) == ([sent], False)
            assert await store.joined_threads("alice", 10, 0) == ([], False)

            # leaving, then destroying: the rows go, the message stays where it was delivered
            await store.commit_group(GroupWrite(group, thread_leaves=[("t1", "carol")]))
            assert await store.thread_members("t1") == ["bob"]
            await store.commit_group(GroupWrite(group, drop_threads=["t1"]))
            loaded = await store.load_group("g1")
            assert loaded is not None and loaded.threads == {}
            assert await store.thread_group("t1") is None and await store.thread_members("t1") == []
            assert [p.group_seq for p in await store.pending_deliveries("bob")] == [1]


async def test_profiles_friends_and_applications(engine: Engine) -> None:
    with trio.fail_after(15):
        async with engine.open() as store:
            await store.ensure_account("alice", "Alice", 1)
            await store.ensure_account("bob", None, 1)
            await store.commit(AccountWrite(user_id="bob", profile=("Bob", "https://a/b.png", '{"x":1}')))
            assert sorted(await store.profiles(["alice", "bob", "ghost"]), key=lambda p: p.user_id) == [
                UserProfile("alice", "Alice", "", ""),
                UserProfile("bob", "Bob", "https://a/b.png", '{"x":1}'),
            ]
            assert await store.profiles([]) == []

            await store.commit(AccountWrite(user_id="alice", friend_application=("alice", "bob", "hi", 0, 10)))
            await store.commit(AccountWrite(user_id="bob", friend_application=("alice", "bob", "hi", 1, 20),
                                            friends_add=[("bob", "alice", "hi", 20)]))
            await store.commit(AccountWrite(user_id="alice", friends_add=[("alice", "bob", "hi", 20), ("alice", "carol", "yo", 30)]))
            assert await store.friend_applications("bob") == [("alice", "bob", "hi", 1, 20)]
            assert await store.friend_applications("alice") == [("alice", "bob", "hi", 1, 20)]
            assert await store.friends("alice") == [("bob", "hi", 20), ("carol", "yo", 30)]
            await store.commit(AccountWrite(user_id="alice", friends_remove=[("alice", "carol")]))
            assert await store.friends("alice") == [("bob", "hi", 20)]
            assert await store.friends("bob") == [("alice", "hi", 20)]


async def test_a_login_is_one_write_of_account_kicked_devices_and_the_new_device(engine: Engine) -> None:
    with trio.fail_after(15):
        async with engine.open() as store:
            old = DeviceRecord("L1", "d1", "iOS", "phone", 100)
            await store.commit(AccountWrite(user_id="alice", account=("Alice", 50), device_online=("n1", old)))
            new = DeviceRecord("L2", "d2", "Android", "tablet", 200)
            await store.commit(AccountWrite(
                user_id="alice", account=(None, 60), devices_offline=[("L1", 200, "policy")], device_online=("n1", new),
                events=[_event(1)],
            ))
            assert await store.online_devices("alice") == [new]
            assert [(d.login_id, out, why) for d, out, why in await store.login_history("alice", 10)] == [
                ("L2", None, None), ("L1", 200, "policy"),
            ]
            assert await store.profiles(["alice"]) == [UserProfile("alice", "Alice", "", "")]  # no name given: kept
            with pytest.raises(AlreadyDelivered):  # a failing step leaves the login rows as they were
                await store.commit(AccountWrite(
                    user_id="alice", devices_offline=[("L2", 300, "logout")], delivered="never-queued",
                ))
            assert await store.online_devices("alice") == [new]



async def _in_one_batch(store: EngineStore, writes: list[AccountWrite]) -> list[list[int] | str]:
    """Commit `writes` in one batch of the writer, in this order; each one's outbox IDs, or "repeat"."""
    held = threading.Event()
    answers: list[list[int] | str] = ["not answered"] * len(writes)

    async def take(i: int) -> None:
        try:
            answers[i] = await store.commit(writes[i])
        except AlreadyDelivered:
            answers[i] = "repeat"

    async with trio.open_nursery() as nursery:
        nursery.start_soon(partial(store.write, lambda conn: held.wait(10)))  # the writer's thread waits on it
        await trio.testing.wait_all_tasks_blocked()
        for i in range(len(writes)):
            nursery.start_soon(take, i)
            await trio.testing.wait_all_tasks_blocked()  # queued in this order
        held.set()
    return answers


async def test_a_group_messages_deliveries_in_one_batch_are_applied_together_and_each_taken_once(engine: Engine) -> None:
    """Deliveries that meet in one batch are applied together (one statement per table), with the rows and answers each gives alone."""
    members = [f"u{i:02}" for i in range(40)]
    known = members[:30]  # the other ten have no account row yet: their first events create it
    with trio.fail_after(30):
        async with engine.open() as store:
            group = GroupRecord("g1", "Team", "", {}, 100, 1, {})
            await store.commit_group(GroupWrite(group, upsert_members=[(u, 3, 100) for u in members]))
            for user in known:
                await store.commit(AccountWrite(user, events=[_event(1)]))
            m1, m2 = (_message(i, sender="u00", target="g1", conversation_type=2) for i in ("gm1", "gm2"))
            await store.commit_group(GroupWrite(group, new_message=m1, message_seq=1, deliveries=[(u, "gm1", None) for u in members]))
            await store.commit_group(GroupWrite(replace(group, last_seq=2), new_message=m2, message_seq=2, deliveries=[("u35", "gm2", None)]))

            def taking(user: str, m: MessageRow, group_seq: int, seq: int) -> AccountWrite:
                return AccountWrite(
                    user, events=[_event(seq), _event(seq + 1)], views=[ViewRow(2, "g1", group_seq, m.message_id, RECEIVED)],
                    conversations=[ConversationRow("g1", 2, last_seq=group_seq, unread=group_seq, last_message_id=m.message_id)],
                    delivered=m.message_id, webhooks=[],  # as the account actor's step hands it over
                )

            before = store.statistics()
            first = await _in_one_batch(store, [taking(u, m1, 1, 2 if u in known else 1) for u in members])
            assert first == [[]] * 40
            bulk = store.statistics()["jobs_bulk"] - before["jobs_bulk"]
            assert bulk == 40

            # repeats (each is refused alone, nothing of it stored) around a first delivery
            again = [replace(taking(u, m1, 1, 9), conversations=[]) for u in known[:10]]
            second = await _in_one_batch(store, [*again[:5], taking("u35", m2, 2, 3), *again[5:]])
            assert second == ["repeat"] * 5 + [[]] + ["repeat"] * 5

            for user in members:
                assert await store.pending_deliveries(user) == []
                taken = [m1, m2] if user == "u35" else [m1]
                assert await store.stream_bounds(user) == (1, 2 * len(taken) + (1 if user in known else 0))
                ((row, last),) = await store.load_conversations(user)
                assert (row.conversation_id, row.last_seq, row.unread, last) == ("g1", len(taken), len(taken), taken[-1])
                newest_first = await store.history(user, 2, "g1", 5, None, False)
                assert [(v.message.message_id, v.message_seq) for v in newest_first] == [(m.message_id, i + 1) for i, m in enumerate(taken)][::-1]
