"""A backend that hangs never delays sendMessage replies: their latency beside a healthy backend's, as a ratio.

Two servers run side by side, one calling a healthy receiver and one calling
a receiver that never answers; sends alternate between them, so a loaded
machine slows both alike. Real time (latency is what is measured).
"""

from __future__ import annotations

import statistics

import trio

from gateway.server import Gateway
from hubbub_client import Client

from .conftest import Login, StartServer
from .messaging_support import send
from .webhook_support import Receiver, hooked, serve_receiver

SENDS = 60
MAX_IN_FLIGHT = 4


async def _pair(login: Login, server: Gateway) -> tuple[Client, Client]:
    alice = await login(server, "alice", device="alice-phone")
    bob = await login(server, "bob", device="bob-phone")
    await bob.request("logout")  # bob's device is known and offline: every message also queues an offlinePush
    return alice, bob


async def test_replies_take_as_long_with_a_hanging_backend_as_with_a_healthy_one(
    nursery: trio.Nursery, start_server: StartServer, login: Login
) -> None:
    healthy, hanging = Receiver(), Receiver(hang=True)
    await nursery.start(serve_receiver, healthy)
    await nursery.start(serve_receiver, hanging)
    settings = {"webhook_max_in_flight": MAX_IN_FLIGHT, "webhook_timeout_s": 30.0}
    healthy_server = await start_server("multi", **hooked(healthy, **settings))
    hanging_server = await start_server("multi", **hooked(hanging, **settings))
    with trio.fail_after(120):
        healthy_alice, _ = await _pair(login, healthy_server)
        hanging_alice, _ = await _pair(login, hanging_server)
        latencies: dict[str, list[float]] = {"healthy": [], "hanging": []}
        for index in range(SENDS):
            for name, alice in (("healthy", healthy_alice), ("hanging", hanging_alice)):
                started = trio.current_time()
                await send(alice, "bob", f"m{index}")
                latencies[name].append(trio.current_time() - started)
        healthy_median = statistics.median(latencies["healthy"])
        hanging_median = statistics.median(latencies["hanging"])
        ratio = hanging_median / healthy_median
        print(f"sendMessage median: healthy {healthy_median * 1000:.2f} ms, hanging {hanging_median * 1000:.2f} ms, ratio {ratio:.2f}")
        assert ratio < 3.0, latencies
        assert max(latencies["hanging"]) < 5.0  # far below the 30 s a call may hang

        # The hanging backend holds at most MAX_IN_FLIGHT calls open; the rest wait on disk, not in memory.
        callbacks = hanging_server.callbacks
        assert callbacks is not None
        assert len(callbacks.delivery.in_flight) <= MAX_IN_FLIGHT
        assert len(hanging.calls) <= MAX_IN_FLIGHT
        waiting, _ = await hanging_server.services.store.webhook_counts()
        assert waiting >= 2 * SENDS  # messageSent and offlinePush of every message, and the logins
        await healthy.until(lambda r: len(r.accepted_of("messageSent")) >= SENDS)
        assert [c["message"]["message"] for c in healthy.accepted_of("messageSent")] == [f"m{i}" for i in range(SENDS)]
