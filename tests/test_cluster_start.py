"""Starting a cluster for a test: a node that exits while it starts fails the start at once, saying why.

Without that, a node that died while the others came up showed as the
test's own timeout, with nothing of the node's error.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from .cluster_support import start_cluster
from .redis_servers import RedisForTests

UNREACHABLE_STORE = "postgresql://hubbub@127.0.0.1:1/hubbub"  # port 1: refused at once


async def test_a_node_that_exits_while_the_cluster_starts_fails_it_at_once_with_its_status_and_log(
    tmp_path: Path, redis_server: RedisForTests
) -> None:
    started = trio.current_time()
    with trio.fail_after(60), pytest.raises(AssertionError) as failed:
        await start_cluster(tmp_path, 2, UNREACHABLE_STORE, redis_server.url)
    message = str(failed.value)
    assert "exited with status 2 before listening" in message, message
    assert "the end of n" in message and "127.0.0.1" in message and "5432" not in message, message  # the node's own words
    assert trio.current_time() - started < 45  # not the start's 60 s wait
