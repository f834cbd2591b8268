"""An account's durable event is encoded once, however many of its devices it goes to."""

from __future__ import annotations

from pathlib import Path

import cbor2
import trio

from actors.account.actor import AccountActor
from actors.account.context import AccountContext, PolicyBox
from actors.account.messages import DeviceInfo, Login, UpdateProfile
from actors.account.policy import LoginPolicy
from actors.ids import session_address
from actors.account.conversations import RECEIVE, message_wire
from actors.outbound import SHARED_EVENTS, Answer, DeviceEvent, Outbound, _map_header, shared_event
from actors.runtime import Address, Reply
from actors.store.base import MessageRow
from actors.store.sqlite import open_sqlite_store
from actors.wire.social import GroupMessageReceived
from actors.wire.session import LoginReply


class RecordingSink:
    """A DeviceSink whose sessions are all connected and keep what they are sent."""

    def __init__(self) -> None:
        self.got: dict[Address, list[Outbound]] = {}

    def push(self, session: Address, item: Outbound) -> bool:
        self.got.setdefault(session, []).append(item)
        return True

    def is_connected(self, session: Address) -> bool:
        return True

    def events(self, login_id: str, name: str) -> list[DeviceEvent]:
        return [e for e in self.got.get(session_address(login_id), []) if isinstance(e, DeviceEvent) and e.name == name]


async def _nowhere(user_id: str, msg: object) -> None:
    raise AssertionError(f"nothing is told to other accounts here ({user_id}: {msg!r})")


async def test_one_encoding_per_event_for_every_device(tmp_path: Path) -> None:
    with trio.fail_after(30):
        async with open_sqlite_store(tmp_path) as store:
            sink = RecordingSink()
            ctx = AccountContext(store, sink, PolicyBox(LoginPolicy.preset("multi")), _nowhere)
            actor = AccountActor(Address("account", "u1"), ctx)
            await actor.start()
            logins = [f"L{n}" for n in range(3)]
            for n, (login_id, platform) in enumerate(zip(logins, ("iOS", "Mac", "Web"), strict=True)):
                device = DeviceInfo(login_id=login_id, device_id=f"d{n}", platform=platform, device_name="", login_time=n)
                reply: Reply[object] = Reply()
                await actor.handle(Login(device, session_address(login_id), n), reply)
                assert reply.is_set
                answers = [a.result for a in sink.got[session_address(login_id)] if isinstance(a, Answer)]
                assert isinstance(answers[-1], LoginReply) and answers[-1].login_id == login_id

            await actor.handle(UpdateProfile("L0", user_name="Una"), Reply())
            received = [sink.events(login_id, "userInfoUpdated") for login_id in logins]
            assert received[0] == []  # the acting device has the reply
            (first,), (second,) = received[1:]
            assert first is second  # one object, so one encoding, for both devices
            frame = first.frame()
            assert first.frame() is frame  # encoded once, then reused
            decoded = cbor2.loads(frame)
            assert decoded["ev"] == "userInfoUpdated" and decoded["fromUserID"] == "u1"
            assert decoded["seq"] == actor.stream.head_seq and decoded["info"]["baseInfo"]["userName"] == "Una"


# ---- a group message's messageReceived: encoded once for every member -------------------------


def _group_received(n: int = 0) -> GroupMessageReceived:
    row = MessageRow(f"m{n}", 2, "alice", "g1", 1, "hello " * 20, '{"k": 1}', 1_700_000_000_000, None, False, 0)
    return GroupMessageReceived([message_wire(row, "g1", 42, RECEIVE)], "g1")


def test_a_shared_events_frames_are_the_usual_encoding_byte_for_byte() -> None:
    shared = shared_event(("test", "byte-for-byte"), _group_received)
    for seq in (None, 0, 23, 24, 255, 65_536, 2**32, 2**63 - 1):
        for from_user_id in (None, "u1"):
            usual = DeviceEvent(_group_received(), seq, from_user_id).frame()
            assert DeviceEvent(shared, seq, from_user_id).frame() == usual
            assert cbor2.loads(usual)["ev"] == "groupMessageReceived"


def test_a_shared_event_is_made_once_per_key_and_only_the_newest_keys_are_kept() -> None:
    made: list[int] = []

    def make(n: int) -> GroupMessageReceived:
        made.append(n)
        return _group_received(n)

    first = shared_event(("test", "kept", 0), lambda: make(0))
    assert shared_event(("test", "kept", 0), lambda: make(99)) is first and made == [0]
    for n in range(1, SHARED_EVENTS + 1):
        shared_event(("test", "kept", n), lambda n=n: make(n))  # type: ignore[misc]
    again = shared_event(("test", "kept", 0), lambda: make(0))  # pushed out by the newer keys: made anew
    assert again is not first and made.count(0) == 2
    assert DeviceEvent(again, 5).frame() == DeviceEvent(_group_received(0), 5).frame()


def test_map_heads_are_cbors_own() -> None:
    for count in (0, 1, 23, 24, 255, 256, 1000):
        encoded = cbor2.dumps({f"k{i}": 0 for i in range(count)})
        head = _map_header(count)
        assert encoded.startswith(head) and (count == 0 or encoded[len(head)] == 0x60 + len(f"k{0}"))
