"""Call invitations over real WebSockets (PROTOCOL.md §11), with two-device invitees.

Who hears what follows the device table of §11. Negative checks ("device B
hears nothing") use a barrier: a request's reply arrives after every event
queued for that connection before it.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest
import trio
import trio.testing

from actors.ids import session_address
from actors.call import CallActor, CallContext, CallIndex
from actors.call import messages as call
from actors.errors import HubbubError
from actors.outbound import Outbound
from actors.runtime import Address, Registry
from hubbub_client import Client, ClientError
from gateway.calls import calls_of
from gateway.server import Gateway

from .cluster_servers import nodes_of
from .conftest import Login, StartServer

INVITING, ACCEPTED, REJECTED, CANCELLED, RECEIVED, TIMEOUT, QUIT, ENDED = 0, 1, 2, 3, 5, 6, 7, 8


@pytest.fixture
def autojump_clock() -> trio.testing.MockClock:
    # 0.1 s rather than conftest's 0.02: these tests log devices in on the mock
    # clock, and on a loaded machine a SQLite commit in its worker thread can
    # take longer than 20 ms, letting the clock jump to an ask timeout. Few
    # jumps happen here, so the larger threshold costs little time.
    return trio.testing.MockClock(autojump_threshold=0.1)


# ---- helpers ------------------------------------------------------------------------


def _actor_live(server: Gateway, call_id: str) -> bool:
    """Whether the call's actor is live on any node of `server`."""
    return any(node.registry.is_live(Address("call", call_id)) for node in nodes_of(server))


async def _refused(code: int, client: Client, op: str, **fields: Any) -> None:
    with pytest.raises(ClientError) as refused:
        await client.request(op, **fields)
    assert refused.value.code == code, (op, refused.value)


async def _barrier(*clients: Client) -> None:
    """Every event queued for these connections so far has arrived."""
    for client in clients:
        await client.request("queryDevices")


async def _changed(client: Client, call_id: str) -> list[tuple[str, int]]:
    event = await client.next_event("callUserStateChanged")
    assert event["callID"] == call_id and "seq" not in event
    return [(user["userID"], user["state"]) for user in event["callUserList"]]


async def _quiet(*clients: Client) -> None:
    """None of these devices has any call event waiting."""
    await _barrier(*clients)
    for client in clients:
        assert [e for e in client.pending_events() if str(e.get("ev", "")).startswith("call")] == []


async def _call(inviter: Client, invitees: dict[str, list[Client]], **config: Any) -> str:
    """Invite, and take the invitation and the Inviting and Received states off every device."""
    reply = await inviter.request("callInvite", invitees=list(invitees), config=config)
    call_id: str = reply["callID"]
    everyone = [inviter] + [device for devices in invitees.values() for device in devices]
    for devices in invitees.values():
        for device in devices:
            assert (await device.next_event("callInvitationReceived"))["callID"] == call_id
    for client in everyone:
        assert [state for _, state in await _changed(client, call_id)][1:] == [INVITING] * len(invitees)
        assert sorted(await _changed(client, call_id)) == sorted((user, RECEIVED) for user in invitees)
    return call_id


async def _two_devices(server: Gateway, login: Login, user_id: str) -> tuple[Client, Client]:
    return (
        await login(server, user_id, device="A", platform="iOS"),
        await login(server, user_id, device="B", platform="Android"),
    )


# ---- invitation ------------------------------------------------------------------------


async def test_invite_rings_every_device_of_each_invitee(server: Gateway, login: Login) -> None:
    with trio.fail_after(20):
        alice = await login(server, "alice")
        bob_a, bob_b = await _two_devices(server, login, "bob")
        reply = await alice.request("callInvite", invitees=["bob", "carol", "bob"], config={"extendedData": "video"})
        call_id = reply["callID"]
        assert reply["timeout"] == 90  # ZIM's default
        assert reply["errorUserList"] == [{"userID": "carol", "reason": "offline"}]
        for device in (bob_a, bob_b):
            invitation = await device.next_event("callInvitationReceived")
            assert invitation == {
                "ev": "callInvitationReceived",
                "callID": call_id,
                "inviter": "alice",
                "timeout": 90,
                "extendedData": "video",
                "callUserList": [
                    {"userID": "alice", "state": ACCEPTED, "extendedData": "video"},
                    {"userID": "bob", "state": INVITING, "extendedData": ""},
                ],
            }
        for client in (alice, bob_a, bob_b):  # Inviting and Received reach both devices
            assert await _changed(client, call_id) == [("alice", ACCEPTED), ("bob", INVITING)]
            assert await _changed(client, call_id) == [("bob", RECEIVED)]


