"""The same five workloads against each server: hubbub through its load mixes, ejabberd through the XMPP ones.

Each server configuration ("side") gets one server for the chat, chat at a
fixed rate, group and login workloads, in that order, and a fresh one for
the idle-memory workload, so memory freed by the earlier workloads cannot
hide what idle devices hold. Every server runs in its own directory under
the run's temporary directory; the two ejabberd sides share one mnesia
spool, so the accounts are registered once.
"""

from __future__ import annotations

import argparse
import math
import os
import secrets
import shutil
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import trio

from hubbub_client import Client
from scripts.load import ServerLog, hubbub_server
from scripts.loadmix import Figure, MixResult, Progress, chat, groups, log_in_devices, login, process_tree_rss_mb

from . import xmpp_load
from .ejabberd import EjabberdInstall, XmppTarget, ejabberd_server, register_accounts

WORKLOADS = ("chat", "chat_rate", "group", "login", "idle")
SIDES = ("hubbub", "ejabberd_mam", "ejabberd_mam_sqlite", "ejabberd_plain")
SIDE_TITLES = {
    "hubbub": "hubbub",
    "ejabberd_mam": "ejabberd, archive (MAM) on",  # in mnesia, ejabberd's default store
    "ejabberd_mam_sqlite": "ejabberd, MAM in SQLite",
    "ejabberd_plain": "ejabberd, no archive",
}
DEFAULT_SIDES = ("hubbub", "ejabberd_mam", "ejabberd_plain")  # the three; MAM in SQLite on request
SIDE_ARCHIVE = {"ejabberd_mam": "mnesia", "ejabberd_mam_sqlite": "sqlite", "ejabberd_plain": None}


@dataclass(slots=True)
class SideResult:
    """What one server configuration gave: a MixResult per workload, and what its logs held."""

    side: str
    results: dict[str, MixResult] = field(default_factory=dict)
    logs: list[tuple[str, ServerLog]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def idle_figures(result: MixResult, rss_before_mb: float | None, rss_after_mb: float | None, online: int, wanted: int) -> None:
    """Memory per idle device: the server's RSS growth over `online` devices, in KiB."""
    result.add(Figure("devices_online", online, expected=wanted))
    if rss_before_mb is None or rss_after_mb is None or not online:
        result.add(Figure("kib_per_device", math.nan, "KiB"))
        return
    result.add(Figure("server_rss_before_mb", rss_before_mb, "MiB"))
    result.add(Figure("server_rss_after_mb", rss_after_mb, "MiB"))
    result.add(Figure("kib_per_device", 1024 * (rss_after_mb - rss_before_mb) / online, "KiB", note="RSS growth / devices"))


# Logs the devices in (their tasks in the nursery given); returns how many are online, problems, and how to close them.
LogInAll = Callable[[trio.Nursery], Awaitable[tuple[int, list[str], Callable[[], Awaitable[None]]]]]


async def _hold_idle(pid: int, log_in_all: LogInAll, wanted: int, settle_s: float) -> MixResult:
    """Let the server settle `settle_s`, RSS of its tree `pid`, log `wanted` devices in, settle, RSS again, close."""
    result = MixResult("idle")
    async with trio.open_nursery() as held:
        await trio.sleep(settle_s)  # start-up and account registration done before the first reading
        before = process_tree_rss_mb(pid)
        online, problems, close = await log_in_all(held)
        await trio.sleep(settle_s)  # logins' in-flight work done; what is left is what idle devices hold
        after = process_tree_rss_mb(pid)
        await close()
        held.cancel_scope.cancel()
    result.problems += problems
    idle_figures(result, before, after, online, wanted)
    return result


# ---- hubbub --------------------------------------------------------------------------------


def find_py_spy() -> str | None:
    """py-spy beside this Python (a venv's bin) or on PATH, or None."""
    return shutil.which("py-spy", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))


def _py_spy(profile_dir: Path | None, name: str) -> list[str]:
    """The wrapper that samples a hubbub server into `profile_dir/name.txt` (collapsed stacks), or none."""
    py_spy = find_py_spy()
    if profile_dir is None or py_spy is None:
        return []
    return [py_spy, "record", "--nonblocking", "--rate", "100", "--format", "raw", "--output", str(profile_dir / f"{name}.txt"), "--"]


