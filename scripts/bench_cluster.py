"""What a second node buys and what the bus costs: the chat and group mixes on three setups, in one run.

    .venv/bin/python -m scripts.bench_cluster --accounts 500 --devices 2 --chat-seconds 20 --group-size 1000

The setups, each started fresh for each mix (scripts/load.py's mixes and driver):

    sqlite  one `hubbub serve` on a fresh SQLite data dir, no bus
    pg-1    `hubbub serve --workers 1 --store postgresql://... --bus redis://...`: one node
    pg-2    the same with `--workers 2`: two nodes behind one port (SO_REUSEPORT
            spreads the connections over them; an account's devices and its
            actor may be on different nodes, as in any cluster)

pg-1 and pg-2 differ only in the node count: each gets a fresh database on
one embedded PostgreSQL (the tests' throwaway server, fsync off) and a
fresh Redis (the tests' redis-server). The chat mix sends as fast as the
replies come (saturation); the group mix's owner sends to one group of
--group-size members back to back. Server CPU is user + system time from
/proc of every server process over the mix's timed phase: the hubbub
processes (the `--workers` supervisor and its nodes), PostgreSQL's
postmaster and every backend, redis-server. The driver runs on the same
two cores.

Printed: deliveries/s and server CPU per delivery per setup, pg-2 ÷ pg-1
(what the second node buys) and pg-1 ÷ sqlite (what the bus and the
shared store cost). With --baseline DIR (a checkout of another commit) every
setup also runs on the server code in DIR, interleaved with this tree's, and
a last table gives this tree ÷ the baseline: before and after in one run. Exit status 1 when any count is not what a correct
server gives, or a server logged an error.
"""

from __future__ import annotations

import argparse
import json
import math
import secrets
import socket
import statistics
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psycopg
import trio

from scripts import load
from scripts.loadmix import MixResult, Progress, Target, process_tree_cpu_s

sys.path.insert(0, str(load.ROOT))
from tests.redis_servers import RedisForTests
from tests.store_engines import EmbeddedPostgres

SETUPS: tuple[str, ...] = ("sqlite", "pg-1", "pg-2")
MIXES: tuple[str, ...] = ("chat", "groups")
_NODES = {"pg-1": 1, "pg-2": 2}


@dataclass(slots=True)
class Run:
    """One mix on one setup: its two figures and what went wrong."""

    mix: str
    setup: str
    round: int
    tree: str = ""  # "" for this repository's code, "baseline" for --baseline's
    delivered_per_s: float = math.nan
    cpu_us_per_delivery: float = math.nan
    deliveries: float = math.nan
    expected: float = math.nan
    # CPU seconds over the whole mix (logins too), by server: hubbub, postgresql, redis
    cpu_s_by_process: dict[str, float] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _postmaster_pid(server: EmbeddedPostgres) -> int:
    return int((server.pgdata / "postmaster.pid").read_text().split("\n", 1)[0])