async def test_invite_with_nobody_online_starts_no_call(server: Gateway, login: Login) -> None:
    with trio.fail_after(20):
        alice = await login(server, "alice")
        reply = await alice.request("callInvite", invitees=["ghost"], config={"timeout": 5})
        assert reply["timeout"] == 5
        assert reply["errorUserList"] == [{"userID": "ghost", "reason": "offline"}]
        await _refused(5001, alice, "callCancel", callID=reply["callID"])
        assert not _actor_live(server, reply["callID"])


# ---- answers: the device table -------------------------------------------------------------


async def test_accept_binds_one_device_and_later_events_skip_the_other(server: Gateway, login: Login) -> None:
    with trio.fail_after(20):
        alice, carol = await login(server, "alice"), await login(server, "carol")
        bob_a, bob_b = await _two_devices(server, login, "bob")
        call_id = await _call(alice, {"bob": [bob_a, bob_b], "carol": [carol]})

        await bob_a.request("callAccept", callID=call_id, config={"extendedData": "hi"})
        for client in (alice, carol, bob_a, bob_b):  # Accepted: both of bob's devices
            event = await client.next_event("callUserStateChanged")
            assert event["callUserList"] == [{"userID": "bob", "state": ACCEPTED, "extendedData": "hi"}]

        await carol.request("callReject", callID=call_id)
        for client in (alice, bob_a, carol):  # the rejecting user's devices hear it too
            assert await _changed(client, call_id) == [("carol", REJECTED)]

        await alice.request("callQuit", callID=call_id)
        assert await _changed(bob_a, call_id) == [("alice", QUIT)]
        assert await _changed(alice, call_id) == [("alice", QUIT)]
        await _quiet(bob_b, carol)  # after A accepted, B hears nothing more

        # only bob is left in the call: it is over
        await _refused(5001, bob_a, "callQuit", callID=call_id)
        assert not any(call_id in calls_of(node).index for node in nodes_of(server))


async def test_quit_reaches_the_accepting_device_only(server: Gateway, login: Login) -> None:
    with trio.fail_after(20):
        alice, carol = await login(server, "alice"), await login(server, "carol")
        bob_a, bob_b = await _two_devices(server, login, "bob")
        call_id = await _call(alice, {"bob": [bob_a, bob_b], "carol": [carol]})
        await bob_b.request("callAccept", callID=call_id)
        for client in (alice, bob_a, bob_b, carol):
            assert await _changed(client, call_id) == [("bob", ACCEPTED)]
        await carol.request("callAccept", callID=call_id)
        for client in (alice, bob_b, carol):
            assert await _changed(client, call_id) == [("carol", ACCEPTED)]
        await _quiet(bob_a)
        await _refused(5002, bob_a, "callQuit", callID=call_id)  # B is the one in the call
        await bob_b.request("callQuit", callID=call_id, config={"extendedData": "bye"})
        for client in (alice, carol, bob_b):
            event = await client.next_event("callUserStateChanged")
            assert event["callUserList"] == [{"userID": "bob", "state": QUIT, "extendedData": "bye"}]
        await _quiet(bob_a)
        await _refused(5003, bob_b, "callAccept", callID=call_id)  # bob is out for good
        # alice and carol still talk
        await carol.request("callQuit", callID=call_id)
        assert await _changed(alice, call_id) == [("carol", QUIT)]


