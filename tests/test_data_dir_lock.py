"""One owner per data dir: a second server on it exits at once, naming the dir and the owner."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest
import trio

from gateway.config import Config
from gateway.datadir import LOCK_FILE_NAME, DataDirInUse, hold_data_dir
from gateway.server import serve

from .cli_support import ADMIN_TOKEN, SECRET, run_hubbub, serve_subprocess
from .conftest import StartServer


async def test_a_second_hubbub_serve_on_the_same_data_dir_exits_at_once_naming_the_owner(tmp_path: Path) -> None:
    with trio.fail_after(60):
        async with serve_subprocess(tmp_path, "--policy", "single") as first:
            data_dir = tmp_path / "data"
            assert (data_dir / LOCK_FILE_NAME).stat().st_mode & 0o777 == 0o600
            second = await run_hubbub(
                "serve", "--port", "0", "--admin-port", "0", "--data-dir", str(data_dir),
                "--auth-secret", SECRET, "--admin-token", ADMIN_TOKEN,
            )
            assert second.returncode == 2
            assert second.stdout == b""
            lines = second.stderr.decode().splitlines()
            assert lines == [f"hubbub: data dir {data_dir} is in use by another hubbub server (pid {first.process.pid})"]
            assert first.process.returncode is None  # the owner serves on
        # once the owner is gone (killed: the kernel drops its lock), the dir can be served again
        async with serve_subprocess(tmp_path, "--policy", "single", name="again") as again:
            assert again.process.returncode is None


async def test_a_second_in_process_server_is_refused_and_the_first_keeps_serving(start_server: StartServer, tmp_path: Path) -> None:
    with trio.fail_after(30):
        data_dir = tmp_path / "shared"
        first = await start_server("single", data_dir=data_dir)
        config = replace(Config(), data_dir=data_dir, auth_secret=SECRET, admin_port=None)
        with pytest.raises(DataDirInUse) as refused:
            await serve(config)
        assert refused.value.owner_pid == os.getpid()
        assert str(data_dir) in str(refused.value)
        assert first.listening is not None and not first.stop_requested.is_set()
        first.stop()
        await first.stopped.wait()
        with hold_data_dir(data_dir):  # released with the first server's end
            pass


def test_the_lock_is_exclusive_and_released_on_exit(tmp_path: Path) -> None:
    with hold_data_dir(tmp_path / "d"):
        with pytest.raises(DataDirInUse):
            with hold_data_dir(tmp_path / "d"):
                pass
    with hold_data_dir(tmp_path / "d"):
        assert (tmp_path / "d").stat().st_mode & 0o777 == 0o700
