"""A hard cap on online devices per account, whatever the login policy allows."""

from __future__ import annotations

import trio

from actors.account.policy import LoginPolicy
from hubbub_client import ClientError

from gateway.services import account_address

from .cluster_servers import node_owning
from .conftest import Login, StartServer

CAP = 4


async def test_a_login_past_the_device_cap_is_refused_and_changes_nothing(start_server: StartServer, login: Login) -> None:
    many = LoginPolicy.from_json({"mode": "multi", "maxDevices": None, "platformLimits": {"default": 1000}})
    server = await start_server(many, max_devices_per_account=CAP)
    with trio.fail_after(30):
        clients = [await login(server, "alice", device=f"d{n}", platform="Web") for n in range(CAP)]
        try:
            await login(server, "alice", device="one-too-many", platform="Web")
        except ClientError as exc:
            assert exc.code == 2004
            assert f"the most this server allows ({CAP})" in exc.message
        else:
            raise AssertionError("a login past the device cap was admitted")
        listed = await clients[0].request("queryDevices")
        assert [d["deviceID"] for d in listed["devices"]] == [f"d{n}" for n in range(CAP)]
        owner = node_owning(server, account_address("alice"))  # the node whose account actor counted it
        assert owner.account_context.stats["logins_over_device_cap"] == 1
        scraped = owner.metrics.registry.get_sample_value("hubbub_account_events_total", {"what": "logins_over_device_cap"})
        assert scraped == 1
        # the same device logging in again replaces itself: the cap counts what stays online
        again = await login(server, "alice", device="d0", platform="Web")
        assert await clients[0].closed() == 4000
        listed = await again.request("queryDevices")
        assert sorted(d["deviceID"] for d in listed["devices"]) == [f"d{n}" for n in range(CAP)]
        # one going offline makes room for another
        await clients[1].request("logout")
        await login(server, "alice", device="late", platform="Web")