async def test_reject_reaches_both_devices_and_ends_a_one_to_one_call(server: Gateway, login: Login) -> None:
    with trio.fail_after(20):
        alice = await login(server, "alice")
        bob_a, bob_b = await _two_devices(server, login, "bob")
        call_id = await _call(alice, {"bob": [bob_a, bob_b]})
        await bob_b.request("callReject", callID=call_id, config={"extendedData": "busy"})
        for client in (alice, bob_a, bob_b):
            event = await client.next_event("callUserStateChanged")
            assert event["callUserList"] == [{"userID": "bob", "state": REJECTED, "extendedData": "busy"}]
        await _refused(5001, bob_a, "callAccept", callID=call_id)


async def test_cancel_tells_invitees_by_their_own_event(server: Gateway, login: Login) -> None:
    with trio.fail_after(20):
        alice_a, alice_b = await _two_devices(server, login, "alice")
        bob_a, bob_b = await _two_devices(server, login, "bob")
        carol = await login(server, "carol")
        call_id = await _call(alice_a, {"bob": [bob_a, bob_b], "carol": [carol]})
        await _refused(4003, bob_a, "callCancel", callID=call_id)
        await _refused(5002, alice_b, "callCancel", callID=call_id)  # not the inviting device
        await _refused(1003, alice_a, "callCancel", callID=call_id, invitees=["dave"])

        reply = await alice_a.request("callCancel", callID=call_id, invitees=["bob"], config={"extendedData": "oops"})
        assert reply == {"re": reply["re"], "ok": True, "callID": call_id, "errorUserList": []}
        for device in (bob_a, bob_b):
            cancelled = await device.next_event("callInvitationCancelled")
            assert cancelled == {"ev": "callInvitationCancelled", "callID": call_id, "inviter": "alice", "extendedData": "oops"}
        for client in (alice_a, carol):  # the others see bob Cancelled
            assert await _changed(client, call_id) == [("bob", CANCELLED)]
        await _quiet(bob_a, bob_b, alice_b)  # Cancelled never reaches bob as a state change

        await carol.request("callAccept", callID=call_id)
        await _changed(alice_a, call_id)
        await _refused(5003, alice_a, "callCancel", callID=call_id)  # after acceptance
        await _refused(5003, alice_a, "callCancel", callID=call_id, invitees=["carol"])


async def test_dropped_inviter_before_any_answer_cancels_the_call(server: Gateway, login: Login) -> None:
    with trio.fail_after(20):
        alice = await login(server, "alice")
        bob_a, bob_b = await _two_devices(server, login, "bob")
        call_id = await _call(alice, {"bob": [bob_a, bob_b]})
        await alice.close()
        for device in (bob_a, bob_b):
            assert (await device.next_event("callInvitationCancelled"))["callID"] == call_id
        await _refused(5001, bob_a, "callAccept", callID=call_id)


async def test_dropped_accepting_device_quits(server: Gateway, login: Login) -> None:
    with trio.fail_after(20):
        alice, carol = await login(server, "alice"), await login(server, "carol")
        bob_a, bob_b = await _two_devices(server, login, "bob")
        call_id = await _call(alice, {"bob": [bob_a, bob_b], "carol": [carol]})
        await bob_a.request("callAccept", callID=call_id)
        for client in (alice, carol, bob_a, bob_b):
            await _changed(client, call_id)
        await bob_b.close()  # not the device in the call: nothing happens
        await bob_a.close()
        for client in (alice, carol):
            assert await _changed(client, call_id) == [("bob", QUIT)]
        assert all(calls_of(node).index.calls_of(bob_a.login_id or "") == () for node in nodes_of(server))


async def test_end_ends_the_call_for_everyone(server: Gateway, login: Login) -> None:
    with trio.fail_after(20):
        alice, carol = await login(server, "alice"), await login(server, "carol")
        bob_a, bob_b = await _two_devices(server, login, "bob")
        call_id = await _call(alice, {"bob": [bob_a, bob_b], "carol": [carol]})
        await bob_a.request("callAccept", callID=call_id)
        for client in (alice, carol, bob_a, bob_b):
            await _changed(client, call_id)
        await _refused(5003, carol, "callEnd", callID=call_id)  # still being invited
        await _refused(5002, bob_b, "callEnd", callID=call_id)  # not the device in the call
        await bob_a.request("callEnd", callID=call_id, config={"extendedData": "done"})
        ended = [("alice", ENDED), ("bob", ENDED), ("carol", ENDED)]
        for client in (alice, bob_a, carol):
            assert await _changed(client, call_id) == ended
        await _quiet(bob_b)
        await _refused(5001, alice, "callQuit", callID=call_id)


