"""Stops the test PostgreSQL if the test run that started it dies without stopping it.

`python -m tests.postgres_watchdog PID PGDATA`: started by the session
fixture in `store_engines`, in a session of its own. A test run killed
(a CI timeout, SIGTERM, SIGKILL) runs no atexit handler, and the server,
detached by pg_ctl, would run on. Once PID has exited, this stops the
server whose data directory is PGDATA (immediate shutdown) and removes the
directory with its parent; if the run cleaned up itself, PGDATA is gone
and there is nothing to do. It also ends when the fixture terminates it.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from pathlib import Path

_POLL_S = 0.5
_STOP_WAIT_S = 10.0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stop(pgdata: Path) -> None:
    """SIGQUIT the postmaster of `pgdata` (immediate shutdown), wait for it, remove the directory."""
    pid_file = pgdata / "postmaster.pid"
    if pid_file.is_file():
        postmaster = int(pid_file.read_text().split("\n", 1)[0])
        if _alive(postmaster):
            os.kill(postmaster, signal.SIGQUIT)
            deadline = time.monotonic() + _STOP_WAIT_S
            while _alive(postmaster) and time.monotonic() < deadline:
                time.sleep(0.1)
    shutil.rmtree(pgdata.parent, ignore_errors=True)


def main(argv: list[str]) -> int:
    owner, pgdata = int(argv[1]), Path(argv[2])
    while _alive(owner):
        time.sleep(_POLL_S)
    if pgdata.exists():
        _stop(pgdata)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
