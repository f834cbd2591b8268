"""A burst of changes to an account's devices is announced once per device (PROTOCOL.md §3 "Own devices").

Every other online device hears `selfDevicesChanged` after a login, a logout,
a kick or a drop. The account announces when its inbox runs empty, so when
many devices log in at once each device already online hears the final list
once: n logins cost n - 1 events, not n(n - 1)/2 (each login telling every
device before it, with the whole list).
"""

from __future__ import annotations

from typing import Any

import trio
import trio.testing

from actors.account.actor import ANNOUNCE_HELD_MAX
from actors.account.messages import Wake
from actors.account.policy import LoginPolicy
from gateway.services import account_address
from hubbub_client import Client

from .cluster_servers import node_owning
from .conftest import Connect, StartServer, token
from .store_gate import StoreGate

BURST = 48
MANY = LoginPolicy.from_json({"mode": "multi", "maxDevices": None, "platformLimits": {"default": 1000}})


def _ids(devices: list[dict[str, Any]]) -> list[str]:
    return [d["loginID"] for d in devices]


async def _queued_in_account(server: Any, count: int) -> None:
    """Wait until `count` messages wait in actors' inboxes (the logins lined up behind the held one)."""
    while server.registry.queued() < count:
        await trio.testing.wait_all_tasks_blocked(cushion=0.01)


async def test_logins_at_once_tell_each_device_the_final_list_once(start_server: StartServer, connect: Connect) -> None:
    server = await start_server(MANY)
    owner = node_owning(server, account_address("alice"))  # where the account's actor, its writes and figures are
    with trio.fail_after(60):
        clients = [await connect(server) for _ in range(BURST)]
        gate = StoreGate(owner.store, "commit")  # holds the first login's transaction
        replies: dict[int, dict[str, Any]] = {}

        async def log_in(index: int) -> None:
            replies[index] = await clients[index].login("alice", token("alice"), platform="Web", device_id=f"d{index}")

        async with trio.open_nursery() as nursery:
            for index in range(BURST):
                nursery.start_soon(log_in, index)
            await gate.entered.wait()
            await _queued_in_account(owner, BURST - 1)  # every other login waits in the account's inbox
            gate.release.set()

        # The account admitted them one at a time: the k-th reply lists k devices.
        assert sorted(len(reply["devices"]) for reply in replies.values()) == list(range(1, BURST + 1))
        final = _ids(max(replies.values(), key=lambda reply: len(reply["devices"]))["devices"])
        assert sorted(final) == sorted(c.login_id or "" for c in clients)
        for index, client in enumerate(clients):
            if len(replies[index]["devices"]) < BURST:
                changed = await client.next_event("selfDevicesChanged")
                assert _ids(changed["devices"]) == final
            # the device's queue holds no other list: the reply comes behind anything queued before it
            assert _ids((await client.request("queryDevices"))["devices"]) == final
            assert client.pending_events("selfDevicesChanged") == []

        assert owner.account_context.stats["device_list_events"] == BURST - 1
        scraped = owner.metrics.registry.get_sample_value("hubbub_account_events_total", {"what": "device_list_events"})
        assert scraped == BURST - 1

        # One change on its own is announced at once, to every other device.
        leaving = clients[0]
        await leaving.request("logout")
        staying = [c for c in clients if c is not leaving]
        for client in staying:
            changed = await client.next_event("selfDevicesChanged")
            assert _ids(changed["devices"]) == [i for i in final if i != leaving.login_id]
        assert owner.account_context.stats["device_list_events"] == 2 * (BURST - 1)


async def test_a_device_that_logs_in_alone_still_tells_the_others(start_server: StartServer, connect: Connect) -> None:
    server = await start_server(MANY)
    with trio.fail_after(30):
        first: Client = await connect(server)
        await first.login("bob", token("bob"), platform="Web", device_id="a")
        second: Client = await connect(server)
        await second.login("bob", token("bob"), platform="Web", device_id="b")
        changed = await first.next_event("selfDevicesChanged")
        assert _ids(changed["devices"]) == [first.login_id, second.login_id]
        assert second.pending_events("selfDevicesChanged") == []  # its login reply listed both


async def test_an_inbox_that_never_runs_empty_still_gets_the_list_out(start_server: StartServer, connect: Connect) -> None:
    server = await start_server(MANY, actor_inbox=4 * ANNOUNCE_HELD_MAX)
    owner = node_owning(server, account_address("carol"))
    with trio.fail_after(60):
        first: Client = await connect(server)
        await first.login("carol", token("carol"), platform="Web", device_id="a")
        second, third = await connect(server), await connect(server)
        held = StoreGate(owner.store, "commit")  # the second login's transaction
        async with trio.open_nursery() as nursery:
            nursery.start_soon(lambda: second.login("carol", token("carol"), platform="Web", device_id="b"))
            await held.entered.wait()
            # behind it, more messages than the account holds a changed list for, then a third login
            for _ in range(ANNOUNCE_HELD_MAX + 44):
                await owner.registry.post(account_address("carol"), Wake())
            nursery.start_soon(lambda: third.login("carol", token("carol"), platform="Web", device_id="c"))
            await _queued_in_account(owner, ANNOUNCE_HELD_MAX + 45)
            last = StoreGate(owner.store, "commit")  # holds the third login: the inbox has not run empty since the second
            held.release.set()
            await last.entered.wait()
            # so this list went out because the account held it for ANNOUNCE_HELD_MAX messages
            held_out = await first.next_event("selfDevicesChanged")
            last.release.set()
        assert _ids(held_out["devices"]) == [first.login_id, second.login_id]
        for client in (first, second):
            changed = await client.next_event("selfDevicesChanged")
            assert _ids(changed["devices"]) == [first.login_id, second.login_id, third.login_id]
