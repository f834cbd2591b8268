"""Clusters for the tests: `hubbub serve` nodes as subprocesses on one PostgreSQL database and one Redis.

Each node has a data dir of its own (the lock, the log), the same auth
secret, store and bus, a short lease (5 s) so that a lost node is noticed in
seconds, and the node name `n1`, `n2`, ...
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import coredis
import trio

from hubbub_client import Client, ClientError, Disconnected

from .cli_support import Running, serve_subprocess
from .conftest import token
from .messaging_support import message_ids, send
from .test_durability import _kill, log_tail, start_listening

NODES = ("n1", "n2", "n3")  # the nodes of `three_nodes`, for tests that place actors on a chosen one
LEASE_S = 5.0  # short enough that a lost node is noticed in seconds, long enough that a node starved for a few seconds on a loaded machine keeps its lease
START_WAIT_S = 60.0  # three nodes starting at once on a busy 2-core machine


@dataclass
class Node:
    name: str
    process: trio.Process
    url: str  # its WebSocket URL
    admin_url: str
    log: Path


async def start_node(tmp_path: Path, name: str, store_url: str, bus_url: str, *options: str) -> Node:
    """Start one node and return once it listens (it has joined the membership by then)."""
    data_dir, log = tmp_path / name, tmp_path / f"{name}.log"
    process, url, admin_url = await start_listening(
        data_dir, log, "--store", store_url, "--bus", bus_url, "--node", name,
        "--bus-lease-s", str(LEASE_S), *options, wait_s=START_WAIT_S,
    )
    return Node(name, process, url, admin_url, log)


async def start_cluster(tmp_path: Path, count: int, store_url: str, bus_url: str, *options: str) -> list[Node]:
    """Start `count` nodes at once; returns them once every node sees all of them.

    A node that exits meanwhile fails it at once (AssertionError with the
    node's exit status and the end of its log), the other nodes stopped.
    """
    nodes: list[Node] = []

    async def one(name: str) -> None:
        nodes.append(await start_node(tmp_path, name, store_url, bus_url, *options))

    try:
        async with trio.open_nursery() as starting:
            for i in range(1, count + 1):
                starting.start_soon(one, f"n{i}")
        nodes.sort(key=lambda n: n.name)
        async with trio.open_nursery() as watching:
            for node in nodes:
                watching.start_soon(_fail_if_it_exits, node)
            await until_live(bus_url, {n.name for n in nodes})
            watching.cancel_scope.cancel()
    except BaseException as exc:
        with trio.CancelScope(shield=True):
            await stop_cluster(nodes)
        failure = _node_failure(exc)
        if failure is not None:
            raise failure from None  # one node's status and log, not a group around it
        raise
    return nodes


def _node_failure(exc: BaseException) -> AssertionError | None:
    """The first node's failure in what the start raised, if that is all it holds (through nurseries' groups)."""
    if isinstance(exc, AssertionError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        found = [_node_failure(inner) for inner in exc.exceptions]
        if found and all(inner is not None for inner in found):
            return found[0]
    return None


@asynccontextmanager
async def three_nodes(tmp_path: Path, store_url: str, bus_url: str) -> AsyncIterator[list[Node]]:
    """The nodes of NODES (policy multi, asks answered within 5 s) until the block ends; then killed."""
    nodes = await start_cluster(tmp_path, len(NODES), store_url, bus_url, "--policy", "multi", "--ask-timeout-s", "5")
    try:
        yield nodes
    finally:
        await stop_cluster(nodes)


async def _fail_if_it_exits(node: Node) -> None:
    code = await node.process.wait()
    raise AssertionError(f"node {node.name} exited with status {code} while the cluster started; {log_tail(node.log)}")


async def until_live(bus_url: str, names: set[str]) -> None:
    """Wait (within the test's fail_after) until the membership is exactly `names` and every node renewed since.

    A node gone from Redis's live set (killed, or paused past its lease) leaves
    the others' views at their next renewal (RedisBus._view): once Redis says
    `names`, one renewal later every node sees just `names`.
    """
    async with coredis.Redis.from_url(bus_url) as redis:
        while True:
            live = await redis.get("hubbub:live")
            if live is not None and set(live.decode().split(",")) == names:
                break
            await trio.sleep(0.05)
    # each node renews at least once a second: after that, every one has seen this membership
    await trio.sleep(1.2)


@asynccontextmanager
async def two_workers(tmp_path: Path, store_url: str, bus_url: str) -> AsyncIterator[Running]:
    """`hubbub serve --workers 2` (nodes w-1 and w-2, policy multi), once the supervisor says both listen (each sees the other)."""
    options = ("--store", store_url, "--bus", bus_url, "--node", "w", "--policy", "multi", "--workers", "2")
    async with serve_subprocess(tmp_path, *options, ready="hubbub workers:", wait_s=START_WAIT_S) as server:
        yield server


async def stop_cluster(nodes: list[Node]) -> None:
    for node in nodes:
        if node.process.returncode is None:
            await _kill(node.process)


async def device(nursery: trio.Nursery, urls: str | list[str], user_id: str, platform: str) -> Client:
    """A logged-in device that knows the given nodes and resumes through the next one when its connection is lost."""
    client = Client(urls, nursery, auto_resume=True)
    await client.connect()
    await client.login(user_id, token(user_id), platform=platform, device_id=f"{user_id}-{platform}")
    return client


async def device_on(nursery: trio.Nursery, url: str, user_id: str, platform: str) -> Client:
    """A logged-in device that stays on one node: when that node dies, it is gone."""
    client = Client(url, nursery)
    await client.connect()
    await client.login(user_id, token(user_id), platform=platform, device_id=f"{user_id}-{platform}")
    return client


async def send_around(
    senders: dict[str, Client], to: str, before: int, after: int, fault: Callable[[], Awaitable[None]], conversation_type: int = 0
) -> dict[str, list[str]]:
    """Every sender sends to `to` (of `conversation_type`) without pause; `fault()` runs once each has `before // 2` ok'd.

    Each sender waits at `before` ok'd messages until the fault is over,
    then sends until it has `before + after`. A send answered with an error
    or cut off is not ok'd and not counted. Returns the ok'd message IDs by sender, in order.
    """
    acked: dict[str, list[str]] = {name: [] for name in senders}
    done = trio.Event()

    async def keep_sending(name: str) -> None:
        n = 0
        while len(acked[name]) < before + after:
            if len(acked[name]) >= before:
                await done.wait()
            try:
                acked[name].append((await send(senders[name], to, f"{name}-{n}", conversation_type=conversation_type))["messageID"])
            except (ClientError, Disconnected):
                await trio.sleep(0.1)
            n += 1

    async def fault_when_ready() -> None:
        while any(len(ids) < before // 2 for ids in acked.values()):  # noqa: ASYNC110 - polled on purpose
            await trio.sleep(0.01)
        await fault()
        done.set()

    async with trio.open_nursery() as sending:
        sending.start_soon(fault_when_ready)
        for name in senders:
            sending.start_soon(keep_sending, name)
    return acked


async def assert_each_once_in_order(devices: list[Client], acked: dict[str, list[str]], event: str = "peerMessageReceived") -> None:
    """Each device gets every ok'd message exactly once, each sender's in the order they were ok'd."""
    everything = {mid for ids in acked.values() for mid in ids}
    for client in devices:
        got: list[str] = []
        with trio.move_on_after(60):
            while not everything <= set(got):
                got.extend(message_ids([await client.next_event(event, timeout=60)], event))
        missing = [(name, ids.index(mid)) for name, ids in acked.items() for mid in ids if mid not in set(got)]
        assert not missing, f"{client.url} ({client.login_id}, resumed {client.resumes}x) never got {missing}"
        assert len(got) == len(set(got)), "a message arrived twice"
        for name, ids in acked.items():
            assert [mid for mid in got if mid in set(ids)] == ids, f"{name}'s messages out of order"
