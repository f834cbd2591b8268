"""How failover time grows with the accounts a node held (1,000 and 10,000), measured in one run.

    .venv/bin/python -m scripts.bench_failover --accounts 1000,10000 --lease-s 20

For each size, on a fresh PostgreSQL database and a fresh Redis (the tests'
throwaway servers), two nodes n1 and n2 run as `hubbub serve` subprocesses:

1. n1 comes to hold the accounts: each of `--accounts` users that rendezvous
   hashing places on n1 gets one message from senders placed on n2; their
   actors start (and claim themselves) on n1 and take their deliveries.
   The script waits until the outbox is empty.
2. n1 is killed (SIGKILL). At once each of those accounts gets a second
   message: the senders' node commits it and tells n1, which is gone, so
   every delivery waits in the outbox (all sent well within the lease).
3. n1's lease runs out; n2 sees it leave, owns the accounts now and wakes
   those with deliveries pending: each is claimed, loaded from the store and
   takes its delivery.

Printed per size: kill -> n1 gone from the membership (the lease), and
membership change -> outbox empty (every account taken over and its
delivery done): the failover proper, whose target is under 5 s. The
accounts' second messages are the only deliveries pending, so the outbox
empties exactly when the last account has come back on n2.
"""

from __future__ import annotations

import argparse
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import datetime
from pathlib import Path
from collections.abc import AsyncIterator

import coredis
import psycopg
import trio

from actors.bus.placement import owner_of
from actors.runtime import Address
from gateway.auth import mint_token
from hubbub_client import Client, ClientError

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.redis_servers import RedisForTests  # noqa: E402  the tests' throwaway servers
from tests.store_engines import EmbeddedPostgres  # noqa: E402

SENDERS = 32  # devices sending at once, each a user placed on n2
_POLL_S = 0.02
_START_WAIT_S = 60.0
_SEND_TRIES = 5  # a send whose ask timed out (9000) is sent again, with the same clientMessageID


@asynccontextmanager
async def _node(workdir: Path, name: str, store_url: str, bus_url: str, secret: str, lease_s: float) -> AsyncIterator[tuple[trio.Process, str]]:
    """One node as a subprocess until the block ends (killed if it is still running); it and its WebSocket URL."""
    command = [
        sys.executable, "-m", "gateway.cli", "serve", "--port", "0", "--admin-port", "off",
        "--data-dir", str(workdir / name), "--auth-secret", secret, "--store", store_url, "--bus", bus_url,
        "--node", name, "--bus-lease-s", str(lease_s), "--policy", "multi", "--log-level", "INFO",
        "--rate-per-s", "100000", "--rate-burst", "100000", "--account-messages-per-s", "100000",
        "--account-messages-burst", "100000",
    ]
    with (workdir / f"{name}.log").open("ab") as log:
        process = await trio.lowlevel.open_process(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=log)
    try:
        assert process.stdout is not None
        line = b""
        with trio.fail_after(_START_WAIT_S):
            while b"\n" not in line:
                chunk = await process.stdout.receive_some(4096)
                if not chunk:
                    raise RuntimeError(f"node {name} exited before listening: see {workdir / f'{name}.log'}")
                line += chunk
        yield process, line.split(b"\n", 1)[0].decode().split()[2]
    finally:
        if process.returncode is None:
            process.kill()
        with trio.move_on_after(10, shield=True):
            await process.wait()


def _placed(prefix: str, on: str, count: int, nodes: tuple[str, ...]) -> list[str]:
    """`count` user IDs `prefix`N whose account actor rendezvous hashing places on node `on`."""
    found: list[str] = []
    index = 0
    while len(found) < count:
        user = f"{prefix}{index}"
        if owner_of(Address("account", user), nodes) == on:
            found.append(user)
        index += 1
    return found


