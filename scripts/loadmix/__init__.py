"""Load-test mixes for `scripts/load.py`, and the interface every mix implements.

A mix is one module `scripts/loadmix/<name>.py` (`login` now; `chat`, `rooms`,
`calls`, `groups` later), picked with `load.py --mix <name>`. It defines:

    DESCRIPTION: str
        One line for `load.py --help`.

    def add_arguments(parser: argparse.ArgumentParser) -> None
        Add the mix's own options. The common ones are already there:
        --accounts, --devices, --policy, --concurrency, --request-timeout-s,
        --settle-s (see `load.py --help`).

    def connections(args: argparse.Namespace) -> int
        The most connections the mix holds open at once. The echo baseline
        opens as many, with the same connection-setup concurrency, so the
        ratios compare like with like.

    async def run(target: Target, args: argparse.Namespace, progress: Progress) -> MixResult
        Drive the server at `target.url` and return the figures. It must be
        bounded in count (no open-ended loops) and in time (every wait under
        a timeout), loopback only, set up connections through a
        `trio.CapacityLimiter(args.concurrency)`, and close every connection
        it opened before returning. A failed request is a figure (and a
        `problems` line), not an exception.

Helpers for mixes: `Target.token`, `Progress`, `latency_figures`,
`fetch_metrics` (the server's Prometheus samples), `process_cpu_s` and
`process_rss_mb` (when `Target.server_pid` is known; `Target.server_cpu_s` for
every process of the server; `process_tree_cpu_s` and
`process_tree_rss_mb` add its descendants), and `log_in_devices`.

Figures are named numbers (`Figure`). A figure that names a `baseline` key
(one of `BASELINE_FIGURES`) is printed with its ratio to that figure of the
echo server measured in the same run; the machine is shared and noisy, so
ratios are what runs are compared by. A figure with an `expected` value is a
correctness check: `load.py` lists every mismatch and exits 1.
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import pkgutil
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Protocol, cast

import trio
from trio_websocket import ConnectionClosed, HandshakeError

from hubbub_client import Client, ClientError, Disconnected, with_account_hint

from gateway.auth import mint_token

# Platforms in the order mixes hand them to an account's devices: under the
# `multi` preset (2 per platform, Web 5, MiniProgram 1) up to nine devices on
# distinct platforms all stay online.
PLATFORMS: tuple[str, ...] = ("iOS", "Android", "Windows", "Mac", "Linux", "iPad", "HarmonyOS", "Web", "MiniProgram")

# What the echo baseline measures (scripts/load.py `measure_echo`):
#   sessions_per_s      connections opened and answered once per second
#   session_p50/p99_ms  connect + one round trip, per connection
#   first_rtt_p50/p99_ms  that first round trip alone, during the connect storm
#   round_trips_per_s   round trips per second, every connection busy at once
#   rtt_p50/p99_ms      one round trip in that steady phase
#   cpu_ms_per_session  the echo process's CPU time per connection opened
#   cpu_us_per_round_trip  its CPU time per round trip in the steady phase
# CPU time per operation is the figure least disturbed by other work on the
# machine: contention stretches wall time, not the CPU a request needs.
BASELINE_FIGURES: tuple[str, ...] = (
    "sessions_per_s",
    "session_p50_ms",
    "session_p99_ms",
    "first_rtt_p50_ms",
    "first_rtt_p99_ms",
    "round_trips_per_s",
    "rtt_p50_ms",
    "rtt_p99_ms",
    "cpu_ms_per_session",
    "cpu_us_per_round_trip",
)


@dataclass(frozen=True, slots=True)
class Target:
    """The server under test: where it listens and how to mint its tokens."""

    url: str
    secret: str
    policy: str  # the login policy the server runs (decides expected kicks)
    admin_url: str | None = None  # several nodes' admin URLs, comma-separated: their metrics are summed
    admin_token: str | None = None
    server_pid: int | None = None  # when known (a started server): for CPU and memory figures
    # Other processes the server's work runs in (its PostgreSQL, its Redis): counted in `server_cpu_s`.
    cpu_pids: tuple[int, ...] = ()

    def token(self, user_id: str, ttl_s: float = 3600) -> str:
        """A login token for `user_id` signed with the server's secret."""
        return mint_token(self.secret, user_id, ttl_s)

    def server_cpu_s(self) -> float | None:
        """CPU seconds used so far by the server's process tree (a `--workers` supervisor's nodes too) and `cpu_pids`' trees.

        None when the server's pid is unknown or gone.
        """
        own = process_tree_cpu_s(self.server_pid)
        if own is None:
            return None
        return own + sum(process_tree_cpu_s(pid) or 0.0 for pid in self.cpu_pids)


