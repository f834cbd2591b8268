"""The webhook queue is bounded: a full queue drops new calls, counted in a metric, told in one log line."""

from __future__ import annotations

import logging

import pytest
import trio
import trio.testing

from gateway.services import account_address

from .cluster_servers import node_owning
from .conftest import Login, StartServer
from .messaging_support import send
from .webhook_support import Receiver, hooked, serve_receiver


async def test_a_full_queue_drops_new_calls_counts_them_and_logs_once(
    nursery: trio.Nursery, start_server: StartServer, login: Login, autojump_clock: trio.testing.MockClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    receiver = Receiver(status=500)
    await nursery.start(serve_receiver, receiver)
    server = await start_server("multi", **hooked(receiver, webhook_events="messageSent", webhook_queue_max=3))
    with trio.fail_after(600):
        alice = await login(server, "alice")
        server = node_owning(server, account_address("alice"))  # the node whose account actor queues the calls
        with caplog.at_level(logging.INFO, logger="hubbub.webhooks"):
            sent = [(await send(alice, "bob", f"m{index}"))["messageID"] for index in range(5)]
            text = server.metrics.exposition().decode()
            assert "hubbub_webhook_queue_depth 3.0" in text
            assert "hubbub_webhook_queue_dropped 2.0" in text
            assert sum(await server.services.store.webhook_counts()) == 3  # on disk: the bound held
            full = [r for r in caplog.records if "queue full" in r.getMessage()]
            assert len(full) == 1 and full[0].levelno == logging.WARNING

            await receiver.until(lambda r: len(r.calls) >= 1)  # refused once at least
            receiver.status = 200
            await receiver.until(lambda r: len(r.accepted) == 3)
            assert [c["message"]["messageID"] for c in receiver.accepted_of("messageSent")] == sent[:3]
            await trio.sleep(1)
            assert "hubbub_webhook_queue_depth 0.0" in server.metrics.exposition().decode()
            assert any("room again" in r.getMessage() for r in caplog.records)
        after = (await send(alice, "bob", "after"))["messageID"]  # room again: queued and delivered
        await receiver.until(lambda r: len(r.accepted) == 4)
        assert receiver.accepted_of("messageSent")[3]["message"]["messageID"] == after
        await trio.sleep(1)  # the worker counts a delivery once the answer is in and the row is gone
        text = server.metrics.exposition().decode()
        assert 'hubbub_webhook_deliveries_total{event="messageSent",outcome="delivered"} 4.0' in text
        assert 'hubbub_webhook_deliveries_total{event="messageSent",outcome="retry"}' in text