async def _send_to_each(senders: list[Client], receivers: list[str], text: str) -> None:
    """One message from some sender to every receiver, the senders sending at once.

    A send answered "not completed, retry" (9000: its ask timed out on a
    loaded machine) is sent again with the same clientMessageID, so the
    receiver still gets it once.
    """
    async def send_share(client: Client, share: list[str]) -> None:
        for receiver in share:
            body = {"type": 1, "message": text}
            for attempt in range(1, _SEND_TRIES + 1):
                try:
                    await client.request(
                        "sendMessage", toConversationID=receiver, conversationType=0, message=body,
                        clientMessageID=f"{text.replace(' ', '-')}-{receiver}", timeout=60,
                    )
                    break
                except ClientError as exc:
                    if exc.code != 9000 or attempt == _SEND_TRIES:
                        raise
                    await trio.sleep(0.5)

    async with trio.open_nursery() as nursery:
        for index, client in enumerate(senders):
            nursery.start_soon(send_share, client, receivers[index :: len(senders)])


async def _outbox(database: str) -> int:
    def count() -> int:
        with psycopg.connect(database) as conn:
            row = conn.execute("SELECT COUNT(*) FROM outbox").fetchone()
            return int(row[0]) if row else 0

    return await trio.to_thread.run_sync(count)


async def _until_outbox(database: str, done: int, trace: list[tuple[float, int]] | None = None) -> float:
    """Poll the outbox until it holds `done` rows; the wall time it did. `trace` gets (time, rows) as they change."""
    while True:
        rows = await _outbox(database)
        if trace is not None and (not trace or trace[-1][1] != rows):
            trace.append((time.time(), rows))
        if rows == done:
            return time.time()
        await trio.sleep(_POLL_S)


async def _until_gone(bus_url: str, node: str) -> float:
    """Poll the cluster's live set in Redis until `node` is no longer in it; the wall time it left."""
    async with coredis.Redis.from_url(bus_url) as redis:
        while True:
            live = await redis.get("hubbub:live")
            if live is not None and node not in live.decode().split(","):
                return time.time()
            await trio.sleep(_POLL_S)


