"""One owner per data directory: an exclusive lock held for the server's life.

Two servers on one data dir would each believe they know every online
device of an account, so a login policy (`single`: one device) would hold
on neither. `hold_data_dir` takes `DATA_DIR/hubbub.lock` with `flock`
before the store is opened; the kernel releases it when the process ends,
however it ends (kill -9 included), so a stale lock file never blocks a
restart. The owner's PID is written into the file for the error message.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_FILE_NAME = "hubbub.lock"


class DataDirInUse(Exception):
    """Another server (this process or another) holds the data directory."""

    def __init__(self, data_dir: Path, owner_pid: int | None) -> None:
        owner = f"pid {owner_pid}" if owner_pid is not None else "pid unknown"
        super().__init__(f"data dir {data_dir} is in use by another hubbub server ({owner})")
        self.data_dir = data_dir
        self.owner_pid = owner_pid


def make_data_dir(data_dir: Path) -> None:
    """Create `data_dir` (mode 700: it holds secrets and the store) if it does not exist.

    Raises OSError naming the path when it cannot be made or is not a directory.
    """
    if data_dir.exists() and not data_dir.is_dir():
        raise NotADirectoryError(f"--data-dir {data_dir} is not a directory")
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)


@contextmanager
def hold_data_dir(data_dir: Path) -> Iterator[None]:
    """Hold the exclusive lock of `data_dir` for the block (never blocks).

    Raises DataDirInUse at once if another holder has it (a second open of
    the same file in this process counts as another holder), or OSError if
    the directory cannot be made or written.
    """
    make_data_dir(data_dir)
    fd = os.open(data_dir / LOCK_FILE_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DataDirInUse(data_dir, _owner_pid(fd)) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the only descriptor releases the lock


def _owner_pid(fd: int) -> int | None:
    """The PID the owner wrote, or None if it has not written it yet."""
    text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    return int(text) if text.isdigit() else None