# ---- timeouts ----------------------------------------------------------------------------


async def test_invitees_time_out_silently_for_themselves(
    start_server: StartServer, login: Login, autojump_clock: trio.testing.MockClock
) -> None:
    server = await start_server("multi", ping_interval_s=3600.0)
    with trio.fail_after(600):
        alice, carol = await login(server, "alice"), await login(server, "carol")
        bob_a, bob_b = await _two_devices(server, login, "bob")
        call_id = await _call(alice, {"bob": [bob_a, bob_b], "carol": [carol]}, timeout=30)
        await trio.sleep(10)
        await carol.request("callAccept", callID=call_id)
        for client in (alice, carol, bob_a, bob_b):
            assert await _changed(client, call_id) == [("carol", ACCEPTED)]
        await trio.sleep(19)
        await _quiet(alice, bob_a, bob_b, carol)
        await trio.sleep(2)
        for device in (bob_a, bob_b):
            assert await device.next_event("callInvitationTimeout") == {"ev": "callInvitationTimeout", "callID": call_id}
        for client in (alice, carol):
            assert await _changed(client, call_id) == [("bob", TIMEOUT)]
        await _quiet(bob_a, bob_b)  # Timeout reaches bob only as callInvitationTimeout
        await _refused(5003, bob_a, "callAccept", callID=call_id)
        await carol.request("callQuit", callID=call_id)  # the call went on without bob
        assert await _changed(alice, call_id) == [("carol", QUIT)]


async def test_default_timeout_is_90_seconds_and_ends_an_unanswered_call(
    start_server: StartServer, login: Login, autojump_clock: trio.testing.MockClock
) -> None:
    server = await start_server("multi", ping_interval_s=3600.0, actor_idle_s=30.0)
    with trio.fail_after(600):
        alice = await login(server, "alice")
        bob_a, bob_b = await _two_devices(server, login, "bob")
        call_id = await _call(alice, {"bob": [bob_a, bob_b]})
        await trio.sleep(89)
        await _quiet(alice, bob_a, bob_b)
        await trio.sleep(2)
        assert (await bob_a.next_event("callInvitationTimeout"))["callID"] == call_id
        assert await _changed(alice, call_id) == [("bob", TIMEOUT)]
        await _refused(5001, alice, "callCancel", callID=call_id)
        await trio.sleep(60)  # the finished call's actor is retired
        assert not _actor_live(server, call_id)


# ---- the accept race and every error code ---------------------------------------------------


async def test_simultaneous_accepts_exactly_one_wins(server: Gateway, login: Login) -> None:
    with trio.fail_after(60):
        alice = await login(server, "alice")
        bob_a, bob_b = await _two_devices(server, login, "bob")
        for _ in range(20):
            call_id = await _call(alice, {"bob": [bob_a, bob_b]})
            frames: dict[str, dict[str, Any]] = {}

            async def accept(name: str, device: Client) -> None:
                frames[name] = await device.request_frame("callAccept", callID=call_id)  # noqa: B023  runs to its end inside this iteration (the nursery below)

            async with trio.open_nursery() as race:
                race.start_soon(accept, "A", bob_a)
                race.start_soon(accept, "B", bob_b)
            winners = [name for name, frame in frames.items() if frame["ok"]]
            losers = [frame["error"]["code"] for frame in frames.values() if not frame["ok"]]
            assert len(winners) == 1 and losers == [5003], frames
            winner, loser = (bob_a, bob_b) if winners == ["A"] else (bob_b, bob_a)
            for client in (alice, bob_a, bob_b):  # one Accepted, to both devices
                assert await _changed(client, call_id) == [("bob", ACCEPTED)]
            await _refused(5002, loser, "callQuit", callID=call_id)
            await winner.request("callQuit", callID=call_id)
            for client in (alice, winner):
                assert await _changed(client, call_id) == [("bob", QUIT)]
            await _quiet(loser)
        assert sum(len(calls_of(node).index) for node in nodes_of(server)) == 0


