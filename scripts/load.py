"""Load-test driver: run one mix against hubbub, with the echo baseline measured in the same run.

    python -m scripts.load --mix login --accounts 1000 --devices 3                  # policy multi
    python -m scripts.load --mix login --accounts 1000 --devices 3 --policy single  # every later login kicks
    python -m scripts.load --mix login --url ws://127.0.0.1:8765/ws --secret S --policy single

Without --url it starts its own server (`python -m gateway.cli serve --port 0
--admin-port 0 ...` on a temporary data dir) and reads its `hubbub listening`
line. Every run also starts `scripts/echo_server.py` (trio-websocket + cbor2,
nothing else) as a subprocess too and measures it with as many connections as
the mix holds, before and after the mix by default: the machine is shared and
noisy, so every figure is printed absolute and as a ratio to that baseline.

Everything is on loopback, bounded in count (the mix's connections, the
echo's N connections x M round trips) and in time (--time-limit-s); the
exit status is 0 when every figure with an expected value matches, else 1.
Mixes live in scripts/loadmix/ (see its docstring for the interface).
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import resource
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cbor2
import trio
from trio_websocket import ConnectionClosed, HandshakeError, WebSocketConnection, connect_websocket_url

from gateway.auth import mint_token
from scripts.echo_server import READY_PREFIX as ECHO_READY
from scripts.loadmix import (
    BASELINE_FIGURES,
    Figure,
    Mix,
    MixResult,
    Progress,
    Target,
    available_mixes,
    latency_figures,
    load_mix,
    process_cpu_s,
    process_tree,
)

ROOT = Path(__file__).resolve().parent.parent  # the repository: the server and echo subprocesses run here
SERVER_READY = "hubbub listening"
_READY_TIMEOUT_S = 30.0
_STOP_TIMEOUT_S = 10.0
# The client library's own receive queue, so the baseline's client side costs the same.
_CLIENT_QUEUE = 16


# ---- command line -------------------------------------------------------------


def _parser(mixes: dict[str, Mix]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="load.py",
        description="hubbub load test; every figure is also shown as a ratio to an echo server measured in the same run.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="mixes:\n" + "\n".join(f"  {name:8} {mix.DESCRIPTION}" for name, mix in mixes.items()),
    )
    parser.add_argument("--mix", default="login", choices=sorted(mixes), help="what to do (default %(default)s)")
    parser.add_argument("--accounts", type=int, default=1000, help="accounts (default %(default)s)")
    parser.add_argument("--devices", type=int, default=3, help="devices per account (default %(default)s)")
    parser.add_argument("--policy", default="multi", help="login policy the server runs: single, dual, multi, easemob (default %(default)s)")
    parser.add_argument("--concurrency", type=int, default=64, help="connections being set up at once, mix and echo alike (default %(default)s)")
    parser.add_argument("--request-timeout-s", type=float, default=30.0, help="bound on one connect or one request (default %(default)s)")
    parser.add_argument("--settle-s", type=float, default=10.0, help="bound on waiting for expected events after the last request (default %(default)s)")
    parser.add_argument("--time-limit-s", type=float, default=600.0, help="bound on the whole run (default %(default)s)")
    target = parser.add_argument_group("server under test (default: start one as a subprocess)")
    target.add_argument("--url", help="a running server's WebSocket URL, e.g. ws://127.0.0.1:8765/ws (loopback only)")
    target.add_argument("--secret", help="that server's auth secret (required with --url)")
    target.add_argument("--admin-url", help="that server's admin API, for its metrics (optional); a cluster's nodes' comma-separated, summed")
    target.add_argument("--admin-token", help="that server's admin token (optional)")
    target.add_argument("--server-log-level", default="WARNING", help="log level of a started server (default %(default)s; INFO logs every login)")
    baseline = parser.add_argument_group("echo baseline")
    baseline.add_argument("--baseline", choices=("before", "after", "both"), default="both", help="when to measure it (default %(default)s)")
    baseline.add_argument("--echo-round-trips", type=int, default=10, help="round trips per echo connection in its busy phase (default %(default)s)")
    output = parser.add_argument_group("output")
    output.add_argument("--progress", action="store_true", help="show the progress line even when stderr is not a terminal")
    output.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    for mix in mixes.values():
        mix.add_arguments(parser)
    return parser


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, Mix]:
    """Parse the command line; exits with status 2 (argparse) on bad arguments."""
    mixes = {name: load_mix(name) for name in available_mixes()}
    parser = _parser(mixes)
    args = parser.parse_args(argv)
    if (args.url is None) != (args.secret is None):
        parser.error("--url and --secret go together")
    if args.url is not None and not _is_loopback(args.url):
        parser.error("--url must be a loopback address (127.0.0.1, ::1 or localhost)")
    if min(args.accounts, args.devices, args.concurrency, args.echo_round_trips) < 1:
        parser.error("--accounts, --devices, --concurrency and --echo-round-trips must be at least 1")
    mix = mixes[args.mix]
    try:
        mix.connections(args)
    except ValueError as exc:
        parser.error(str(exc))
    return args, mix


def _is_loopback(url: str) -> bool:
    host = url.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0].strip("[]")
    return host in ("127.0.0.1", "::1", "localhost") or host.startswith("127.")


def raise_fd_limit(needed: int) -> tuple[int, int]:
    """Raise this process's soft file-descriptor limit to `needed` (up to the hard limit).

    Subprocesses started afterwards inherit it. Returns (soft, hard) after.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        soft = wanted
    return soft, hard


