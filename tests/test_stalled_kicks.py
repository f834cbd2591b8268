"""A device that stopped reading is still kicked, forced offline or expired on the control path.

Its outbound queue is full, so a kick that travelled with the data would be
lost with it (the session would close 1013, and a client that resumes after
1013 would come back and kick the newer device). The stop goes around the
queue instead: the device gets `connectionStateChanged` ahead of the queued
data, then its close code, never 1013, and a client with auto-resume stays
away and says why. A socket that cannot take even that frame is aborted, and
the account still counts the device as kicked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import trio
import trio.testing

from hubbub_client import Client, ForcedOffline, Kicked, TokenExpired
from hubbub_client.client import RESUME_WITHIN_S
from gateway.server import Gateway
from gateway.services import account_address

from .cluster_servers import node_holding, node_owning, session_of
from .conftest import ADMIN_TOKEN, Connect, Login, StartServer, token
from .messaging_support import PATIENT_S, jumping, stall_socket, stall_writes

QUEUE = 6  # frames; every peer message is 3 frames for each of the receiver's devices
KICKED_OUT, TOKEN_EXPIRED = 4, 5
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
# Every test here fills a stalled device's queue to exactly full with `_fill_queue`.
FILLS_ONE_QUEUE = pytest.mark.one_process(
    "fills the stalled device's queue to exactly full, three frames a message, as one process queues a message's frames"
    " together; from another node they arrive one bus entry at a time and the stalled writer takes a first frame alone"
)



@pytest.fixture
def autojump_clock() -> trio.testing.MockClock:
    # patient while setting up; tests jump promptly inside `jumping` (see messaging_support)
    return trio.testing.MockClock(autojump_threshold=PATIENT_S)

async def _device(connect: Connect, server: Gateway, user_id: str, platform: str, *, auto_resume: bool, ttl_s: float = 3600) -> Client:
    client = await connect(server)
    client.auto_resume = auto_resume
    await client.login(user_id, token(user_id, ttl_s), platform=platform)
    return client


async def _fill_queue(server: Gateway, sender: Client, victim: Client, witness: Client) -> None:
    """Messages to bob until the stalled `victim`'s outbound queue is exactly full.

    `witness`, another device of bob that reads, paces it: the account pushes
    a message's frames to all of bob's devices together, so once the witness
    has the message, the victim's queue holds it too.
    """
    holder = node_holding(server, victim.login_id)  # the node the victim's session is on
    session = session_of(server, victim.login_id)
    assert session.address is not None
    while True:
        await sender.request("sendMessage", toConversationID="bob", conversationType=0, message={"type": 1, "message": "m"})
        await witness.next_event("peerMessageReceived")
        await trio.testing.wait_all_tasks_blocked()  # the stalled writer took what it could
        queued = holder.directory.queued(session.address)
        assert queued is not None
        if queued + 3 > QUEUE:
            break
    assert queued == QUEUE
    assert holder.directory.slow_disconnects == 0


async def _stays_away(client: Client, clock: trio.testing.MockClock) -> None:
    """No automatic resume, however long we wait."""
    with jumping(clock):
        await trio.sleep(RESUME_WITHIN_S + 5)
    assert client.resumes == 0


async def _online(client: Client, admin: httpx.AsyncClient, expected: list[Client]) -> None:
    """`client` is still connected and the account has exactly `expected` online (queryDevices, admin list)."""
    want = [c.login_id for c in expected]
    assert client.close_code is None
    assert [d["loginID"] for d in (await client.request("queryDevices"))["devices"]] == want
    response = await admin.get("/v1/users/bob/devices", headers=AUTH)
    assert [d["loginID"] for d in response.json()["devices"]] == want


def _stop_event(client: Client) -> dict[str, object]:
    """The one connectionStateChanged the client got, and nothing of the queued data before it."""
    events = client.pending_events("connectionStateChanged")
    assert len(events) == 1, events
    assert client.pending_events("peerMessageReceived") == []
    assert events[0]["state"] == 0 and "seq" not in events[0]
    return events[0]


@pytest.fixture
async def admin_of() -> AsyncIterator[dict[Gateway, httpx.AsyncClient]]:
    opened: dict[Gateway, httpx.AsyncClient] = {}
    yield opened
    for client in opened.values():
        await client.aclose()


def _admin(server: Gateway) -> httpx.AsyncClient:
    assert server.listening is not None and server.listening.admin_url is not None
    return httpx.AsyncClient(base_url=server.listening.admin_url, timeout=10)


@FILLS_ONE_QUEUE
@pytest.mark.parametrize("auto_resume", [False, True], ids=["plain", "auto_resume"])
async def test_a_stalled_device_is_kicked_event_first_then_4000_and_the_newer_stays(
    start_server: StartServer, connect: Connect, login: Login, autojump_clock: trio.testing.MockClock, auto_resume: bool
) -> None:
    server = await start_server("dual", outbound_queue=QUEUE)  # a second native device kicks the first; Web stays
    with trio.fail_after(120):
        async with _admin(server) as admin:
            alice = await login(server, "alice")
            web = await _device(connect, server, "bob", "Web", auto_resume=False)
            old = await _device(connect, server, "bob", "iOS", auto_resume=auto_resume)
            release = stall_writes(server, old)
            await _fill_queue(server, alice, old, web)

            new = await _device(connect, server, "bob", "Android", auto_resume=auto_resume)
            assert await old.closed() == 4000
            event = _stop_event(old)
            assert event["event"] == KICKED_OUT
            assert event["extendedData"] == {"reason": "policy", "byLoginID": new.login_id, "byPlatform": "Android"}
            assert isinstance(old.ended, Kicked)
            assert (old.ended.code, old.ended.reason, old.ended.by_login_id) == (4000, "policy", new.login_id)
            with pytest.raises(Kicked):
                await old.next_event("peerMessageReceived")
            assert node_holding(server, old.login_id).directory.slow_disconnects == 0  # the kick did not overflow the full queue

            await _stays_away(old, autojump_clock)
            release.set()
            await _online(new, admin, [web, new])
            assert node_owning(server, account_address("bob")).account_context.stats["kicks_policy"] == 1


@FILLS_ONE_QUEUE
async def test_a_kick_the_socket_cannot_take_aborts_and_still_counts(
    start_server: StartServer, connect: Connect, login: Login, autojump_clock: trio.testing.MockClock
) -> None:
    server = await start_server("dual", outbound_queue=QUEUE)
    with trio.fail_after(120):
        async with _admin(server) as admin:
            alice = await login(server, "alice")
            web = await _device(connect, server, "bob", "Web", auto_resume=False)
            old = await _device(connect, server, "bob", "iOS", auto_resume=False)
            stall_socket(server, old)
            await _fill_queue(server, alice, old, web)
            kicked_at = trio.current_time()

            new = await _device(connect, server, "bob", "Android", auto_resume=False)
            with jumping(autojump_clock):
                assert await old.closed() == 1006  # aborted: no close frame could go out
            assert trio.current_time() - kicked_at <= 2 * server.config.close_timeout_s + 1
            assert old.pending_events("connectionStateChanged") == []
            await _online(new, admin, [web, new])
            assert node_owning(server, account_address("bob")).account_context.stats["kicks_policy"] == 1


@FILLS_ONE_QUEUE
@pytest.mark.parametrize("auto_resume", [False, True], ids=["plain", "auto_resume"])
async def test_admin_force_offline_of_a_stalled_device(
    start_server: StartServer, connect: Connect, login: Login, autojump_clock: trio.testing.MockClock, auto_resume: bool
) -> None:
    server = await start_server("multi", outbound_queue=QUEUE)
    with trio.fail_after(120):
        async with _admin(server) as admin:
            alice = await login(server, "alice")
            stalled = await _device(connect, server, "bob", "iOS", auto_resume=auto_resume)
            other = await _device(connect, server, "bob", "Windows", auto_resume=auto_resume)
            # the other device reads: its queue drains however much the stalled one holds
            release = stall_writes(server, stalled)
            await _fill_queue(server, alice, stalled, other)

            response = await admin.delete(f"/v1/users/bob/devices/{stalled.login_id}", headers=AUTH)
            assert response.json() == {"forcedOffline": 1}
            assert await stalled.closed() == 4001
            event = _stop_event(stalled)
            assert event["event"] == KICKED_OUT
            assert event["extendedData"] == {"reason": "admin", "byLoginID": None, "byPlatform": None}
            assert isinstance(stalled.ended, ForcedOffline) and stalled.ended.reason == "admin"
            assert node_holding(server, stalled.login_id).directory.slow_disconnects == 0

            await _stays_away(stalled, autojump_clock)
            release.set()
            await _online(other, admin, [other])


@FILLS_ONE_QUEUE
@pytest.mark.parametrize("auto_resume", [False, True], ids=["plain", "auto_resume"])
async def test_token_expiry_of_a_stalled_device(
    start_server: StartServer, connect: Connect, login: Login, autojump_clock: trio.testing.MockClock, auto_resume: bool
) -> None:
    server = await start_server("multi", outbound_queue=QUEUE)
    with trio.fail_after(300):
        async with _admin(server) as admin:
            alice = await login(server, "alice")
            stalled = await _device(connect, server, "bob", "iOS", auto_resume=auto_resume, ttl_s=120)
            other = await _device(connect, server, "bob", "Windows", auto_resume=auto_resume)
            release = stall_writes(server, stalled)
            await _fill_queue(server, alice, stalled, other)

            # the warning cannot get into the full queue; the expiry still comes, on time
            with jumping(autojump_clock):
                assert await stalled.closed(timeout=200) == 4002
            assert stalled.pending_events("tokenWillExpire") == []
            event = _stop_event(stalled)
            assert event["event"] == TOKEN_EXPIRED
            assert isinstance(stalled.ended, TokenExpired)
            assert node_holding(server, stalled.login_id).directory.slow_disconnects == 0

            await _stays_away(stalled, autojump_clock)
            release.set()
            await _online(other, admin, [other])
