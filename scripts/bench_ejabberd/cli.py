"""The command line: sizes (full or --quick), which servers and workloads, one trio run, the table."""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import trio

from scripts.load import machine, raise_fd_limit
from scripts.loadmix import Progress

from . import report
from .ejabberd import EjabberdInstall, find_ejabberd
from .sides import DEFAULT_SIDES, SIDES, WORKLOADS, SideResult, find_py_spy, run_ejabberd, run_hubbub

# The sizes, and the --quick ones (the smoke test's): a few seconds per workload.
FULL: dict[str, Any] = {
    "chat_accounts": 500, "chat_seconds": 20.0, "chat_rate": 200.0,
    "group_size": 1000, "group_messages": 20, "group_rate": 1.0,
    "login_accounts": 1000, "login_devices_per_account": 3,
    "idle_devices": 10_000, "idle_settle_s": 3.0,
}  # fmt: skip
QUICK: dict[str, Any] = {
    "chat_accounts": 12, "chat_seconds": 2.0, "chat_rate": 30.0,
    "group_size": 15, "group_messages": 3, "group_rate": 5.0,
    "login_accounts": 10, "login_devices_per_account": 3,
    "idle_devices": 40, "idle_settle_s": 0.5,
}  # fmt: skip
NOT_INSTALLED = "ejabberd is not installed: run `apt-get install -y ejabberd erlang-p1-sqlite3` as root (`make ejabberd` does it)"
NO_SQLITE = ("ejabberd's SQLite driver is not installed: run `apt-get install -y erlang-p1-sqlite3` as root (`make ejabberd` does it), "
             "or leave ejabberd_mam_sqlite out of --servers")  # fmt: skip


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.bench_ejabberd",
        description="hubbub beside Debian's ejabberd (MAM on and off) on loopback: chat, group, login and idle-memory workloads, "
        "one trio driver, one run; prints the table with hubbub's ratios and the targets.",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes (seconds per workload), for a smoke test")
    for name, full in FULL.items():
        flag = "--" + name.replace("_", "-")
        parser.add_argument(flag, type=type(full), default=None, help=f"(default {full:g}; --quick {QUICK[name]:g})")
    parser.add_argument("--servers", default=",".join(DEFAULT_SIDES), help=f"comma-separated, from {','.join(SIDES)} (default %(default)s)")
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated, from %(default)s")
    parser.add_argument("--concurrency", type=int, default=64, help="connections being set up at once (default %(default)s)")
    parser.add_argument("--request-timeout-s", type=float, default=30.0, help="bound on one connect, login or reply (default %(default)s)")
    parser.add_argument("--settle-s", type=float, default=10.0, help="bound on waiting for deliveries after the last send (default %(default)s)")
    parser.add_argument("--time-limit-s", type=float, default=3600.0, help="bound on the whole run (default %(default)s)")
    parser.add_argument("--erl-flag", action="append", default=[], help="extra flag for ejabberd's Erlang VM, e.g. --erl-flag=+sbwt --erl-flag=none")
    parser.add_argument("--server-log-level", default="WARNING", help="hubbub's log level (default %(default)s)")
    parser.add_argument("--progress", action="store_true", help="a progress line on stderr even when it is not a terminal")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument("--profile-hubbub", type=Path, metavar="DIR",
                        help="run hubbub under py-spy (`pip install py-spy`), its samples in DIR; its figures then carry py-spy's cost")  # fmt: skip
    return parser


def _choices(text: str, allowed: tuple[str, ...], what: str, parser: argparse.ArgumentParser) -> list[str]:
    chosen = [item.strip() for item in text.split(",") if item.strip()]
    unknown = [item for item in chosen if item not in allowed]
    if unknown or not chosen:
        parser.error(f"--{what}: pick from {', '.join(allowed)} (got {text!r})")
    return [item for item in allowed if item in chosen]  # the table's order


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, dict[str, Any]]:
    """The options and the sizes in force (explicit flags over --quick over the full sizes)."""
    parser = _parser()
    args = parser.parse_args(argv)
    defaults = QUICK if args.quick else FULL
    sizes = {name: getattr(args, name) if getattr(args, name) is not None else default for name, default in defaults.items()}
    if sizes["chat_accounts"] < 2 or sizes["group_size"] < 2 or min(sizes["login_accounts"], sizes["idle_devices"], sizes["group_messages"]) < 1:
        parser.error("--chat-accounts and --group-size need at least 2; the other sizes at least 1")
    if not 1 <= sizes["login_devices_per_account"] <= 9 or sizes["chat_rate"] <= 0 or sizes["group_rate"] <= 0:
        parser.error("--login-devices-per-account is 1..9; --chat-rate and --group-rate are above 0")
    sizes["login_devices"] = sizes["login_accounts"] * sizes["login_devices_per_account"]
    if args.profile_hubbub is not None:
        if find_py_spy() is None:
            parser.error("--profile-hubbub needs py-spy: pip install py-spy")
        args.profile_hubbub.mkdir(parents=True, exist_ok=True)
    args.servers = _choices(args.servers, SIDES, "servers", parser)
    args.workloads = _choices(args.workloads, WORKLOADS, "workloads", parser)
    return args, sizes


