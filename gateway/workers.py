"""`hubbub serve --workers N`: N nodes of one cluster on this machine, behind one WebSocket port.

This process becomes a supervisor. It checks the store can be opened (and
migrates it, once), reserves the WebSocket port with SO_REUSEPORT (with
port 0 the kernel picks one, the same for every worker), then starts N
worker processes, each `hubbub serve` with the same settings plus:

    --node NODE-I          a cluster member of its own
    --port P --reuse-port  the shared port: the kernel spreads new connections over the workers
    --admin-port A+I-1     one admin API per node (0: each picks a free one; off: none)
    --data-dir DIR/worker-I  its own lock; the state is in PostgreSQL
    --wait-for-nodes NODE-1,...,NODE-N  it listens only once its view of the cluster holds every worker

Secrets are resolved once, here (flag, environment, or DATA_DIR's
generated files), and handed to every worker in its environment, so a token
minted with `hubbub token --data-dir DATA_DIR` is good on every node.

Each worker runs in a session of its own, so a terminal's Ctrl-C reaches
the supervisor alone, which forwards SIGTERM, SIGINT and SIGHUP to every
worker. Each worker also holds the read end of a pipe whose write end only
the supervisor has (its number in SUPERVISOR_FD_ENV): when the supervisor
dies, even by SIGKILL, the kernel closes it and the worker shuts down as on
SIGTERM (`stop_when_supervisor_gone`), so no worker outlives its supervisor. Nothing is restarted: a worker that exits before it listens stops
the others and the supervisor exits with one line (status 2); one that
exits later is reported in one line and the others go on serving (the
cluster takes its actors over). The supervisor exits once every worker
has: 0 when all stopped cleanly, 1 when any failed.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

import trio

from actors.store.engine import open_store

from .config import Config
from .shared_port import reserve_port
from .startup import listen_failed

log = logging.getLogger("hubbub.workers")

# A worker prints this line on stdout once it accepts connections (gateway/cli.py).
_LISTENING = b"hubbub listening "
# How long a worker may take to listen (migrations ran already, in the supervisor).
START_TIMEOUT_S = 60.0
# After SIGTERM a worker closes its devices within shutdown_grace_s; past this much more it is killed.
_STOP_SLACK_S = 10.0
# A worker's environment names the fd of its end of the supervisor's pipe here.
SUPERVISOR_FD_ENV = "HUBBUB_SUPERVISOR_FD"


class WorkerFailedToStart(Exception):
    """A worker exited (or hung) before it listened; the others were stopped."""


@dataclass(frozen=True, slots=True)
class WorkerPlan:
    """How one worker is started: its node name and its arguments after `hubbub serve ...`."""

    node: str
    overrides: tuple[str, ...]


def plan(config: Config, port: int) -> list[WorkerPlan]:
    """The workers of `config.workers`: names NODE-1 ... NODE-N and the flags that set each one apart."""
    count = config.workers or 1
    nodes = [f"{config.node}-{index}" for index in range(1, count + 1)]
    plans = []
    for index, node in enumerate(nodes, start=1):
        if config.admin_port is None:
            admin = "off"
        else:
            admin = str(config.admin_port and config.admin_port + index - 1)  # 0 stays 0: each picks a free port
        overrides = (
            "--node", node, "--port", str(port), "--reuse-port", "--admin-port", admin,
            "--data-dir", str(config.data_dir / f"worker-{index}"), "--workers", "off",
            # Until every worker's view holds all of them, two workers could each take an
            # account for their own (logins refused with 9001): none listens before that.
            *(("--wait-for-nodes", ",".join(nodes)) if count > 1 else ()),
        )
        plans.append(WorkerPlan(node, overrides))
    return plans


@dataclass(frozen=True, slots=True)
class _Ready:
    node: str


@dataclass(frozen=True, slots=True)
class _Exited:
    node: str
    code: int


_Happened = _Ready | _Exited


async def run_workers(config: Config, serve_args: Sequence[str]) -> int:
    """Run `config.workers` worker processes (see the module docstring) until they all exit; the exit status.

    `serve_args` are the arguments this `hubbub serve` was given; the
    workers get them too. Raises StorageUnavailable if the store cannot be
    opened, ListenFailed if the port cannot be reserved, and
    WorkerFailedToStart (after stopping the others) if a worker does not
    come up.
    """
    async with open_store(config.data_dir, config.store_url):
        pass  # reachable, and migrated once, before any worker starts
    try:
        reserved, port = reserve_port(config.port, config.host)
    except OSError as exc:
        raise listen_failed("WebSocket", config.host, config.port, exc) from exc
    with reserved:
        return await _supervise(config, plan(config, port), serve_args)


async def _supervise(config: Config, plans: list[WorkerPlan], serve_args: Sequence[str]) -> int:
    env = {**os.environ, "HUBBUB_AUTH_SECRET": config.auth_secret, "HUBBUB_ADMIN_TOKEN": config.admin_token}
    # Bounded by the workers: each sends one _Ready and one _Exited.
    happened_send, happened = trio.open_memory_channel[_Happened](2 * len(plans))
    fleet = _Fleet(config.shutdown_grace_s)
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
        async with trio.open_nursery() as nursery:
            for worker in plans:
                command = [sys.executable, "-m", "gateway.cli", "serve", *serve_args, *worker.overrides]
                fleet.processes[worker.node] = await nursery.start(_run_worker, worker.node, command, env, happened_send)
            nursery.start_soon(fleet.forward, signals, nursery)
            try:
                failed = await fleet.watch(happened)
            except WorkerFailedToStart:
                fleet.stop(nursery)
                if fleet.running:
                    async for event in happened:  # bounded: stop() kills what outlives its grace
                        if isinstance(event, _Exited) and fleet.gone(event.node):
                            break
                raise
            finally:
                nursery.cancel_scope.cancel()  # the signal forwarder, and any kill timer
    return 1 if failed else 0


class _Fleet:
    """The running workers, as the supervisor sees them."""

    def __init__(self, grace_s: float) -> None:
        self.processes: dict[str, trio.Process] = {}
        self.running: set[str] = set()
        self.stopping = False
        self._grace_s = grace_s

    async def watch(self, happened: trio.MemoryReceiveChannel[_Happened]) -> bool:
        """Follow the workers until every one has exited; whether any failed.

        Raises WorkerFailedToStart when one exits before all listen (unless
        a signal asked them to stop), or they do not within START_TIMEOUT_S.
        """
        self.running = set(self.processes)
        waiting, failed = set(self.processes), False
        with trio.CancelScope(deadline=trio.current_time() + START_TIMEOUT_S) as starting:
            async for event in happened:
                if isinstance(event, _Ready):
                    waiting.discard(event.node)
                    if not waiting:
                        starting.deadline = math.inf
                        nodes = "1 node" if len(self.processes) == 1 else f"{len(self.processes)} nodes"
                        print(f"hubbub workers: {nodes} ({', '.join(self.processes)}) on one port", flush=True)
                    continue
                if waiting and not self.stopping:
                    self.gone(event.node)
                    raise WorkerFailedToStart(
                        f"worker {event.node} exited with status {event.code} before it listened (its error is above); stopped the others"
                    )
                if event.code != 0 and not self.stopping:
                    failed = True
                    print(f"hubbub: worker {event.node} exited with status {event.code} (not restarted; "
                          f"{len(self.running) - 1} still serving)", file=sys.stderr, flush=True)
                elif event.code != 0:
                    failed = True
                if self.gone(event.node):
                    return failed
        raise WorkerFailedToStart(f"worker {', '.join(sorted(waiting))} did not listen within {START_TIMEOUT_S:.0f} s; stopped them all")

    def gone(self, node: str) -> bool:
        """`node` exited; whether none is left."""
        self.running.discard(node)
        return not self.running

    def stop(self, nursery: trio.Nursery) -> None:
        """SIGTERM to every worker still running; those running past their grace are killed."""
        self.stopping = True
        self._send_all(signal.SIGTERM)
        nursery.start_soon(self._kill_after, self._grace_s + _STOP_SLACK_S)

    async def forward(self, signals: AsyncIterator[int], nursery: trio.Nursery) -> None:
        """Pass each signal on to every worker; SIGTERM and SIGINT stop them (killed past their grace)."""
        async for signum in signals:
            log.info("signal %s: passed on to %d workers", signal.Signals(signum).name, len(self.running))
            if signum == signal.SIGHUP:
                self._send_all(signum)
            else:
                self.stopping = True
                self._send_all(signum)
                nursery.start_soon(self._kill_after, self._grace_s + _STOP_SLACK_S)

    def _send_all(self, signum: int) -> None:
        for process in self.processes.values():
            if process.returncode is None:
                process.send_signal(signum)

    async def _kill_after(self, delay_s: float) -> None:
        await trio.sleep(delay_s)
        for node, process in self.processes.items():
            if process.returncode is None:
                log.error("worker %s still running %.0f s after it was told to stop: killed", node, delay_s)
                process.kill()


async def _run_worker(
    node: str,
    command: list[str],
    env: dict[str, str],
    happened: trio.MemorySendChannel[_Happened],
    *,
    task_status: trio.TaskStatus[trio.Process] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Start one worker, relay its stdout, tell when it listens and when it exits."""
    watched, held = os.pipe()  # the worker reads `watched`; `held` closes when this process goes, however it goes
    try:
        env = {**env, SUPERVISOR_FD_ENV: str(watched)}
        process = await trio.lowlevel.open_process(
            command, stdout=subprocess.PIPE, env=env, start_new_session=True, pass_fds=(watched,)
        )
    except BaseException:
        os.close(held)
        raise
    finally:
        os.close(watched)
    task_status.started(process)
    try:
        assert process.stdout is not None
        await _relay(process.stdout, node, happened)
        code = await process.wait()
    finally:
        if process.returncode is None:  # cancelled (the supervisor itself is going): take the worker along
            with trio.move_on_after(_STOP_SLACK_S, shield=True):
                process.send_signal(signal.SIGTERM)
                await process.wait()
            if process.returncode is None:
                process.kill()
        os.close(held)
    await happened.send(_Exited(node, code))


async def stop_when_supervisor_gone(stop: Callable[[], None]) -> None:
    """In a worker (SUPERVISOR_FD_ENV set): call `stop` once the supervisor's pipe closes; else return at once."""
    fd = os.environ.get(SUPERVISOR_FD_ENV)
    if fd is None:
        return
    async with trio.lowlevel.FdStream(int(fd)) as pipe:
        while await pipe.receive_some(64):
            pass  # the supervisor never writes: only the end of the pipe counts
    log.warning("the supervisor is gone: shutting down")
    stop()


async def _relay(stdout: trio.abc.ReceiveStream, node: str, happened: trio.MemorySendChannel[_Happened]) -> None:
    """Copy a worker's stdout to ours, line by line, until it closes; tell when its listening line comes."""
    pending = b""
    ready = False
    while chunk := await stdout.receive_some(65536):
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            sys.stdout.buffer.write(line + b"\n")
            if not ready and line.startswith(_LISTENING):
                ready = True
                await happened.send(_Ready(node))
        sys.stdout.flush()
    if pending:
        sys.stdout.buffer.write(pending + b"\n")
        sys.stdout.flush()