# ---- subprocesses -----------------------------------------------------------------


@dataclass(slots=True)
class ServerLog:
    """What a started subprocess wrote to stderr that deserves a look."""

    path: Path
    warnings: int = 0
    errors: int = 0
    samples: list[str] = field(default_factory=list)

    def scan(self) -> None:
        """Count WARNING/ERROR lines and keep the first few of each kind."""
        kept: Counter[str] = Counter()
        for line in self.path.read_text(errors="replace").splitlines():
            level = "ERROR" if (" ERROR " in line or "Traceback" in line) else "WARNING" if " WARNING " in line else None
            if level is None:
                continue
            self.errors += level == "ERROR"
            self.warnings += level == "WARNING"
            if kept[level] < 3:
                kept[level] += 1
                self.samples.append(line[:300])


def _subprocess_env(root: Path = ROOT) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    return env


async def _ready_line(stream: trio.abc.ReceiveStream, prefix: str) -> str:
    """Read stdout until a line starts with `prefix`; raises RuntimeError on EOF."""
    buffer = b""
    with trio.fail_after(_READY_TIMEOUT_S):
        while True:
            chunk = await stream.receive_some()
            if not chunk:
                raise RuntimeError(f"the process exited before printing {prefix!r}")
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                text = line.decode(errors="replace").strip()
                if text.startswith(prefix):
                    return text


@asynccontextmanager
async def spawned(
    command: list[str], ready_prefix: str, log: ServerLog, wrapped: bool = False, root: Path = ROOT
) -> AsyncIterator[tuple[str, int]]:
    """Run `command` (cwd and first import path: `root`, this repo unless told) until its ready line; yield that line and the pid.

    stderr goes to `log.path`, scanned on exit. On exit the process gets
    SIGTERM, then SIGKILL after 10 s; a `wrapped` one (a wrapper that ends
    with the command it started) gets 10 s to end after its child got
    SIGTERM first. Raises RuntimeError (with the log's tail) if it exits or
    stays silent for 30 s before it is ready.
    """
    with log.path.open("wb") as stderr:
        process = await trio.lowlevel.open_process(
            command, stdout=subprocess.PIPE, stderr=stderr, cwd=root, env=_subprocess_env(root)
        )
    assert process.stdout is not None
    try:
        try:
            line = await _ready_line(process.stdout, ready_prefix)
        except (RuntimeError, trio.TooSlowError) as exc:
            tail = log.path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{command[1:4]} did not start ({exc}); its stderr ends:\n{tail}") from None
        yield line, process.pid
    finally:
        with trio.CancelScope(shield=True):
            if wrapped:
                for child in process_tree(process.pid)[1:2]:
                    with suppress(ProcessLookupError):  # it may have ended already
                        os.kill(child, signal.SIGTERM)
                with trio.move_on_after(_STOP_TIMEOUT_S):
                    await process.wait()
            await stop_process(process)
            await process.stdout.aclose()
        log.scan()


