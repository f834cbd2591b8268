"""`hubbub serve --workers N`: a supervisor of worker nodes behind one port, as real subprocesses.

The supervisor passes SIGTERM on and exits once its workers did; a worker
that cannot start stops the rest and the supervisor says so in one line;
settings it cannot run with are one-line refusals.
"""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import trio

from hubbub_client import Client

from .cli_support import ADMIN_TOKEN, SECRET, run_hubbub, serve_subprocess
from .cluster_support import two_workers
from .conftest import token
from .redis_servers import RedisForTests


async def test_a_supervised_worker_serves_on_the_shared_port_and_stops_with_the_supervisor(
    nursery: trio.Nursery, tmp_path: Path, postgres_url: str
) -> None:
    with trio.fail_after(90):
        async with serve_subprocess(tmp_path, "--store", postgres_url, "--workers", "1") as server:
            client = Client(server.ws_url, nursery)
            await client.connect()
            await client.login("alice", token("alice", secret=SECRET), device_id="A1")
            [device] = (await client.request("queryDevices"))["devices"]
            assert device["loginID"].startswith("local-1-")  # IDs are made by the worker node
            # the port is shared with SO_REUSEPORT: a plain server cannot take it
            port = int(server.ws_url.rsplit(":", 1)[1].split("/")[0])
            taken = await run_hubbub("serve", "--port", str(port), "--admin-port", "off", "--data-dir", str(tmp_path / "other"))
            assert taken.returncode == 2 and b"already in use" in taken.stderr
            server.process.send_signal(signal.SIGTERM)
            assert await client.closed() == 4004
            assert await server.process.wait() == 0
        assert await trio.Path(tmp_path / "data" / "worker-1" / "hubbub.lock").exists()
        assert "hubbub.workers" in server.stderr() and "signal SIGTERM: passed on to 1 workers" in server.stderr()


async def test_a_worker_that_cannot_start_stops_the_supervisor_with_one_line(tmp_path: Path, postgres_url: str) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        admin_port = busy.getsockname()[1]
        result = await run_hubbub(
            "serve", "--port", "0", "--admin-port", str(admin_port), "--data-dir", str(tmp_path / "data"),
            "--auth-secret", SECRET, "--admin-token", ADMIN_TOKEN, "--store", postgres_url, "--workers", "1",
        )
    assert result.returncode == 2
    lines = result.stderr.decode().strip().splitlines()
    assert lines[-1] == "hubbub: worker local-1 exited with status 2 before it listened (its error is above); stopped the others"
    assert f"admin API cannot listen on 127.0.0.1:{admin_port}" in lines[-2]


async def test_settings_workers_cannot_run_with_are_one_line_refusals(tmp_path: Path, postgres_url: str) -> None:
    data = ("--data-dir", str(tmp_path / "data"))
    for args, said in (
        (("--workers", "1"), "hubbub: --workers needs --store postgresql://...: its workers are nodes that share one store"),
        (("--workers", "2", "--store", postgres_url), "hubbub: --workers above 1 needs the cluster bus"),
        (("--workers", "0", "--store", postgres_url), "hubbub: --workers: must be positive, got 0"),
        (("--wait-for-nodes", "a,b", "--store", postgres_url), "hubbub: --wait-for-nodes needs the cluster bus (--bus redis://...)"),
    ):
        result = await run_hubbub("serve", *data, *args)
        assert result.returncode == 2, result
        assert result.stderr.decode().startswith(said) and result.stderr.count(b"\n") == 1, result.stderr
    assert not await trio.Path(tmp_path / "data" / "worker-1").exists()


async def test_two_workers_are_two_nodes_of_one_cluster_behind_one_port(
    nursery: trio.Nursery, tmp_path: Path, postgres_url: str, redis_server: RedisForTests
) -> None:
    """Connections to the one port land on both workers; a message crosses from one node to the other."""
    with trio.fail_after(120):
        async with two_workers(tmp_path, postgres_url, redis_server.url) as server:
            devices: dict[str, list[Client]] = {"w-1": [], "w-2": []}
            users: dict[Client, str] = {}
            for index in range(16):  # the kernel hashes each connection to a worker: 16 miss one with odds 2 in 65,536
                client = Client(server.ws_url, nursery)
                await client.connect()
                reply = await client.login(f"user{index}", token(f"user{index}", secret=SECRET), device_id=f"d{index}")
                devices[reply["loginID"].rsplit("-", 1)[0]].append(client)  # loginIDs start with the node's name
                users[client] = f"user{index}"
            assert devices["w-1"] and devices["w-2"], {node: len(clients) for node, clients in devices.items()}
            sender, receiver = devices["w-1"][0], devices["w-2"][0]
            receiver_id = users[receiver]
            await sender.request(
                "sendMessage", toConversationID=receiver_id, conversationType=0, message={"type": 1, "message": "across"}
            )
            got = await receiver.next_event("peerMessageReceived")
            assert got["messageList"][0]["message"] == "across"
            server.process.send_signal(signal.SIGTERM)
            assert await server.process.wait() == 0
        assert "signal SIGTERM: passed on to 2 workers" in server.stderr()