async def run_hubbub(
    workdir: Path, runs: dict[str, argparse.Namespace], chosen: list[str], log_level: str, progress: Progress, profile_dir: Path | None = None
) -> SideResult:
    """hubbub (`gateway.cli serve`, policy multi, a fresh data dir) through scripts/loadmix.

    With `profile_dir`, py-spy samples each server it starts (hubbub.txt,
    hubbub-idle.txt there); its sampling costs the server CPU too.
    """
    side = SideResult("hubbub")
    mixes = {"chat": chat.run, "chat_rate": chat.run, "group": groups.run, "login": login.run}
    busy = [name for name in chosen if name in mixes]
    if busy:
        async with hubbub_server("multi", log_level, _fresh(workdir / "hubbub"), wrapper=_py_spy(profile_dir, "hubbub")) as (target, log):
            side.logs.append(("hubbub", log))
            for name in busy:
                side.results[name] = await _driver_cpu(mixes[name](target, runs[name], progress))
    if "idle" in chosen:
        args = runs["idle"]
        idle_server = hubbub_server("multi", log_level, _fresh(workdir / "hubbub-idle"), wrapper=_py_spy(profile_dir, "hubbub-idle"))
        async with idle_server as (target, log):
            side.logs.append(("hubbub idle", log))
            tag = secrets.token_hex(3)
            wanted = [(f"idle{tag}-{a}", d) for d in range(args.devices) for a in range(args.accounts)]

            async def log_in_all(held: trio.Nursery) -> tuple[int, list[str], Callable[[], Awaitable[None]]]:
                devices = await log_in_devices(target, wanted, args, held, progress)
                progress.done()
                return len(devices), [], partial(_close_clients, list(devices.values()))

            assert target.server_pid is not None
            side.results["idle"] = await _driver_cpu(_hold_idle(target.server_pid, log_in_all, len(wanted), args.idle_settle_s))
    return side


async def _driver_cpu(workload: Awaitable[MixResult]) -> MixResult:
    """Run `workload` and add the driver's own CPU time over it: the driver shares the machine's cores with the server."""
    started = time.process_time()
    result = await workload
    result.add(Figure("driver_cpu_s", time.process_time() - started, "s", note="this process, the whole workload"))
    return result


def _fresh(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


# ---- ejabberd ------------------------------------------------------------------------------


def accounts_needed(runs: dict[str, argparse.Namespace]) -> int:
    """How many XMPP accounts the workloads use at most (they share u0, u1, ...)."""
    return max(int(max(str(args.group_sizes).split(","), key=int)) if name == "group" else args.accounts for name, args in runs.items())


def xmpp_users(count: int) -> list[str]:
    return [f"u{number}" for number in range(count)]


async def run_ejabberd(
    install: EjabberdInstall,
    workdir: Path,
    spool: Path,
    name: str,
    runs: dict[str, argparse.Namespace],
    chosen: list[str],
    erl_flags: list[str],
    progress: Progress,
) -> SideResult:
    """The ejabberd side `name` (its MAM store: SIDE_ARCHIVE) through the XMPP workloads; registers the accounts first."""
    archive = SIDE_ARCHIVE[name]
    side = SideResult(name)
    users = xmpp_users(accounts_needed(runs))
    workloads = {"chat": xmpp_load.chat, "chat_rate": xmpp_load.chat, "group": xmpp_load.group, "login": xmpp_load.logins}
    busy = [workload for workload in chosen if workload in workloads]
    any_args = next(iter(runs.values()))

    async def started(stack: AsyncExitStack, directory: str) -> XmppTarget:
        target, log = await stack.enter_async_context(ejabberd_server(install, _fresh(workdir / directory), spool, archive, erl_flags))
        side.logs.append((directory, log))
        failures = await register_accounts(target, users, any_args.concurrency, any_args.request_timeout_s)
        side.problems += failures[:5]
        return target

    if busy:
        async with AsyncExitStack() as stack:
            target = await started(stack, name)
            for workload in busy:
                side.results[workload] = await _driver_cpu(workloads[workload](target, users, runs[workload], progress))
    if "idle" in chosen:
        args = runs["idle"]
        async with AsyncExitStack() as stack:
            target = await started(stack, f"{name}-idle")
            wanted = [(user, d) for d in range(args.devices) for user in users[: args.accounts]]

            async def log_in_all(held: trio.Nursery) -> tuple[int, list[str], Callable[[], Awaitable[None]]]:
                logins = await xmpp_load.log_in(target, wanted, "idle", args, progress)
                progress.done()
                return len(logins.clients), logins.failures[:5], logins.close_all

            side.results["idle"] = await _driver_cpu(_hold_idle(target.pid, log_in_all, len(wanted), args.idle_settle_s))
    return side


async def _close_clients(clients: list[Client]) -> None:
    async with trio.open_nursery() as closing:
        for client in clients:
            closing.start_soon(client.close)
