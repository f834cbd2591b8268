"""Many devices of one account logging in at once (PROTOCOL.md §3, STYLE.md §6).

The account actor serialises the logins of one account, so however the ten
logins interleave, exactly the allowed number of devices stays online, every
other one is kicked with close 4000, and the device lists agree everywhere.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import trio

from actors.account.policy import LoginPolicy
from hubbub_client import Client

from .conftest import ADMIN_TOKEN, Connect, StartServer, token

DEVICES = 10
PLATFORMS = ("iOS", "Android", "Web", "Mac", "Windows", "Linux", "iPad", "HarmonyOS", "Web", "Android")

# name -> (policy, devices allowed online, one deviceID for all ten?, kick reason)
POLICIES: dict[str, tuple[dict[str, Any], int, bool, str]] = {
    # no per-platform limits, so only the account-wide 3 decides
    "maxDevices3": ({"mode": "multi", "maxDevices": 3, "platformLimits": {}}, 3, False, "policy"),
    "single": ({"mode": "single"}, 1, False, "policy"),
    # one installation connecting ten times at once: each replaces the one before
    "sameDeviceID": ({"mode": "multi", "platformLimits": {}}, 1, True, "sameDevice"),
}


@pytest.mark.parametrize("round_", range(5))
@pytest.mark.parametrize("policy_name", list(POLICIES))
async def test_simultaneous_logins_leave_exactly_the_allowed_devices(
    start_server: StartServer, connect: Connect, policy_name: str, round_: int
) -> None:
    policy, allowed, one_device_id, reason = POLICIES[policy_name]
    server = await start_server(LoginPolicy.from_json(policy))
    assert server.listening is not None and server.listening.admin_url is not None
    with trio.fail_after(30):
        # bystander: another account that must not be disturbed
        bystander = await connect(server)
        await bystander.login("other", token("other"), platform="iOS", device_id="o")
        clients = [await connect(server) for _ in range(DEVICES)]
        ready = trio.Event()
        replies: dict[int, dict[str, Any]] = {}

        async def log_in(index: int) -> None:
            await ready.wait()  # every task is parked here before any login frame is sent
            replies[index] = await clients[index].login(
                "u1", token("u1"), platform=PLATFORMS[index], device_id="dev" if one_device_id else f"dev{index}"
            )

        async with trio.open_nursery() as nursery:
            for index in range(DEVICES):
                nursery.start_soon(log_in, index)
            await trio.testing.wait_all_tasks_blocked()
            ready.set()

        # kickOldest: every login is admitted (and maybe kicked later)
        assert sorted(replies) == list(range(DEVICES))
        assert all(len(reply["devices"]) <= allowed for reply in replies.values())
        login_ids = {clients[i].login_id for i in range(DEVICES)}
        assert len(login_ids) == DEVICES

        # Every kick was queued before the login that caused it was answered, and
        # every login was answered: the account's state is final now.
        async with httpx.AsyncClient(
            base_url=server.listening.admin_url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        ) as admin:
            response = await admin.get("/v1/users/u1/devices")
        assert response.status_code == 200
        online = [d["loginID"] for d in response.json()["devices"]]
        assert len(online) == allowed and len(set(online)) == allowed
        assert set(online) <= login_ids

        survivors = [c for c in clients if c.login_id in online]
        kicked = [c for c in clients if c.login_id not in online]
        assert len(survivors) == allowed and len(kicked) == DEVICES - allowed
        for client in kicked:
            assert await client.closed() == 4000
            events = client.pending_events("connectionStateChanged")
            assert len(events) == 1 and events[0]["event"] == 4
            assert events[0]["extendedData"]["reason"] == reason
            assert events[0]["extendedData"]["byLoginID"] in login_ids - {client.login_id}
        for client in survivors:
            assert [d["loginID"] for d in (await client.request("queryDevices"))["devices"]] == online
            assert client.close_code is None
            assert client.pending_events("connectionStateChanged") == []
        # The survivors were not kicked, so their own login is the newest of what
        # they saw: the last devices list each got agrees with the final list.
        for client in survivors:
            await _settled_devices_changed(client, online)
        # the other account never heard of any of it
        assert bystander.pending_events() == []
        assert [d["deviceID"] for d in (await bystander.request("queryDevices"))["devices"]] == ["o"]


async def _settled_devices_changed(client: Client, online: list[str]) -> None:
    """The newest selfDevicesChanged the survivor got (if any) lists exactly `online`."""
    events = client.pending_events("selfDevicesChanged")
    if len(online) == 1:
        # alone on the account: it saw the others leave, or logged in last and saw nothing
        assert all(len(e["devices"]) >= 1 for e in events)
        if events:
            assert [d["loginID"] for d in events[-1]["devices"]] == online
        return
    if events:
        assert [d["loginID"] for d in events[-1]["devices"]] == online
    else:
        assert client.login_reply is not None
        assert [d["loginID"] for d in client.login_reply["devices"]] == online