async def stop_process(process: trio.Process, timeout_s: float = _STOP_TIMEOUT_S) -> None:
    """SIGTERM, wait up to `timeout_s`, then SIGKILL: a stuck server never outlives the run."""
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
    with trio.move_on_after(timeout_s):
        await process.wait()
    if process.returncode is None:
        process.kill()
        await process.wait()


@asynccontextmanager
async def hubbub_server(
    policy: str, log_level: str, workdir: Path, extra: Sequence[str] = (), wrapper: Sequence[str] = ()
) -> AsyncIterator[tuple[Target, ServerLog]]:
    """Start `gateway.cli serve` on ports 0 with a fresh data dir under `workdir` (and `extra` flags).

    `wrapper` runs the server under another command (`py-spy record ... --`,
    which can sample only a process it started itself); the Target then names
    the server itself (the wrapper's child), which is stopped first on exit
    so the wrapper ends with it.
    """
    secret, admin_token = secrets.token_urlsafe(32), secrets.token_urlsafe(16)
    command = [
        *wrapper, sys.executable, "-m", "gateway.cli", "serve",
        "--host", "127.0.0.1", "--port", "0", "--admin-port", "0",
        "--data-dir", str(workdir / "data"),
        # "=" form: a random secret may start with "-"
        f"--auth-secret={secret}", f"--admin-token={admin_token}",
        "--policy", policy, "--log-level", log_level, *extra,
    ]  # fmt: skip
    log = ServerLog(workdir / "server.log")
    async with spawned(command, SERVER_READY, log, wrapped=bool(wrapper)) as (line, pid):
        # "hubbub listening ws://HOST:PORT/ws admin http://HOST:PORT"
        words = line.split()
        admin_url = words[4] if len(words) > 4 and words[4].startswith("http") else None
        server_pid = next(iter(process_tree(pid)[1:]), pid) if wrapper else pid
        yield Target(words[2], secret, policy, admin_url, admin_token, server_pid), log


@asynccontextmanager
async def echo_server(workdir: Path) -> AsyncIterator[tuple[str, int]]:
    """Start scripts/echo_server.py on port 0; yield its URL and pid."""
    command = [sys.executable, str(ROOT / "scripts" / "echo_server.py"), "--port", "0"]
    async with spawned(command, ECHO_READY, ServerLog(workdir / "echo.log")) as (line, pid):
        yield line.split()[-1], pid


# ---- the echo baseline ------------------------------------------------------------


def echo_frame() -> dict[str, Any]:
    """A frame shaped and sized like a login request, so only the server's work differs."""
    token = mint_token(secrets.token_urlsafe(32), "load000000-0000", 3600)
    return {"op": "login", "id": 0, "userID": "load000000-0000", "token": token, "platform": "Android", "deviceName": "load Android"}


class EchoMismatch(Exception):
    """The echo answered something other than the frame it was sent."""