@dataclass(frozen=True, slots=True)
class Figure:
    """One named result of a run.

    `baseline` names the echo figure this one is divided by for its ratio;
    `expected`, when set, is the value a correct server gives.
    """

    name: str
    value: float
    unit: str = ""
    baseline: str | None = None
    expected: float | None = None
    note: str = ""

    @property
    def as_expected(self) -> bool:
        return self.expected is None or self.value == self.expected


@dataclass(slots=True)
class MixResult:
    """What a mix (or the echo baseline) measured: figures and problems seen."""

    mix: str
    figures: list[Figure] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    def add(self, figure: Figure) -> None:
        self.figures.append(figure)

    def figure(self, name: str) -> Figure:
        """The figure called `name`; raises KeyError if there is none."""
        for figure in self.figures:
            if figure.name == name:
                return figure
        raise KeyError(name)

    def mismatches(self) -> list[Figure]:
        """Figures whose value differs from their expected value."""
        return [f for f in self.figures if not f.as_expected]


class Progress:
    """A single updating status line on stderr; silent when disabled.

    `update` never blocks and redraws at most every `interval_s`, so mixes
    may call it on every completed operation.
    """

    def __init__(self, enabled: bool, interval_s: float = 0.2) -> None:
        self.enabled = enabled
        self._interval_s = interval_s
        self._last_draw = 0.0
        self._width = 0

    def update(self, phase: str, done: int, total: int, note: str = "") -> None:
        """Show `phase done/total note`, replacing the previous line."""
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last_draw < self._interval_s and (done < total or not total):  # total 0: open-ended
            return
        self._last_draw = now
        line = f"{phase} {done}/{total} {note}".rstrip()
        padding = " " * max(0, self._width - len(line))
        self._width = len(line)
        sys.stderr.write(f"\r{line}{padding}")
        sys.stderr.flush()

    def done(self) -> None:
        """End the status line so later output starts on a fresh line."""
        if self.enabled and self._width:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self._width = 0


class Mix(Protocol):
    """The module interface above, for type checkers."""

    DESCRIPTION: str

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def connections(self, args: argparse.Namespace) -> int: ...

    async def run(self, target: Target, args: argparse.Namespace, progress: Progress) -> MixResult: ...


async def log_in_devices(
    target: Target,
    wanted: Sequence[tuple[str, int]],
    args: argparse.Namespace,
    held: trio.Nursery,
    progress: Progress,
) -> dict[tuple[str, int], Client]:
    """Connect and log in each (user, device index) on platform PLATFORMS[index].

    At most `args.concurrency` at a time, each within `args.request_timeout_s`;
    clients live in `held`. Returns those that logged in; the rest are closed.
    """
    devices: dict[tuple[str, int], Client] = {}
    limiter = trio.CapacityLimiter(args.concurrency)

    async def one(user: str, index: int) -> None:
        async with limiter:
            client = Client(with_account_hint(target.url, user), held)  # the account's worker, behind --workers
            try:
                with trio.fail_after(args.request_timeout_s):
                    await client.connect()
                    await client.login(user, target.token(user), platform=PLATFORMS[index], device_id=f"{user}-{index}")
            except (OSError, HandshakeError, ConnectionClosed, trio.TooSlowError, ClientError, Disconnected):
                await client.close()
                return
            devices[(user, index)] = client
            progress.update("login", len(devices), len(wanted))

    async with trio.open_nursery() as nursery:
        for user, index in wanted:
            nursery.start_soon(one, user, index)
    return devices