async def _profile(node: trio.Process, out: Path) -> trio.Process:
    """py-spy sampling `node` (its Python stacks, GIL holders or not) into `out` (collapsed stacks) until sent SIGINT."""
    out.parent.mkdir(parents=True, exist_ok=True)
    command = [str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(node.pid), "--format", "raw", "--rate", "100", "--output", str(out)]
    return await trio.lowlevel.open_process(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def _until_seen_alone(log: Path, node: str) -> float:
    """Wait until `node`'s log says its membership is itself alone; the wall time of that line."""
    pattern = re.compile(rf"^(\S+) INFO hubbub.bus node={node} membership version=\d+ nodes={node}$", re.M)
    while True:
        found = pattern.search(await trio.Path(log).read_text(errors="replace"))
        if found:
            return datetime.fromisoformat(found.group(1).replace("Z", "+00:00")).timestamp()
        await trio.sleep(_POLL_S)


async def _one_size(
    top: Path, server: EmbeddedPostgres, accounts: int, lease_s: float, trace_out: bool, profile: Path | None = None
) -> dict[str, float]:
    name = f"hubbub_failover_{accounts}"
    workdir = top / name  # the nodes' data dirs and logs, apart for each size
    await trio.Path(workdir).mkdir()
    with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    database = server.url(name)
    redis_dir = workdir / f"redis-{accounts}"
    redis_dir.mkdir()
    redis = RedisForTests(redis_dir)
    redis.start()
    secret = secrets.token_hex(24)
    nodes = ("n1", "n2")
    receivers = _placed("held", "n1", accounts, nodes)
    senders_ids = _placed("sender", "n2", SENDERS, nodes)
    try:
        async with AsyncExitStack() as stack:
            n1, _ = await stack.enter_async_context(_node(workdir, "n1", database, redis.url, secret, lease_s))
            n2, n2_url = await stack.enter_async_context(_node(workdir, "n2", database, redis.url, secret, lease_s))
            nursery = await stack.enter_async_context(trio.open_nursery())
            senders = []
            for user in senders_ids:
                client = Client(n2_url, nursery)
                await client.connect()
                await client.login(user, mint_token(secret, user, 3600), platform="iOS", device_id=f"{user}-d")
                senders.append(client)
            await trio.sleep(lease_s / 2)  # both nodes in every node's view before any actor is placed
            await _send_to_each(senders, receivers, "held")
            await _until_outbox(database, 0)  # n1 holds every receiver now
            n1.kill()
            killed = time.time()
            await _send_to_each(senders, receivers, "after the kill")
            queued = time.time()
            rows_queued = await _outbox(database)
            gone = await _until_gone(redis.url, "n1")
            spy = None if profile is None else await _profile(n2, profile / f"survivor-{accounts}.txt")
            trace: list[tuple[float, int]] = []
            empty = await _until_outbox(database, 0, trace)
            if spy is not None:
                spy.send_signal(signal.SIGINT)  # py-spy writes what it sampled and exits
                with trio.fail_after(60):
                    await spy.wait()
            seen = await _until_seen_alone(workdir / "n2.log", "n2")
            for client in senders:
                await client.close()
            nursery.cancel_scope.cancel()
    finally:
        redis.stop()
    if trace_out:
        steps = [trace[0], *trace[1::max(1, len(trace) // 8)], trace[-1]]
        print("  outbox after n2 saw n1 leave: " + ", ".join(f"{t - seen:.1f} s {rows}" for t, rows in steps), flush=True)
    if queued >= gone:
        print(f"  warning: the sends took until {queued - killed:.1f} s after the kill, past the lease: raise --lease-s", flush=True)
    return {
        "accounts": float(accounts),
        "queued_rows": float(rows_queued),
        "send_s": queued - killed,
        "kill_to_left_s": gone - killed,
        "left_to_seen_s": seen - gone,
        "seen_to_taken_over_s": empty - seen,
    }


async def main_async(args: argparse.Namespace) -> None:
    sizes = [int(size) for size in args.accounts.split(",")]
    server = EmbeddedPostgres()
    try:
        with tempfile.TemporaryDirectory(prefix="hubbub-bench-failover-") as tmp:
            if args.keep_logs is not None:
                tmp = str(args.keep_logs)
                await trio.Path(tmp).mkdir(parents=True, exist_ok=True)
            for size in sizes:
                started = time.perf_counter()
                figures = await _one_size(Path(tmp), server, size, args.lease_s, args.trace, args.profile_survivor)
                print(
                    f"{size:6d} accounts held by n1: sends after the kill {figures['send_s']:5.1f} s ({figures['queued_rows']:.0f} rows queued),"
                    f" kill -> n1 out of Redis's live set {figures['kill_to_left_s']:5.1f} s,"
                    f" -> n2's view without n1 {figures['left_to_seen_s']:5.1f} s,"
                    f" -> every account taken over on n2 {figures['seen_to_taken_over_s']:5.2f} s"
                    f" ({time.perf_counter() - started:.0f} s in all)",
                    flush=True,
                )
    finally:
        server.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--accounts", default="1000,10000", help="comma-separated sizes (default %(default)s)")
    parser.add_argument("--keep-logs", type=Path, default=None, help="a directory for the nodes' data dirs and logs, kept after the run")
    parser.add_argument("--trace", action="store_true", help="print how the outbox drained after the node left")
    parser.add_argument(
        "--profile-survivor", type=Path, default=None, metavar="DIR",
        help="py-spy the surviving node from the lost node's lease expiry until the outbox is empty, into DIR/survivor-N.txt",
    )
    parser.add_argument("--lease-s", type=float, default=20.0, help="the nodes' --bus-lease-s (default %(default)s); the sends must fit in it")
    trio.run(main_async, parser.parse_args())


if __name__ == "__main__":
    main()
