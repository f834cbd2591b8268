"""A backend that fails or is down gets every notification later, in order per account, each delivery ID taken once.

Back-off and the 24 h retry window run on the autojump clock.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import trio
import trio.testing

from gateway.config import Config
from gateway.server import Gateway

from .conftest import ADMIN_TOKEN, Login, StartServer
from .messaging_support import send
from .webhook_support import Receiver, hooked, serve_receiver

HOUR_S = 3600.0


def _in_order_per_account(receiver: Receiver) -> dict[str, list[str]]:
    """The messageIDs each sender's messageSent calls were accepted in."""
    order: dict[str, list[str]] = {}
    for call in receiver.accepted_of("messageSent"):
        order.setdefault(call["userID"], []).append(call["message"]["messageID"])
    return order


async def _admin(gateway: Gateway, method: str, path: str) -> Any:
    assert gateway.listening is not None and gateway.listening.admin_url is not None
    async with httpx.AsyncClient() as admin:
        answer = await admin.request(method, gateway.listening.admin_url + path, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    return answer.status_code, answer.json()


async def test_a_failing_backend_gets_everything_later_in_order_each_delivery_once(
    nursery: trio.Nursery, start_server: StartServer, login: Login, autojump_clock: trio.testing.MockClock
) -> None:
    receiver = Receiver(status=500)
    await nursery.start(serve_receiver, receiver)
    server = await start_server("multi", **hooked(receiver, webhook_events="messageSent"))
    with trio.fail_after(600):
        alice, bob = await login(server, "alice"), await login(server, "bob")
        sent: dict[str, list[str]] = {"alice": [], "bob": []}
        for index in range(10):
            sent["alice"].append((await send(alice, "bob", f"a{index}"))["messageID"])
            sent["bob"].append((await send(bob, "alice", f"b{index}"))["messageID"])
        await receiver.until(lambda r: len(r.calls) >= 6)  # retried while failing
        await trio.sleep(120)  # two minutes of 500s: every call was refused at least once, none accepted
        assert receiver.accepted == []
        status, queue = await _admin(server, "GET", "/v1/webhooks")
        assert status == 200 and queue["waiting"] == 20 and queue["setAside"] == 0
        assert all(c["attempts"] >= 1 and c["lastError"] == "HTTP 500" for c in queue["calls"] if c["attempts"])

        receiver.status = 200
        await receiver.until(lambda r: len(r.accepted) == 20)
        assert _in_order_per_account(receiver) == sent
        accepted_ids = [c.delivery_id for c in receiver.accepted]
        assert len(set(accepted_ids)) == 20
        refused = {c.delivery_id for c in receiver.calls if c.status == 500}
        assert refused <= set(accepted_ids)  # a retry keeps its delivery ID
        await trio.sleep(60)
        assert len(receiver.accepted) == 20  # nothing sent again once taken
        status, queue = await _admin(server, "GET", "/v1/webhooks")
        assert (queue["waiting"], queue["setAside"]) == (0, 0)


@pytest.mark.one_process(
    "hours of virtual time on the autojump clock: a cluster's bus works every virtual second, so on three nodes"
    " under load the test takes real minutes (it ran past five on this machine)"
)
async def test_a_backend_that_is_down_gets_everything_once_it_is_back(
    nursery: trio.Nursery, start_server: StartServer, login: Login, autojump_clock: trio.testing.MockClock
) -> None:
    receiver = Receiver()
    scope = trio.CancelScope()

    async def serve_for_a_while(*, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
        with scope:
            await serve_receiver(receiver, task_status=task_status)

    url = await nursery.start(serve_for_a_while)
    port = int(url.split(":")[2].split("/")[0])
    scope.cancel()  # down: connections are refused
    server = await start_server("multi", **hooked(receiver, webhook_url=url, webhook_events="messageSent"))
    with trio.fail_after(HOUR_S):  # virtual time: twenty minutes of retries
        alice = await login(server, "alice")
        sent = [(await send(alice, "bob", f"m{index}"))["messageID"] for index in range(5)]
        await trio.sleep(20 * 60)
        status, queue = await _admin(server, "GET", "/v1/webhooks?state=waiting")
        assert queue["waiting"] == 5 and queue["calls"][0]["attempts"] > 5
        assert "ConnectError" in queue["calls"][0]["lastError"]
        await nursery.start(serve_receiver, receiver, port)  # back on the same address
        await receiver.until(lambda r: len(r.accepted) == 5)
        assert _in_order_per_account(receiver) == {"alice": sent}


@pytest.mark.one_process(
    "hours of virtual time on the autojump clock: a cluster's bus works every virtual second, so on three nodes"
    " under load the test takes real minutes (it ran past five on this machine)"
)
async def test_after_the_retry_window_a_call_is_set_aside_for_the_operator(
    nursery: trio.Nursery, start_server: StartServer, login: Login, autojump_clock: trio.testing.MockClock
) -> None:
    receiver = Receiver(status=503)
    await nursery.start(serve_receiver, receiver)
    assert Config().webhook_retry_s == 24 * HOUR_S  # the default window; an hour here keeps the test short
    server = await start_server("multi", **hooked(receiver, webhook_events="messageSent", webhook_retry_s=HOUR_S))
    with trio.fail_after(5 * HOUR_S):  # virtual time: two retry windows
        alice = await login(server, "alice", ttl_s=10 * HOUR_S)
        first = (await send(alice, "bob", "first"))["messageID"]
        await trio.sleep(HOUR_S + 20 * 60)  # the window and the last back-off (at most 10 min)
        status, queue = await _admin(server, "GET", "/v1/webhooks?state=setAside")
        assert status == 200 and queue["setAside"] == 1
        (stuck,) = queue["calls"]
        assert stuck["state"] == "setAside" and stuck["attempts"] > 10

        # A set-aside call no longer holds back the account's later ones.
        receiver.status = 200
        second = (await send(alice, "bob", "second"))["messageID"]
        await receiver.until(lambda r: len(r.accepted) == 1)
        assert _in_order_per_account(receiver) == {"alice": [second]}

        status, retried = await _admin(server, "POST", f"/v1/webhooks/{stuck['deliveryID']}/retry")
        assert status == 200 and retried == {"retried": 1}
        await receiver.until(lambda r: len(r.accepted) == 2)
        assert receiver.accepted[1].delivery_id == stuck["deliveryID"]
        assert receiver.accepted_of("messageSent")[1]["message"]["messageID"] == first

        # Dropping: a call that fails again is set aside, then removed by the operator.
        receiver.status = 500
        await send(alice, "bob", "third")
        await trio.sleep(HOUR_S + 20 * 60)
        status, queue = await _admin(server, "GET", "/v1/webhooks")
        assert queue["setAside"] == 1
        status, dropped = await _admin(server, "DELETE", "/v1/webhooks")
        assert status == 200 and dropped == {"dropped": 1}
        status, missing = await _admin(server, "DELETE", f"/v1/webhooks/{stuck['deliveryID']}")
        assert status == 404
        status, queue = await _admin(server, "GET", "/v1/webhooks")
        assert (queue["waiting"], queue["setAside"], queue["calls"]) == (0, 0, [])
        status, refused = await _admin(server, "GET", "/v1/webhooks?limit=0")
        assert status == 400 and "limit" in refused["error"]