@dataclass(slots=True)
class _EchoRun:
    """State of one baseline measurement (one Trio thread: no locks)."""

    url: str
    total: int
    timeout_s: float
    held: trio.Nursery
    limiter: trio.CapacityLimiter
    progress: Progress
    frame: dict[str, Any] = field(default_factory=echo_frame)
    opened: list[WebSocketConnection] = field(default_factory=list)
    session_s: list[float] = field(default_factory=list)
    first_rtt_s: list[float] = field(default_factory=list)
    rtt_s: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    busy_done: int = 0

    async def round_trip(self, ws: WebSocketConnection, request_id: int) -> float:
        """Send one frame, wait for its echo, decode it; returns seconds taken."""
        started = time.monotonic()
        with trio.fail_after(self.timeout_s):
            await ws.send_message(cbor2.dumps({**self.frame, "id": request_id}))
            reply = await ws.get_message()
        if not isinstance(reply, bytes) or cbor2.loads(reply).get("id") != request_id:
            raise EchoMismatch(f"round trip {request_id} came back as {reply!r:.80}")
        return time.monotonic() - started

    async def open_one(self) -> None:
        """Connect and do the first round trip, as a login would."""
        async with self.limiter:
            started = time.monotonic()
            try:
                with trio.fail_after(self.timeout_s):
                    ws = await connect_websocket_url(self.held, self.url, message_queue_size=_CLIENT_QUEUE)
                rtt = await self.round_trip(ws, 1)
            except (OSError, HandshakeError, ConnectionClosed, trio.TooSlowError, EchoMismatch) as exc:
                self.failures[type(exc).__name__] += 1
                return
            self.session_s.append(time.monotonic() - started)
            self.first_rtt_s.append(rtt)
            self.opened.append(ws)
        self.progress.update("echo connect", len(self.opened) + sum(self.failures.values()), self.total)

    async def keep_busy(self, ws: WebSocketConnection, round_trips: int) -> None:
        """`round_trips` sequential round trips on one open connection."""
        try:
            for request_id in range(2, round_trips + 2):
                self.rtt_s.append(await self.round_trip(ws, request_id))
        except (ConnectionClosed, trio.TooSlowError, EchoMismatch) as exc:
            self.failures[type(exc).__name__] += 1
        self.busy_done += 1
        self.progress.update("echo round trips", self.busy_done, len(self.opened))


async def measure_echo(
    url: str,
    connections: int,
    round_trips: int,
    concurrency: int,
    timeout_s: float,
    progress: Progress,
    pid: int | None = None,
) -> MixResult:
    """Measure the echo server at `url`: connect storm, then every connection busy at once.

    Opens `connections` connections through a CapacityLimiter(`concurrency`),
    each doing one round trip; then each does `round_trips` more, all at
    once; then closes them. Returns the BASELINE_FIGURES (and `echo_failures`);
    the CPU figures are NaN unless `pid` names the echo server's process.
    """
    result = MixResult("echo")
    async with trio.open_nursery() as held:
        run = _EchoRun(url, connections, timeout_s, held, trio.CapacityLimiter(concurrency), progress)
        cpu = [process_cpu_s(pid)]
        started = time.monotonic()
        async with trio.open_nursery() as opening:
            for _ in range(connections):
                opening.start_soon(run.open_one)
        connect_s = time.monotonic() - started
        cpu.append(process_cpu_s(pid))
        progress.done()
        started = time.monotonic()
        async with trio.open_nursery() as busy:
            for ws in run.opened:
                busy.start_soon(run.keep_busy, ws, round_trips)
        busy_s = time.monotonic() - started
        cpu.append(process_cpu_s(pid))
        progress.done()
        async with trio.open_nursery() as closing:
            for ws in run.opened:
                closing.start_soon(ws.aclose)
        held.cancel_scope.cancel()
    result.elapsed_s = connect_s + busy_s
    result.add(Figure("sessions_per_s", len(run.session_s) / connect_s, "/s", note="connect + 1 round trip"))
    result.figures += latency_figures("session", run.session_s, None, "connect + 1 round trip")
    result.figures += latency_figures("first_rtt", run.first_rtt_s, None, "that round trip alone")
    result.add(Figure("round_trips_per_s", len(run.rtt_s) / busy_s, "/s", note=f"{len(run.opened)} connections busy at once"))
    result.figures += latency_figures("rtt", run.rtt_s, None, "one round trip, all busy")
    connect_cpu, busy_cpu = _deltas(cpu)
    result.add(Figure("cpu_ms_per_session", 1000 * connect_cpu / max(1, len(run.session_s)), "ms", note="echo process CPU, connect phase"))
    result.add(Figure("cpu_us_per_round_trip", 1e6 * busy_cpu / max(1, len(run.rtt_s)), "us", note="echo process CPU, busy phase"))
    result.add(Figure("echo_failures", sum(run.failures.values()), expected=0))
    if run.failures:
        result.problems.append(f"echo baseline failures: {dict(run.failures)}")
    return result


