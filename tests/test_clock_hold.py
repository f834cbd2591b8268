"""The shared autojump clock holds still while a worker thread runs (tests/clock_support.py).

The thread jobs below block for a little real time, as a SQLite commit does
on a busy machine: far longer than the clock's 0.02 s threshold.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import trio
import trio.testing

SLOW_JOB_S = 0.2  # real seconds a thread job takes, ten times the autojump threshold


async def test_no_jump_while_a_thread_job_runs(autojump_clock: trio.testing.MockClock) -> None:
    started = trio.current_time()
    with trio.fail_after(1):  # would be jumped past while the job runs, were the clock not held
        await trio.to_thread.run_sync(time.sleep, SLOW_JOB_S)
    assert trio.current_time() == started
    # and once no thread is at work the clock jumps as before
    await trio.sleep(100)
    assert trio.current_time() == started + 100


async def test_overlapping_jobs_hold_until_the_last_one_ends(autojump_clock: trio.testing.MockClock) -> None:
    started = trio.current_time()
    with trio.fail_after(1):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.to_thread.run_sync, time.sleep, SLOW_JOB_S / 4)
            nursery.start_soon(trio.to_thread.run_sync, time.sleep, SLOW_JOB_S)
            for _ in range(3):  # jobs one after another, each started once the last has ended
                await trio.to_thread.run_sync(time.sleep, SLOW_JOB_S / 4)
    assert trio.current_time() == started


async def test_a_failed_job_lets_go_and_trio_path_holds_too(autojump_clock: trio.testing.MockClock, tmp_path: Path) -> None:
    def fail() -> None:
        time.sleep(SLOW_JOB_S)
        raise OSError("disk gone")

    started = trio.current_time()
    with trio.fail_after(1):
        try:
            await trio.to_thread.run_sync(fail)
        except OSError as error:
            assert str(error) == "disk gone"  # the job's own exception, not a group
        else:
            raise AssertionError("the job's exception was lost")
    assert trio.current_time() == started
    await trio.sleep(10)
    assert trio.current_time() == started + 10
    # trio.Path runs its calls in threads too
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    writer = threading.Timer(SLOW_JOB_S, fifo.write_text, ("late",))  # the read waits for it in its thread
    writer.start()
    try:
        with trio.fail_after(1):
            assert await trio.Path(fifo).read_text() == "late"
    finally:
        writer.join()
    assert trio.current_time() == started + 10
