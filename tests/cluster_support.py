"""Clusters for the tests: `hubbub serve` nodes as subprocesses on one PostgreSQL database and one Redis.

Each node has a data dir of its own (the lock, the log), the same auth
secret, store and bus, a short lease so that a lost node is noticed in
seconds, and the node name `n1`, `n2`, ...
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import coredis
import trio

from .test_durability import _kill, _start

LEASE_S = 2.0
START_WAIT_S = 60.0  # three nodes starting at once on a busy 2-core machine


@dataclass
class Node:
    name: str
    process: trio.Process
    url: str  # its WebSocket URL


async def start_node(tmp_path: Path, name: str, store_url: str, bus_url: str, *options: str) -> Node:
    """Start one node and return once it listens (it has joined the membership by then)."""
    data_dir = tmp_path / name
    process, url = await _start(
        data_dir, tmp_path / f"{name}.log", "--store", store_url, "--bus", bus_url, "--node", name,
        "--bus-lease-s", str(LEASE_S), *options, wait_s=START_WAIT_S,
    )
    return Node(name, process, url)


async def start_cluster(tmp_path: Path, count: int, store_url: str, bus_url: str, *options: str) -> list[Node]:
    """Start `count` nodes at once; returns them once every node sees all of them."""
    nodes: list[Node] = []

    async def one(name: str) -> None:
        nodes.append(await start_node(tmp_path, name, store_url, bus_url, *options))

    try:
        async with trio.open_nursery() as starting:
            for i in range(1, count + 1):
                starting.start_soon(one, f"n{i}")
        nodes.sort(key=lambda n: n.name)
        await until_live(bus_url, {n.name for n in nodes})
    except BaseException:
        with trio.CancelScope(shield=True):
            await stop_cluster(nodes)
        raise
    return nodes


async def until_live(bus_url: str, names: set[str]) -> None:
    """Wait (within the test's fail_after) until the membership is exactly `names` and every node renewed since."""
    async with coredis.Redis.from_url(bus_url) as redis:
        while True:
            live = await redis.get("hubbub:live")
            if live is not None and set(live.decode().split(",")) == names:
                break
            await trio.sleep(0.05)
    # each node renews at least once a second: after that, every one has seen this membership
    await trio.sleep(1.2)


async def stop_cluster(nodes: list[Node]) -> None:
    for node in nodes:
        if node.process.returncode is None:
            await _kill(node.process)