@asynccontextmanager
async def _setup(setup: str, workdir: Path, postgres: EmbeddedPostgres, root: Path) -> AsyncIterator[tuple[Target, load.ServerLog]]:
    """Start `setup` of the code in `root` on fresh storage under `workdir`; the target (every server pid in it) and the hubbub log."""
    secret, port = secrets.token_urlsafe(32), _free_port()
    command = [
        sys.executable, "-m", "gateway.cli", "serve", "--host", "127.0.0.1", "--port", str(port), "--admin-port", "off",
        "--data-dir", str(workdir / "data"), f"--auth-secret={secret}", "--policy", "multi", "--log-level", "WARNING",
    ]  # fmt: skip
    ready = load.SERVER_READY
    cpu_pids: tuple[int, ...] = ()
    async with AsyncExitStack() as stack:
        if setup != "sqlite":
            database = f"hubbub_bench_{workdir.name.replace('-', '_')}"
            with psycopg.connect(postgres.url("postgres"), autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{database}"')
            (workdir / "redis").mkdir()
            redis = RedisForTests(workdir / "redis")
            redis.start()
            stack.callback(redis.stop)
            command += ["--store", postgres.url(database), "--bus", redis.url, "--workers", str(_NODES[setup])]
            ready = "hubbub workers:"  # the supervisor's line once every node listens (each once its view holds them all)
            cpu_pids = (_postmaster_pid(postgres), redis.pid)
        log = load.ServerLog(workdir / "server.log")
        _, pid = await stack.enter_async_context(load.spawned(command, ready, log, root=root))
        yield Target(f"ws://127.0.0.1:{port}/ws", secret, "multi", server_pid=pid, cpu_pids=cpu_pids), log


def _cpu_by_process(target: Target) -> dict[str, float]:
    """CPU seconds so far of the hubbub processes, and of PostgreSQL and Redis when the target has them."""
    names = ("hubbub", "postgresql", "redis")[: 1 + len(target.cpu_pids)]
    return {name: process_tree_cpu_s(pid) or 0.0 for name, pid in zip(names, (target.server_pid, *target.cpu_pids), strict=True)}


def _mix_argv(mix: str, args: argparse.Namespace) -> list[str]:
    common = ["--mix", mix, "--accounts", str(args.accounts), "--devices", str(args.devices), "--policy", "multi",
              "--settle-s", str(args.settle_s), "--request-timeout-s", str(args.request_timeout_s)]  # fmt: skip
    if mix == "chat":
        return [*common, "--chat-seconds", str(args.chat_seconds), "--chat-rate", "0"]
    return [*common, "--group-sizes", str(args.group_size), "--group-messages", str(args.group_messages),
            "--group-rate", "1000000", "--thread-size", "0"]  # fmt: skip


def _figures(run: Run, result: MixResult, group_size: int) -> None:
    prefix = "" if run.mix == "chat" else f"g{group_size}_"
    names = ("delivered_per_s", "server_cpu_us_per_delivery", "deliveries") if run.mix == "chat" else (
        f"{prefix}deliveries_per_s", f"{prefix}cpu_us_per_delivery", f"{prefix}deliveries")
    rate, cpu, count = (result.figure(name) for name in names)
    run.delivered_per_s, run.cpu_us_per_delivery, run.deliveries = rate.value, cpu.value, count.value
    run.expected = count.expected if count.expected is not None else math.nan
    run.problems += result.problems
    run.problems += [f"{f.name} = {f.value:g}, expected {f.expected:g}" for f in result.mismatches()]


async def _one(run: Run, args: argparse.Namespace, top: Path, postgres: EmbeddedPostgres, progress: Progress) -> None:
    mix_args, mix = load.parse_args(_mix_argv(run.mix, args))
    workdir = top / f"{run.mix}-{run.setup}-{run.round}{'-' + run.tree if run.tree else ''}"
    workdir.mkdir()
    root = args.baseline if run.tree else load.ROOT
    try:
        async with _setup(run.setup, workdir, postgres, root) as (target, log):
            before = _cpu_by_process(target)
            result = await mix.run(target, mix_args, progress)
            after = _cpu_by_process(target)
        run.cpu_s_by_process = {name: after[name] - before[name] for name in before}
        _figures(run, result, args.group_size)
    except (RuntimeError, KeyError) as exc:  # a server that did not start; a figure the mix could not measure
        run.problems.append(f"{type(exc).__name__}: {exc}")
        return
    if log.errors:
        run.problems.append(f"the server logged {log.errors} errors: {log.samples}")


def _median(runs: list[Run], mix: str, setup: str, figure: str, tree: str = "") -> float:
    values = [getattr(r, figure) for r in runs
              if r.mix == mix and r.setup == setup and r.tree == tree and not math.isnan(getattr(r, figure))]  # fmt: skip
    return statistics.median(values) if values else math.nan


def _label(run: Run, rounds: int) -> str:
    return f"{run.setup}{' (baseline)' if run.tree else ''}{f' (round {run.round})' if rounds > 1 else ''}"


def render(runs: list[Run], rounds: int) -> str:
    """The table: each setup's figures (medians over the rounds) and the two ratios per mix."""
    lines = [
        "| mix | setup | deliveries/s | server CPU per delivery | deliveries (expected) | CPU over the whole mix: hubbub / PostgreSQL / Redis |",
        "|---|---|---|---|---|---|",
    ]
    for r in runs:
        split = " / ".join(f"{r.cpu_s_by_process[name]:.1f} s" if name in r.cpu_s_by_process else "-" for name in ("hubbub", "postgresql", "redis"))
        lines.append(f"| {r.mix} | {_label(r, rounds)} | {r.delivered_per_s:,.0f} | "
                     f"{r.cpu_us_per_delivery:,.0f} µs | {r.deliveries:,.0f} ({r.expected:,.0f}) | {split} |")  # fmt: skip
    lines += ["", "| mix | 2 nodes ÷ 1 node: deliveries/s | CPU per delivery | 1 node on PostgreSQL+Redis ÷ SQLite: CPU per delivery | deliveries/s |",
              "|---|---|---|---|---|"]  # fmt: skip
    trees = list(dict.fromkeys(r.tree for r in runs))
    for tree in trees:
        for mix in dict.fromkeys(r.mix for r in runs):
            def ratio(figure: str, over: str, under: str, mix: str = mix, tree: str = tree) -> str:
                return f"{_median(runs, mix, over, figure, tree) / _median(runs, mix, under, figure, tree):.2f}×"

            lines.append(f"| {mix}{' (baseline)' if tree else ''} | {ratio('delivered_per_s', 'pg-2', 'pg-1')} | "
                         f"{ratio('cpu_us_per_delivery', 'pg-2', 'pg-1')} | "
                         f"{ratio('cpu_us_per_delivery', 'pg-1', 'sqlite')} | {ratio('delivered_per_s', 'pg-1', 'sqlite')} |")  # fmt: skip
    if len(trees) > 1:
        lines += ["", "| mix | setup | this tree ÷ baseline: deliveries/s | CPU per delivery |", "|---|---|---|---|"]
        for mix, setup in dict.fromkeys((r.mix, r.setup) for r in runs):
            rate, cpu = (_median(runs, mix, setup, figure) / _median(runs, mix, setup, figure, "baseline")
                         for figure in ("delivered_per_s", "cpu_us_per_delivery"))  # fmt: skip
            lines.append(f"| {mix} | {setup} | {rate:.2f}× | {cpu:.2f}× |")
    problems = [f"{r.mix} on {r.setup}: {p}" for r in runs for p in r.problems]
    lines.append("\nproblems:" if problems else "\nno problems: every count as expected, no server error")
    lines += [f"  - {p}" for p in problems]
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> list[Run]:
    trees = ("", "baseline") if args.baseline is not None else ("",)
    runs = [Run(mix, setup, index, tree)
            for index in range(1, args.rounds + 1) for mix in args.mixes for setup in args.setups for tree in trees]  # fmt: skip
    progress = Progress(enabled=sys.stderr.isatty())
    postgres = EmbeddedPostgres()
    try:
        with tempfile.TemporaryDirectory(prefix="hubbub-bench-cluster-") as tmp:
            if args.keep_logs is not None:
                tmp = str(args.keep_logs)
            for run in runs:
                await _one(run, args, Path(tmp), postgres, progress)
                progress.done()
                print(f"{run.mix} on {_label(run, 1)} (round {run.round}): {run.delivered_per_s:,.0f} deliveries/s, "
                      f"{run.cpu_us_per_delivery:,.0f} µs server CPU per delivery", flush=True)  # fmt: skip
    finally:
        postgres.cleanup()
    return runs


def _names(value: str, allowed: tuple[str, ...], flag: str) -> tuple[str, ...]:
    names = tuple(name for name in value.split(",") if name)
    if not names or not set(names) <= set(allowed):
        raise argparse.ArgumentTypeError(f"{flag}: pick from {', '.join(allowed)}")
    return names


def _checkout(value: str) -> Path:
    path = Path(value).resolve()
    if not (path / "gateway" / "cli.py").is_file():
        raise argparse.ArgumentTypeError(f"--baseline: {path} is no checkout of this repository (no gateway/cli.py)")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--accounts", type=int, default=500, help="chat mix: accounts in the ring (default %(default)s)")
    parser.add_argument("--devices", type=int, default=2, help="devices per account, both mixes (default %(default)s)")
    parser.add_argument("--chat-seconds", type=float, default=20.0, help="chat mix: how long senders send (default %(default)s)")
    parser.add_argument("--group-size", type=int, default=1000, help="group mix: members of the group (default %(default)s)")
    parser.add_argument("--group-messages", type=int, default=20, help="group mix: messages sent to it (default %(default)s)")
    parser.add_argument("--settle-s", type=float, default=30.0, help="bound on waiting for deliveries after the sends (default %(default)s)")
    parser.add_argument("--request-timeout-s", type=float, default=60.0, help="bound on one connect or request (default %(default)s)")
    parser.add_argument("--rounds", type=int, default=1, help="each mix on each setup this many times, interleaved (default %(default)s)")
    parser.add_argument("--mixes", type=lambda v: _names(v, MIXES, "--mixes"), default=MIXES, help="comma-separated (default chat,groups)")
    parser.add_argument("--setups", type=lambda v: _names(v, SETUPS, "--setups"), default=SETUPS, help="comma-separated (default sqlite,pg-1,pg-2)")
    parser.add_argument("--baseline", type=_checkout, help="a checkout of other server code: every setup runs on it too, interleaved")
    parser.add_argument("--keep-logs", type=Path, help="a directory for the servers' data dirs and logs, kept after the run")
    parser.add_argument("--quick", action="store_true", help="small counts, for a smoke test")
    parser.add_argument("--json", type=Path, help="also write every run's figures to this JSON file")
    args = parser.parse_args(argv)
    if args.quick:
        args.accounts, args.chat_seconds, args.group_size, args.group_messages = 20, 2.0, 20, 5
    if args.keep_logs is not None:
        args.keep_logs.mkdir(parents=True, exist_ok=True)
    load.raise_fd_limit(3 * max(args.accounts * args.devices, args.group_size * 2) + 1024)
    runs = trio.run(main_async, args)
    print(render(runs, args.rounds), flush=True)
    if args.json is not None:
        rows = [{k: None if isinstance(v, float) and math.isnan(v) else v for k, v in asdict(r).items()} for r in runs]
        args.json.write_text(json.dumps({"runs": rows}, indent=2) + "\n")
    return 1 if any(r.problems for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