def _deltas(samples: list[float | None]) -> tuple[float, float]:
    """(b - a, c - b) of three CPU readings; NaN where one is missing."""
    a, b, c = samples
    first = b - a if a is not None and b is not None else math.nan
    second = c - b if b is not None and c is not None else math.nan
    return first, second


def mean_baseline(runs: list[MixResult]) -> dict[str, float]:
    """The mean of each baseline figure over the runs (before / after the mix)."""
    return {name: sum(run.figure(name).value for run in runs) / len(runs) for name in BASELINE_FIGURES}


# ---- one whole run -------------------------------------------------------------------


@dataclass(slots=True)
class Report:
    """Everything one run measured, for printing and for --json."""

    args: dict[str, Any]
    machine: dict[str, Any]
    baselines: list[tuple[str, MixResult]] = field(default_factory=list)
    result: MixResult | None = None
    server_log: ServerLog | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        runs = [self.result] if self.result else []
        runs += [run for _, run in self.baselines]
        return self.result is not None and not self.problems and not any(r.problems or r.mismatches() for r in runs)


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "fd_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
    }


async def _baseline(report: Report, when: str, args: argparse.Namespace, mix: Mix, workdir: Path, progress: Progress) -> None:
    async with echo_server(workdir) as (url, pid):
        connections = mix.connections(args)
        result = await measure_echo(url, connections, args.echo_round_trips, args.concurrency, args.request_timeout_s, progress, pid)
    report.baselines.append((when, result))


async def _mix(report: Report, args: argparse.Namespace, mix: Mix, workdir: Path, progress: Progress) -> None:
    if args.url is not None:
        target = Target(args.url, args.secret, args.policy, args.admin_url, args.admin_token)
        report.result = await mix.run(target, args, progress)
        return
    async with hubbub_server(args.policy, args.server_log_level, workdir) as (target, log):
        report.server_log = log
        report.result = await mix.run(target, args, progress)
    if log.errors:
        report.problems.append(f"the server logged {log.errors} errors (see below)")


async def run_load(args: argparse.Namespace, mix: Mix, progress: Progress) -> Report:
    """Baseline before, the mix, baseline after (per --baseline), within --time-limit-s."""
    report = Report({k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}, machine())
    with tempfile.TemporaryDirectory(prefix="hubbub-load-") as tmp, trio.move_on_after(args.time_limit_s) as limit:
        workdir = Path(tmp)
        try:
            if args.baseline in ("before", "both"):
                await _baseline(report, "before", args, mix, workdir, progress)
            await _mix(report, args, mix, workdir, progress)
            if args.baseline in ("after", "both"):
                await _baseline(report, "after", args, mix, workdir, progress)
        except RuntimeError as exc:  # a subprocess that did not start
            report.problems.append(str(exc))
    progress.done()
    if limit.cancelled_caught:
        report.problems.append(f"the time limit of {args.time_limit_s:g} s was reached; figures are partial")
    report.machine["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    return report


# ---- output ------------------------------------------------------------------------


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}" if value == value else "n/a"


def _ratio(figure: Figure, baseline: dict[str, float]) -> float | None:
    base = baseline.get(figure.baseline or "")
    if not base or math.isnan(base):
        return None
    return figure.value / base


