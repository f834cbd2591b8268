"""A login is one store transaction: the account row, the devices it kicks and the new device, together."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import trio

from actors.store.base import Claim, Fence

from gateway.services import account_address

from .cluster_servers import node_owning
from .conftest import Login, StartServer


def _count_writes(store: Any) -> list[str]:
    """Record the name of every store write from now on (each write is one transaction).

    Claims are left out: on a store nodes share, an account is claimed (a
    transaction of its own) when its actor starts, before any login is handled.
    """
    writes: list[str] = []
    original: Callable[..., Awaitable[Any]] = store.write

    async def counted(fn: Callable[[Any], Any], *, fence: Fence | Claim | None = None) -> Any:
        if not isinstance(fence, Claim):
            writes.append(getattr(fn, "__qualname__", repr(fn)))
        return await original(fn, fence=fence)

    store.write = counted
    return writes


async def test_a_login_that_kicks_is_one_transaction(start_server: StartServer, login: Login) -> None:
    server = await start_server("single")
    with trio.fail_after(30):
        first = await login(server, "u1", device="a", platform="iOS")
        writes = _count_writes(node_owning(server, account_address("u1")).store)  # the account's writes are its node's
        second = await login(server, "u1", device="b", platform="Android")
        assert await first.closed() == 4000
        assert len(writes) == 1, writes
        # all of it is stored: the kicked device's history, the new device online
        history = await server.store.login_history("u1", 10)
        by_login: dict[str | None, tuple[int | None, str | None]] = {
            record.login_id: (logout_time, reason) for record, logout_time, reason in history
        }
        assert by_login[first.login_id][1] == "kicked:policy" and by_login[first.login_id][0] is not None
        assert by_login[second.login_id] == (None, None)
        assert [d.login_id for d in await server.store.online_devices("u1")] == [second.login_id]


async def test_a_first_login_is_one_transaction_too(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(30):
        writes = _count_writes(node_owning(server, account_address("fresh")).store)
        client = await login(server, "fresh", device="a", platform="Web")
        assert len(writes) == 1, writes
        # the account row and the device row came in that one transaction
        assert [p.user_id for p in await server.store.profiles(["fresh"])] == ["fresh"]
        assert [d.login_id for d in await server.store.online_devices("fresh")] == [client.login_id]
