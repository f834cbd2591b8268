"""`hubbub serve --workers N`: the workers never outlive their supervisor, even one killed with SIGKILL.

A real supervisor with two worker nodes on one PostgreSQL and one Redis;
the supervisor gets SIGKILL (no signal handler runs, nothing is forwarded)
and each worker, seeing the supervisor's pipe close, shuts down cleanly:
its devices get 4004 (reconnect with resumeFrom) and the process ends.
"""

from __future__ import annotations

import signal
from pathlib import Path

import trio

from actors.bus.placement import owner_of
from actors.runtime import Address
from hubbub_client import Client, with_account_hint

from .cli_support import SECRET, serve_subprocess
from .cluster_support import two_workers
from .conftest import token
from .redis_servers import RedisForTests


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid`, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # it ended while we looked
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _running(pid: int) -> bool:
    """Whether `pid` is still a live process (a zombie waiting for its new parent to reap it has ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


async def test_workers_shut_down_when_their_supervisor_is_killed(
    nursery: trio.Nursery, tmp_path: Path, postgres_url: str, redis_server: RedisForTests
) -> None:
    with trio.fail_after(120):
        async with two_workers(tmp_path, postgres_url, redis_server.url) as server:
            client = Client(server.ws_url, nursery)
            await client.connect()
            await client.login("alice", token("alice", secret=SECRET), device_id="A1")
            workers = _children(server.process.pid)
            assert len(workers) == 2, workers
            server.process.send_signal(signal.SIGKILL)
            assert await server.process.wait() == -signal.SIGKILL
            assert await client.closed() == 4004  # shut down cleanly, as on SIGTERM
            while any(_running(pid) for pid in workers):  # noqa: ASYNC110 - another process's end is polled
                await trio.sleep(0.05)
        assert server.stderr().count("the supervisor is gone: shutting down") == 2


async def test_logins_right_after_the_supervisor_says_its_workers_listen_all_succeed(
    nursery: trio.Nursery, tmp_path: Path, postgres_url: str, redis_server: RedisForTests
) -> None:
    """Every worker listens only once its view holds all of them, so no login meets two nodes that both claim its account."""
    options = ("--store", postgres_url, "--bus", redis_server.url, "--node", "w", "--policy", "multi", "--workers", "2")
    with trio.fail_after(120):
        async with serve_subprocess(tmp_path, *options, ready="hubbub workers:", wait_s=60) as server:
            users = [f"u{i}" for i in range(20)]
            devices: dict[str, list[Client]] = {user: [] for user in users}

            async def log_in(user: str, device: str) -> None:
                client = Client(server.ws_url, nursery)
                await client.connect()
                await client.login(user, token(user, secret=SECRET), device_id=device, timeout=30)
                devices[user].append(client)

            async with trio.open_nursery() as logins:  # at once: the kernel spreads the connections over both workers
                for user in users:
                    for device in ("A", "B"):
                        logins.start_soon(log_in, user, device)
            nodes: set[str] = set()
            for user, clients in devices.items():
                expected = sorted(str(client.login_id) for client in clients)
                nodes |= {login_id.rsplit("-", 1)[0] for login_id in expected}
                for client in clients:
                    assert sorted(d["loginID"] for d in (await client.request("queryDevices"))["devices"]) == expected, user
            assert nodes == {"w-1", "w-2"}  # both workers served logins


async def test_a_connection_naming_its_account_is_served_by_the_worker_that_owns_the_account(
    nursery: trio.Nursery, tmp_path: Path, postgres_url: str, redis_server: RedisForTests
) -> None:
    """`/ws?user=ID`: whichever worker the kernel gave the connection, the account's owner serves it; messages still flow."""
    with trio.fail_after(120):
        async with two_workers(tmp_path, postgres_url, redis_server.url) as server:
            users = [f"h{i}" for i in range(12)]
            devices: dict[str, list[Client]] = {user: [] for user in users}

            async def log_in(user: str, platform: str) -> None:
                client = Client(with_account_hint(server.ws_url, user), nursery)
                await client.connect()
                await client.login(user, token(user, secret=SECRET), platform=platform, device_id=platform, timeout=30)
                devices[user].append(client)

            async with trio.open_nursery() as logins:
                for user in users:
                    for platform in ("iOS", "Android", "Windows"):
                        logins.start_soon(log_in, user, platform)
            owners = {user: owner_of(Address("account", user), ("w-1", "w-2")) for user in users}
            assert set(owners.values()) == {"w-1", "w-2"}  # both workers own some of them
            for user, clients in devices.items():
                assert {str(c.login_id).rsplit("-", 1)[0] for c in clients} == {owners[user]}, user
            sender, receiver = devices[users[0]][0], devices[users[1]]
            await sender.request("sendMessage", toConversationID=users[1], conversationType=0, message={"type": 1, "message": "placed"})
            for client in receiver:
                event = await client.next_event("peerMessageReceived", timeout=20)
                assert event["messageList"][0]["message"] == "placed"
            unhinted = Client(server.ws_url, nursery)  # no hint: served wherever it arrived, as before
            await unhinted.connect()
            await unhinted.login(users[2], token(users[2], secret=SECRET), platform="Web", device_id="Web", timeout=30)
            assert len((await unhinted.request("queryDevices"))["devices"]) == 4
            for _ in range(2):  # a reconnect names the account that logged in: the owner serves it from then on
                await unhinted.reconnect()
                assert str(unhinted.login_id).rsplit("-", 1)[0] == owners[users[2]]
        handed = server.stderr()
        assert "could not hand" not in handed and "cannot be handed" not in handed, handed[-2000:]
