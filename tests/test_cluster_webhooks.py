"""Three nodes on one queue of webhook calls: each call is made once by the cluster, and a dead node's calls go out from the others.

alice, carol and dave send to bob through three nodes (subprocesses on one
PostgreSQL and one Redis); every message queues a messageSent call on the
node that owns its sender's account. While all three run, the receiver
gets each delivery ID exactly once, and the nodes' counts of the calls they
made add up to the calls there are: no node makes another's call.

Then the receiver turns slow (1 s per answer) and the senders send again.
Once calls are open, the node holding the most claims is killed with
SIGKILL. Its claims stay in the store until they expire (CLAIM_S); then the
other nodes take them. Every message's call is accepted at least once; a
call made twice is one the dead node held, made again only after its claim
expired; and each sender's calls were first accepted in the order sent.

A failure prints what each node did (its counts, its log) and what the
receiver and the queue hold, to tell a lost call from a slow machine.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import httpx
import psycopg
import trio

from .cluster_support import Node, device_on, start_cluster, stop_cluster
from .messaging_support import send
from .redis_servers import RedisForTests
from .test_durability import ADMIN, _kill
from .webhook_support import HOOK_SECRET, Receiver, serve_receiver

SENDERS = ("alice", "carol", "dave")
BEFORE = 6  # messages each sender sends while all three nodes run
AFTER = 8  # ... and then, before the kill
TIMEOUT_S = 3.0  # one call
CLAIM_S = 8.0  # a node holds a call this long; the survivors take a dead node's calls after it
SLOW_S = 1.0  # the receiver's answer time in the second half: calls are open when the node is killed
CLOCK_SLACK_MS = 200  # the nodes' clocks (wall time advanced by a monotonic clock) against the test's


def _first_accepted(receiver: Receiver) -> dict[str, list[str]]:
    """Each sender's messageIDs in the order their calls were first accepted."""
    order: dict[str, list[str]] = {}
    for call in receiver.accepted_of("messageSent"):
        ids = order.setdefault(call["userID"], [])
        if call["message"]["messageID"] not in ids:
            ids.append(call["message"]["messageID"])
    return order


def _claims(store_url: str) -> list[tuple[str, str, int]]:
    """(node, delivery ID, claim expiry in ms) of every claimed call in the queue; runs in a thread."""
    with psycopg.connect(store_url, autocommit=True) as conn:
        rows = conn.execute("SELECT claimed_by, delivery_id, next_attempt FROM webhook_queue WHERE claimed_by <> '' ORDER BY queue_id")
        return [(str(node), str(delivery), int(until)) for node, delivery, until in rows]


def _queue(store_url: str) -> list[tuple[str, str, int, int, str]]:
    with psycopg.connect(store_url, autocommit=True) as conn:
        rows = conn.execute("SELECT delivery_id, account, attempts, next_attempt, claimed_by FROM webhook_queue ORDER BY queue_id")
        return [tuple(row) for row in rows]


async def _calls_made(node: Node) -> float:
    """The calls `node` made that the backend took (its own count, from its metrics)."""
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10) as admin:
        text = (await admin.get(node.admin_url + "/metrics")).text
    return sum(
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
        if line.startswith("hubbub_webhook_deliveries_total{") and 'outcome="delivered"' in line
    )


async def _explain(tmp_path: Path, nodes: list[Node], receiver: Receiver, store_url: str) -> None:
    """What each node, the receiver and the queue show: printed when the test fails."""
    for node in nodes:
        made = await _calls_made(node) if node.process.returncode is None else "(dead)"
        log = (tmp_path / f"{node.name}.log").read_text(errors="replace")
        print(f"--- {node.name}: calls made {made}; log tail:\n{log[-4000:]}")
    arrivals = [(c.arrived_ms, c.delivery_id, c.json.get("userID"), c.status) for c in receiver.calls]
    print(f"--- receiver: {len(receiver.calls)} calls, {len({c.delivery_id for c in receiver.calls})} delivery IDs:")
    for arrival in arrivals:
        print("   ", *arrival)
    print("--- queue:", *await trio.to_thread.run_sync(_queue, store_url), sep="\n    ")


