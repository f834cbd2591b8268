"""A login that fails half-way leaves no device behind (the admission step, gateway/admission.py).

The account is held at each point of its login work (queued behind another
message, storing the login, storing a login that kicks an older device)
while the logging-in connection drops or its ask times out. Once the
account is let go, the device it may have admitted must be gone again: not
in `queryDevices` of a device that stayed, not in the admin device list.
"""

from __future__ import annotations

import httpx
import pytest
import trio
import trio.testing

from hubbub_client import Client, ClientError, Disconnected
from gateway.server import Gateway
from gateway.services import account_address
from gateway.session import DeviceSession

from .cluster_servers import node_owning, nodes_of
from .conftest import ADMIN_TOKEN, Connect, Login, StartServer, token
from .messaging_support import PATIENT_S, jumping
from .store_gate import StoreGate

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def autojump_clock() -> trio.testing.MockClock:
    # patient while setting up; tests jump promptly inside `jumping` (see messaging_support)
    return trio.testing.MockClock(autojump_threshold=PATIENT_S)


async def _failing_login(client: Client, *, failed: trio.Event) -> None:
    with pytest.raises((Disconnected, ClientError)) as caught:
        await client.login("bob", token("bob"), platform="iOS", timeout=120)
    if isinstance(caught.value, ClientError):
        assert caught.value.code == 9000  # the ask timed out
    failed.set()


def _admitting(server: Gateway) -> DeviceSession:
    """The one session that is logging in (reachable, not yet logged in), on whichever node of a cluster holds it."""
    (session,) = [s for node in nodes_of(server) for s in node.connections if s.address is not None and not s.logged_in]
    return session


# (store method held, what the account is doing when held). A login is one transaction (the
# account row, the kicked devices' rows, the new device's row): its one await point is that commit.
POINTS = {
    "queued": "commit",  # busy removing another device; the Login waits in the inbox
    "login": "commit",  # storing the login
    "kick": "commit",  # storing the login that kicks the oldest iOS device
}


@pytest.mark.one_process(
    "its patient mock clock (a jump after 1 s of real idleness outside `jumping`) meets a cluster's bus, which works"
    " every virtual second: under load the waits outside `jumping` take real minutes"
)
@pytest.mark.parametrize("way", ["drop", "timeout"])
@pytest.mark.parametrize("point", list(POINTS))
async def test_a_login_that_fails_half_way_leaves_no_device(
    start_server: StartServer, connect: Connect, login: Login, autojump_clock: trio.testing.MockClock, point: str, way: str
) -> None:
    # drop: the ask outlives the keepalive, which finds the connection gone and ends the session
    ask_timeout_s = 120.0 if way == "drop" else 5.0
    server = await start_server("multi", ask_timeout_s=ask_timeout_s)
    store = node_owning(server, account_address("bob")).store  # where bob's account commits
    assert server.listening is not None and server.listening.admin_url is not None
    with trio.fail_after(600):
        async with httpx.AsyncClient(base_url=server.listening.admin_url, timeout=10) as admin, trio.open_nursery() as nursery:
            web = await login(server, "bob", device="web", platform="Web")
            stays = [web]
            if point == "kick":  # multi keeps two iOS devices: the third login kicks the oldest
                await login(server, "bob", device="old-phone", platform="iOS")
                stays.append(await login(server, "bob", device="phone", platform="iOS"))
            if point == "queued":
                leaving = await login(server, "bob", device="desk", platform="Windows")
                gate = StoreGate(store, POINTS[point])
                await leaving.close()
                await gate.entered.wait()
            else:
                gate = StoreGate(store, POINTS[point])

            device = await connect(server)
            failed = trio.Event()
            nursery.start_soon(lambda: _failing_login(device, failed=failed))
            if point != "queued":
                await gate.entered.wait()
            else:
                await trio.testing.wait_all_tasks_blocked()  # the Login waits in the account's inbox
            if way == "drop":
                ended = _admitting(server).ended
                await device.close()
                await failed.wait()
                with jumping(autojump_clock):
                    await ended.wait()  # the keepalive found the drop and ended the session
            else:
                with jumping(autojump_clock):
                    await failed.wait()
                assert device.close_code is None  # refused, still connected
            gate.release.set()

            # queryDevices and the admin list queue behind whatever the account still had to do
            want = [c.login_id for c in stays]
            assert [d["loginID"] for d in (await web.request("queryDevices"))["devices"]] == want
            response = await admin.get("/v1/users/bob/devices", headers=AUTH)
            assert [d["loginID"] for d in response.json()["devices"]] == want
            assert web.close_code is None