def available_mixes() -> list[str]:
    """Names of the mix modules in this package (private modules excluded)."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def load_mix(name: str) -> Mix:
    """Import the mix `name`; raises ValueError if there is no such mix."""
    if name not in available_mixes():
        raise ValueError(f"no mix {name!r} (have: {', '.join(available_mixes())})")
    module: ModuleType = importlib.import_module(f"{__name__}.{name}")
    return cast(Mix, module)


def process_cpu_s(pid: int | None) -> float | None:
    """User + system CPU seconds used so far by process `pid` (Linux /proc), or None."""
    if pid is None:
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()  # the command name may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_rss_mb(pid: int | None, field_name: str = "VmRSS") -> float | None:
    """Resident memory of process `pid` in MiB (`VmHWM` for the peak), or None."""
    if pid is None:
        return None
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith(f"{field_name}:"):
            return int(line.split()[1]) / 1024
    return None


def _children(pid: int) -> list[int]:
    """Pids whose parent is `pid` (Linux /proc: each of its threads lists the children it forked)."""
    children: list[int] = []
    for listing in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            children += [int(child) for child in listing.read_text().split()]
        except OSError:
            continue  # the thread ended between the listing and the read
    return children


def process_tree(pid: int | None) -> list[int]:
    """`pid` and every process descended from it (an Erlang VM's helpers, a wrapper's server)."""
    if pid is None:
        return []
    tree, pending = [], [pid]
    while pending:
        current = pending.pop()
        tree.append(current)
        pending.extend(_children(current))
    return tree


def process_tree_cpu_s(pid: int | None) -> float | None:
    """User + system CPU seconds of `pid` and its descendants still running, or None if `pid` is gone."""
    readings = [process_cpu_s(member) for member in process_tree(pid)]
    if not readings or readings[0] is None:
        return None
    return sum(r for r in readings if r is not None)


def process_tree_rss_mb(pid: int | None) -> float | None:
    """Resident memory of `pid` and its descendants in MiB, or None if `pid` is gone."""
    readings = [process_rss_mb(member) for member in process_tree(pid)]
    if not readings or readings[0] is None:
        return None
    return sum(r for r in readings if r is not None)


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of `values` (0 < fraction <= 1); NaN if empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def latency_figures(prefix: str, seconds: Sequence[float], baseline_prefix: str | None, note: str = "") -> list[Figure]:
    """p50 and p99 of `seconds` as `{prefix}_p50_ms` / `_p99_ms` figures.

    With `baseline_prefix` they are compared to `{baseline_prefix}_p50_ms`
    and `_p99_ms` of the echo baseline.
    """
    figures = []
    for label, fraction in (("p50", 0.50), ("p99", 0.99)):
        baseline = None if baseline_prefix is None else f"{baseline_prefix}_{label}_ms"
        value = percentile(seconds, fraction) * 1000
        figures.append(Figure(f"{prefix}_{label}_ms", value, "ms", baseline, note=note))
    return figures


async def fetch_metrics(target: Target, timeout_s: float = 10) -> dict[str, float]:
    """The server's Prometheus samples (`name{labels}` -> value) from the admin API; a cluster's nodes' summed.

    Returns {} when the target has no admin URL or token. Runs the blocking
    HTTP requests in a worker thread; raises OSError if one fails.
    """
    if target.admin_url is None or target.admin_token is None:
        return {}
    headers = {"Authorization": f"Bearer {target.admin_token}"}
    requests = [urllib.request.Request(f"{url}/metrics", headers=headers) for url in target.admin_url.split(",")]

    def get(request: urllib.request.Request) -> str:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return cast(bytes, response.read()).decode()

    samples: dict[str, float] = {}
    for request in requests:
        text = await trio.to_thread.run_sync(get, request)
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                samples[name] = samples.get(name, 0.0) + float(value)
    return samples