async def test_every_call_error_code(server: Gateway, login: Login) -> None:
    with trio.fail_after(20):
        alice, dave = await login(server, "alice"), await login(server, "dave")
        bob_a, bob_b = await _two_devices(server, login, "bob")
        for op in ("callAccept", "callReject", "callCancel", "callQuit", "callEnd"):
            await _refused(5001, bob_a, op, callID="no-such-call")
        await _refused(1003, alice, "callInvite", invitees=["alice"])
        await _refused(1003, alice, "callInvite", invitees=[])
        await _refused(1003, alice, "callInvite", invitees=["bob"], config={"timeout": 0})
        await _refused(1003, alice, "callInvite", invitees=["bob"], config={"timeout": 601})
        await _refused(1003, alice, "callInvite", invitees=[f"u{n}" for n in range(33)])
        await _refused(1003, alice, "callAccept")

        call_id = await _call(alice, {"bob": [bob_a, bob_b], "dave": [dave]})
        carol = await login(server, "carol")
        for op in ("callAccept", "callReject", "callQuit", "callEnd"):
            await _refused(5002, carol, op, callID=call_id)
        await _refused(5003, bob_a, "callQuit", callID=call_id)  # not accepted yet
        await _refused(5003, alice, "callAccept", callID=call_id)  # the inviter is already in
        await bob_a.request("callAccept", callID=call_id)
        await _refused(5003, bob_a, "callAccept", callID=call_id)
        await _refused(5003, bob_b, "callAccept", callID=call_id)
        await _refused(5003, bob_b, "callReject", callID=call_id)
        await dave.request("callReject", callID=call_id)
        await _refused(5003, dave, "callAccept", callID=call_id)
        await _refused(5003, dave, "callQuit", callID=call_id)
        # nothing of it disturbed the call
        await bob_a.request("callQuit", callID=call_id)
        assert (await alice.next_event("callUserStateChanged")) is not None
        await _refused(5001, alice, "callEnd", callID=call_id)


# ---- the call actor alone ---------------------------------------------------------------------


class _Sink:
    """A DeviceSink where only `connected` sessions exist."""

    def __init__(self, *connected: str) -> None:
        self.connected = {session_address(login_id) for login_id in connected}
        self.got: list[tuple[Address, Outbound]] = []

    def push(self, session: Address, item: Outbound) -> bool:
        if session not in self.connected:
            return False
        self.got.append((session, item))
        return True

    def is_connected(self, session: Address) -> bool:
        return session in self.connected


async def test_a_device_that_already_left_cannot_join_a_call(nursery: trio.Nursery) -> None:
    sink = _Sink("La", "Lb1")
    registry = Registry(nursery, {})
    context = CallContext(sink, CallIndex(), registry)
    registry.add_kind("call", partial(CallActor, ctx=context))
    ref = registry.ref(Address("call", "c1"))
    with trio.fail_after(10):
        invite = call.Invite(call.Device("a", "La"), (call.Invitee("b", ("Lb1", "Lb2")),), 30)
        await ref.ask(invite, timeout=5)
        # Lb2's session ended after its end hook ran: binding it would leave a ghost in the call
        with pytest.raises(HubbubError) as refused:
            await ref.ask(call.Accept(call.Device("b", "Lb2")), timeout=5)
        assert refused.value.code == 5003
        await ref.ask(call.Accept(call.Device("b", "Lb1")), timeout=5)
        assert context.index.calls_of("Lb1") == ("c1",) and context.index.calls_of("Lb2") == ()
        # an inviter whose session is gone starts nothing
        with pytest.raises(HubbubError):
            await registry.ref(Address("call", "c2")).ask(call.Invite(call.Device("x", "Lx"), invite.invitees, 30), timeout=5)
        assert "c2" not in context.index
