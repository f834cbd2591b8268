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
from actors.outbound import Answer, DeviceEvent, Outbound
from actors.runtime import Address, Reply
from actors.store.sqlite import open_sqlite_store
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
