"""The webhook queue's depth (its bound and its metric) does not drift: a crash gives planned calls back, the store's count corrects the rest."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import trio
import trio.testing

from hubbub_client import ClientError
from gateway.server import Gateway
from gateway.services import account_address
from gateway.webhooks.delivery import IDLE_POLL_S, RECOUNT_S

from .cluster_servers import node_owning
from .conftest import Login, StartServer
from .messaging_support import send
from .webhook_support import Receiver, hooked, serve_receiver


def _depth(server: Gateway) -> str:
    return next(line for line in server.metrics.exposition().decode().splitlines() if line.startswith("hubbub_webhook_queue_depth "))


async def _on_disk(server: Gateway) -> int:
    return sum(await server.services.store.webhook_counts())


def _crash_the_next_commit_with_calls(server: Gateway) -> list[int]:
    """The store's next commit that queues calls raises (as a bug would): the account actor crashes."""
    store = server.services.store
    original = store.commit
    crashed: list[int] = []

    async def commit(write: Any, **fence: Any) -> Any:
        if write.webhooks and not crashed:
            crashed.append(len(write.webhooks))
            raise RuntimeError("a bug in the middle of a commit")
        return await original(write, **fence)

    store.commit = commit  # type: ignore[method-assign,assignment]
    return crashed


async def test_a_crash_while_storing_gives_the_planned_calls_back(
    nursery: trio.Nursery, start_server: StartServer, login: Login, caplog: pytest.LogCaptureFixture
) -> None:
    receiver = Receiver(status=500)  # every call stays queued
    await nursery.start(serve_receiver, receiver)
    server = await start_server("multi", **hooked(receiver, webhook_events="messageSent", webhook_queue_max=2))
    with trio.fail_after(30):
        alice = await login(server, "alice")
        server = node_owning(server, account_address("alice"))  # the node whose account actor queues the calls
        crashed = _crash_the_next_commit_with_calls(server)
        with caplog.at_level(logging.CRITICAL, logger="hubbub.actors"), pytest.raises(ClientError) as failed:
            await send(alice, "bob", "lost in the crash")
        assert failed.value.code == 9000 and crashed == [1]
        assert (await _on_disk(server), _depth(server)) == (0, "hubbub_webhook_queue_depth 0.0")
        # the bound of 2 is whole: both next messages are queued, none dropped
        await send(alice, "bob", "one")
        await send(alice, "bob", "two")
        assert await _on_disk(server) == 2 and _depth(server) == "hubbub_webhook_queue_depth 2.0"
        assert server.callbacks is not None and server.callbacks.queue.dropped["messageSent"] == 0


async def test_the_depth_is_corrected_from_the_stores_count(
    nursery: trio.Nursery, start_server: StartServer, login: Login, autojump_clock: trio.testing.MockClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    receiver = Receiver(status=500)
    await nursery.start(serve_receiver, receiver)
    server = await start_server("multi", **hooked(receiver, webhook_events="messageSent"))
    with trio.fail_after(600):
        alice = await login(server, "alice")
        server = node_owning(server, account_address("alice"))  # the node whose account actor queues the calls
        store = server.services.store
        for index in range(3):
            await send(alice, "bob", f"m{index}")
        assert _depth(server) == "hubbub_webhook_queue_depth 3.0"
        # rows leave the store behind the queue's back (as another process could take them)
        await store.write(lambda conn: conn.execute("DELETE FROM webhook_queue WHERE queue_id IN (SELECT MIN(queue_id) FROM webhook_queue)").rowcount)
        assert await _on_disk(server) == 2 and _depth(server) == "hubbub_webhook_queue_depth 3.0"
        with caplog.at_level(logging.INFO, logger="hubbub.webhooks"):
            await trio.sleep(RECOUNT_S + IDLE_POLL_S)
        assert _depth(server) == "hubbub_webhook_queue_depth 2.0"
        assert any("corrected from 3 to 2" in r.getMessage() for r in caplog.records)