def _figure_line(figure: Figure, baseline: dict[str, float]) -> str:
    value = f"{_number(figure.value)} {figure.unit}".strip()
    ratio = _ratio(figure, baseline)
    if ratio is not None:
        assert figure.baseline is not None
        judged = f"{ratio:.3f} x echo {figure.baseline} ({_number(baseline[figure.baseline])})"
    elif figure.expected is not None:
        judged = f"expected {_number(figure.expected)}: {'ok' if figure.as_expected else 'MISMATCH'}"
    else:
        judged = ""
    note = f"  [{figure.note}]" if figure.note else ""
    return f"  {figure.name:22} {value:>14}   {judged}{note}".rstrip()


def render(report: Report) -> str:
    """The human-readable report printed to stdout."""
    args, m = report.args, report.machine
    where = args["url"] or f"subprocess `gateway.cli serve` (log level {args['server_log_level']})"
    lines = [
        f"hubbub load test: mix {args['mix']}, {args['accounts']} accounts x {args['devices']} devices, "
        f"policy {args['policy']}, concurrency {args['concurrency']}",
        f"machine: {m['cpus']} CPUs, {m['platform']}, Python {m['python']}, loopback; "
        f"load average {m['loadavg']} before, {m.get('loadavg_after')} after",
        f"server: {where}",
    ]
    baseline = mean_baseline([run for _, run in report.baselines]) if report.baselines else {}
    if report.baselines:
        first = report.baselines[0][1]
        runs = " / ".join(when for when, _ in report.baselines)
        lines.append(f"\nbaseline: scripts/echo_server.py subprocess, {first.figure('round_trips_per_s').note}, "
                     f"{args['echo_round_trips']} round trips each ({runs}; ratios use the mean)")
        for name in BASELINE_FIGURES:
            values = "  ".join(f"{_number(run.figure(name).value):>8}" for _, run in report.baselines)
            lines.append(f"  {name:22} {values}   [{first.figure(name).note}]")
    if report.result is not None:
        lines.append(f"\n{report.result.mix} mix ({report.result.elapsed_s:.1f} s):")
        lines += [_figure_line(f, baseline) for f in report.result.figures]
    problems = list(report.problems)
    for _, run in report.baselines:
        problems += run.problems
    if report.result is not None:
        problems += report.result.problems
        problems += [f"{f.name} = {_number(f.value)}, expected {_number(f.expected or 0)}" for f in report.result.mismatches()]
    if report.server_log is not None and (report.server_log.warnings or report.server_log.errors):
        log = report.server_log
        lines.append(f"\nserver log: {log.warnings} warnings, {log.errors} errors; first lines:")
        lines += [f"  {line}" for line in log.samples]
    lines.append("\nproblems:" if problems else "\nno problems: every expected figure matched")
    lines += [f"  - {p}" for p in problems]
    return "\n".join(lines)


def _finite(row: dict[str, Any]) -> dict[str, Any]:
    """NaN (a figure that could not be measured) as null, so the file is strict JSON."""
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}


def to_json(report: Report) -> dict[str, Any]:
    """The report as plain data, ratios included."""
    baseline = mean_baseline([run for _, run in report.baselines]) if report.baselines else {}

    def figures(result: MixResult) -> list[dict[str, Any]]:
        return [_finite({**asdict(f), "ratio": _ratio(f, baseline)}) for f in result.figures]

    return {
        "args": report.args,
        "machine": report.machine,
        "baseline": {"runs": {when: figures(run) for when, run in report.baselines}, "mean": _finite(baseline)},
        "mix": None if report.result is None else {"name": report.result.mix, "elapsed_s": report.result.elapsed_s, "figures": figures(report.result)},
        "ok": report.ok,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the load test; 0 when every expected figure matched, 1 otherwise."""
    args, mix = parse_args(argv)
    # Each process (driver, server, echo) holds one descriptor per connection.
    raise_fd_limit(mix.connections(args) + 1024)
    progress = Progress(enabled=args.progress or sys.stderr.isatty())
    # The driver holds thousands of connections too: the same GC settings as
    # the server (gateway/cli.py), so its pauses do not show up as latency.
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    report = trio.run(run_load, args, mix, progress)
    print(render(report), flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps(to_json(report), indent=2) + "\n")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
