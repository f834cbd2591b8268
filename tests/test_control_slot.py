"""The session's one-slot control path (gateway/control.py): which stop is carried out."""

from __future__ import annotations

import trio
import trio.testing

from actors.outbound import Disconnect
from gateway.control import ControlSlot, Stop

SLOW = Stop(1013, "slow consumer", gone_reason="slow")
EXPIRED = Stop(4002, "token expired", gone_reason="tokenExpired")
KICK = Stop.of(Disconnect(4000, "policy"))  # made by the account: it already dropped the device


def test_a_kick_replaces_a_pending_slow_close_so_a_kicked_device_never_sees_1013() -> None:
    slot = ControlSlot()
    slot.put(SLOW)
    slot.put(KICK)
    assert slot.take() is KICK


def test_the_first_stop_wins_otherwise() -> None:
    slot = ControlSlot()
    slot.put(KICK)
    slot.put(SLOW)
    assert slot.take() is KICK
    other = ControlSlot()
    other.put(EXPIRED)
    other.put(SLOW)
    assert other.take() is EXPIRED


def test_once_taken_the_stop_is_fixed() -> None:
    slot = ControlSlot()
    slot.put(SLOW)
    assert slot.take() is SLOW
    slot.put(KICK)
    assert slot.take() is SLOW and slot.pending


async def test_wait_returns_once_a_stop_arrives() -> None:
    slot = ControlSlot()
    assert not slot.pending
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(slot.wait)
            await trio.testing.wait_all_tasks_blocked()
            slot.put(EXPIRED)
    assert slot.take() is EXPIRED