def workload_args(args: argparse.Namespace, sizes: dict[str, Any]) -> dict[str, argparse.Namespace]:
    """One Namespace per workload, in the shape scripts/loadmix's mixes read (the XMPP ones read the same)."""
    common = {"concurrency": args.concurrency, "request_timeout_s": args.request_timeout_s, "settle_s": args.settle_s,
              "policy": "multi", "chat_body_bytes": 64, "chat_seconds": sizes["chat_seconds"]}  # fmt: skip
    # thread_size 0: the groups mix's thread part has no counterpart on ejabberd
    group = {"group_sizes": str(sizes["group_size"]), "group_messages": sizes["group_messages"], "group_rate": sizes["group_rate"],
             "thread_size": 0}  # fmt: skip
    return {
        "chat": argparse.Namespace(**common, accounts=sizes["chat_accounts"], devices=2, chat_rate=0.0),
        "chat_rate": argparse.Namespace(**common, accounts=sizes["chat_accounts"], devices=2, chat_rate=sizes["chat_rate"]),
        "group": argparse.Namespace(**common, **group, accounts=sizes["group_size"], devices=1),
        "login": argparse.Namespace(**common, accounts=sizes["login_accounts"], devices=sizes["login_devices_per_account"]),
        "idle": argparse.Namespace(**common, accounts=(sizes["idle_devices"] + 1) // 2, devices=2, idle_settle_s=sizes["idle_settle_s"]),
    }


async def run(args: argparse.Namespace, sizes: dict[str, Any], install: EjabberdInstall | None, progress: Progress) -> tuple[dict[str, SideResult], list[str]]:
    """Every chosen side in turn, within --time-limit-s; returns their results and run-level problems."""
    runs = {name: ns for name, ns in workload_args(args, sizes).items() if name in args.workloads}
    sides: dict[str, SideResult] = {}
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="hubbub-bench-ejabberd-") as tmp, trio.move_on_after(args.time_limit_s) as limit:
        workdir = Path(tmp)
        try:
            for side in args.servers:
                if side == "hubbub":
                    sides[side] = await run_hubbub(workdir, runs, args.workloads, args.server_log_level, progress, args.profile_hubbub)
                else:
                    assert install is not None
                    sides[side] = await run_ejabberd(install, workdir, workdir / "spool", side, runs, args.workloads, args.erl_flag, progress)
        except RuntimeError as exc:  # a server that did not start
            problems.append(str(exc))
    progress.done()
    if limit.cancelled_caught:
        problems.append(f"the time limit of {args.time_limit_s:g} s was reached; figures are partial")
    return sides, problems


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when every check held, 1 when one failed, 2 when ejabberd is missing."""
    args, sizes = parse_args(argv)
    install = find_ejabberd()
    if install is None and any(side != "hubbub" for side in args.servers):
        print(f"bench_ejabberd: {NOT_INSTALLED}", file=sys.stderr)
        return 2
    if install is not None and not install.sqlite and "ejabberd_mam_sqlite" in args.servers:
        print(f"bench_ejabberd: {NO_SQLITE}", file=sys.stderr)
        return 2
    raise_fd_limit(sizes["idle_devices"] + 4096)  # the driver, and the servers it starts, hold every device
    gc.freeze()  # the driver holds thousands of connections: the same GC settings as scripts/load.py
    gc.set_threshold(50_000, 20, 100)
    header = {"machine": machine(), "ejabberd": None if install is None else install.version, "erl_flags": args.erl_flag,
              "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}  # fmt: skip
    progress = Progress(enabled=args.progress or sys.stderr.isatty())
    sides, problems = trio.run(run, args, sizes, install, progress)
    header["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    problems += report.problems(sides)
    m = header["machine"]
    print(f"hubbub beside ejabberd {header['ejabberd'] or '(not run)'}: {m['cpus']} CPUs, {m['platform']}, Python {m['python']}, loopback; "
          f"load average {m['loadavg']} before, {header['loadavg_after']} after; started {header['started']}"
          + (f"; erl flags {' '.join(args.erl_flag)}" if args.erl_flag else ""))  # fmt: skip
    print()
    print(report.table(sides, sizes))
    print("\nproblems:" if problems else "\nno problems: every count matched and no server logged an error")
    for problem in problems:
        print(f"  - {problem}")
    if args.json is not None:
        document = report.as_json(sides, sizes, header)
        document["problems"] = problems
        args.json.write_text(json.dumps(document, indent=2) + "\n")
    return 1 if problems else 0