async def test_three_nodes_make_each_call_once_and_a_dead_nodes_calls_go_out_from_the_others(
    nursery: trio.Nursery, tmp_path: Path, postgres_url: str, redis_server: RedisForTests
) -> None:
    receiver = Receiver()
    await nursery.start(serve_receiver, receiver)
    hooks = (
        "--webhook-url", receiver.url, "--webhook-secret", HOOK_SECRET, "--webhook-events", "messageSent",
        "--webhook-timeout-s", str(TIMEOUT_S), "--webhook-claim-s", str(CLAIM_S),
    )
    nodes: list[Node] = []
    try:
        with trio.fail_after(360):
            nodes = await start_cluster(tmp_path, 3, postgres_url, redis_server.url, *hooks)
            senders = {name: await device_on(nursery, node.url, name, "iOS") for name, node in zip(SENDERS, nodes, strict=True)}
            sent: dict[str, list[str]] = {name: [] for name in SENDERS}

            async def send_each(count: int) -> None:
                for index in range(count):
                    for name, client in senders.items():
                        sent[name].append((await send(client, "bob", f"{name}-{len(sent[name])}-{index}"))["messageID"])

            # all three nodes run: each call once
            await send_each(BEFORE)
            total = BEFORE * len(SENDERS)
            with trio.fail_after(60):
                await receiver.until(lambda r: len(r.accepted_of("messageSent")) >= total)
            await trio.sleep(CLAIM_S + 2)  # every node has looked at the queue again since (at least once per claim)
            made = Counter(c.delivery_id for c in receiver.calls)
            assert len(made) == total and set(made.values()) == {1}, f"delivery IDs called more than once: {made.most_common(3)}"
            assert _first_accepted(receiver) == sent
            counts = {node.name: await _calls_made(node) for node in nodes}
            assert sum(counts.values()) == total, counts  # no node made another's call

            # a slow receiver, calls open: the node holding the most claims is killed
            receiver.delay_s = SLOW_S
            await send_each(AFTER)
            seen_before = len(receiver.calls)
            with trio.fail_after(60):
                await receiver.until(lambda r: len(r.calls) >= seen_before + len(SENDERS))
            holders = Counter(node for node, _, _ in await trio.to_thread.run_sync(_claims, postgres_url))
            assert holders, "no call was claimed while calls were open"
            (dead_name, _), = holders.most_common(1)
            dead = next(node for node in nodes if node.name == dead_name)
            await _kill(dead.process)
            killed_ms = int(time.time() * 1000)
            left = {delivery: until for node, delivery, until in await trio.to_thread.run_sync(_claims, postgres_url) if node == dead_name}
            assert left, f"{dead_name} held no claim once killed"
            receiver.delay_s = 0.0

            everything = {mid for ids in sent.values() for mid in ids}
            with trio.fail_after(CLAIM_S * 4 + 60):  # the claims expire, then the others take them and the calls behind them
                await receiver.until(lambda r: everything <= {c["message"]["messageID"] for c in r.accepted_of("messageSent")})
            await trio.sleep(CLAIM_S + 2)  # anything made twice has been made by now

            made = Counter(c.delivery_id for c in receiver.calls)
            twice = {delivery for delivery, times in made.items() if times > 1}
            assert twice <= set(left), f"made again, yet not held by the dead node: {sorted(twice - set(left))}"
            for call in receiver.calls:
                if call.delivery_id in left and call.arrived_ms > killed_ms:
                    assert call.arrived_ms >= left[call.delivery_id] - CLOCK_SLACK_MS, "a dead node's call was taken before its claim expired"
            assert _first_accepted(receiver) == sent
            assert all(c.status == 200 for c in receiver.calls)
    except BaseException:
        with trio.CancelScope(shield=True), trio.move_on_after(30):
            await _explain(tmp_path, nodes, receiver, postgres_url)
        raise
    finally:
        with trio.CancelScope(shield=True):
            await stop_cluster(nodes)
