"""Running `hubbub` as a real subprocess: its environment, its lines, a server on free ports."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import trio

REPO = Path(__file__).resolve().parent.parent
SECRET = "cli-test-secret-that-is-long-enough-for-hs256"
ADMIN_TOKEN = "cli-admin-token"
LISTENING = re.compile(r"^hubbub listening (ws://127\.0\.0\.1:(\d+)/ws) admin (http://127\.0\.0\.1:(\d+))$")
JWT = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")


def hubbub_env() -> dict[str, str]:
    """The test's environment without any HUBBUB_* setting that could leak in."""
    return {k: v for k, v in os.environ.items() if not k.startswith("HUBBUB_")}


def hubbub_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "gateway.cli", *args]


class Lines:
    """Reads lines from a subprocess pipe, each within a timeout."""

    def __init__(self, stream: trio.abc.ReceiveStream) -> None:
        self._stream = stream
        self._buffer = b""

    async def next(self, timeout: float) -> str:
        with trio.fail_after(timeout):
            while b"\n" not in self._buffer:
                chunk = await self._stream.receive_some(4096)
                if not chunk:
                    raise EOFError(f"stdout closed; unread: {self._buffer!r}")
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode()


@dataclass
class Running:
    process: trio.Process
    ws_url: str
    admin_url: str
    stderr_path: Path

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")


@asynccontextmanager
async def serve_subprocess(
    tmp_path: Path, *extra: str, name: str = "serve", ready: str | None = None, wait_s: float = 20
) -> AsyncIterator[Running]:
    """Run `hubbub serve` on free ports until the block ends; killed if it outlives it.

    Its data dir is `tmp_path/data` unless `extra` names another; its stderr goes to `tmp_path/NAME.stderr`.
    The block starts at its first listening line, or with `ready` at the first line after it that
    starts with `ready` (a supervisor's, once all its workers listen), within `wait_s` in all.
    """
    stderr_path = tmp_path / f"{name}.stderr"
    with open(stderr_path, "wb") as stderr:  # noqa: ASYNC230  a local file, opened once to be the child's stderr
        process = await trio.lowlevel.open_process(
            hubbub_command(
                "serve", "--port", "0", "--admin-port", "0", "--data-dir", str(tmp_path / "data"),
                "--auth-secret", SECRET, "--admin-token", ADMIN_TOKEN, *extra,
            ),
            stdout=subprocess.PIPE,
            stderr=stderr,
            cwd=REPO,
            env=hubbub_env(),
        )
    try:
        assert process.stdout is not None
        lines = Lines(process.stdout)
        try:
            with trio.fail_after(wait_s):
                line = await lines.next(timeout=wait_s)
                match = LISTENING.match(line)
                assert match, line
                while ready is not None and not line.startswith(ready):
                    line = await lines.next(timeout=wait_s)
        except (EOFError, trio.TooSlowError):
            raise AssertionError(f"no {ready or 'listening'} line; stderr:\n{stderr_path.read_text(errors='replace')}") from None
        yield Running(process, match.group(1), match.group(3), stderr_path)
    finally:
        if process.returncode is None:
            process.kill()
        with trio.move_on_after(5, shield=True):
            await process.wait()


# A hang guard for one short `hubbub` run. Each run imports the server, which
# takes seconds on a loaded machine, so a test of several runs bounds each
# run rather than all of them together.
ONE_RUN_S = 60


async def run_hubbub(*args: str) -> subprocess.CompletedProcess[bytes]:
    """Run one `hubbub` command to its end (within ONE_RUN_S); its output captured, its exit status not checked."""
    with trio.fail_after(ONE_RUN_S):
        return await trio.run_process(
            hubbub_command(*args), capture_stdout=True, capture_stderr=True, check=False, cwd=REPO, env=hubbub_env()
        )


async def mint(user_id: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    """`hubbub token USER_ID ARGS...`."""
    return await run_hubbub("token", user_id, *args)


