"""Accounts that lost told messages while the store was unreachable: started again once it answers.

A delivery, events or a notice that one account tells another is durable in
the store (the outbox) before it is told. When the receiver cannot start
(the store unreachable), the registry drops what it was told and retires it
(`Registry.on_tells_lost`); the rows wait in the store, but nothing would
start the account again until its next message, which may never come (the
sender's node may have reached the store again first, in a cluster). Here
the node notes each such account, asks the store at growing intervals
whether it answers (one query for them all), and once it does, wakes those
that still have deliveries pending: their actors start and take them, in
order. An account that cannot start once more is noted again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import trio

from actors.account.messages import Wake
from actors.errors import StorageUnavailable
from actors.runtime import ActorUnavailable, Address
from actors.store.base import Store

from .services import account_address

log = logging.getLogger("hubbub.gateway")

FIRST_TRY_S = 0.5  # the store usually answers again within seconds of the server's return
LAST_TRY_S = 5.0  # the longest wait between two questions while it does not


class WakeAfterOutage:
    """The accounts to wake once the store answers again; run `run` in a nursery."""

    def __init__(self, store: Store, post: Callable[[Address, object], Awaitable[None]]) -> None:
        self.store = store
        self.post = post  # to the account's owner: the local registry, or another node over the bus
        self.owed: set[str] = set()
        self._noted = trio.Event()
        self.woken = 0  # accounts woken so far (a figure for tests and stats)

    def note(self, address: Address) -> None:
        """The registry dropped messages told to `address` because it could not start (never blocks)."""
        if address.kind == "account":
            self.owed.add(address.key)
            self._noted.set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Wake the noted accounts each time the store answers again. Runs until cancelled."""
        task_status.started()
        wait_s = FIRST_TRY_S
        while True:
            if not self.owed:
                self._noted = trio.Event()
                await self._noted.wait()
                wait_s = FIRST_TRY_S
            await trio.sleep(wait_s)
            try:
                pending = set(await self.store.users_with_pending_deliveries())
            except StorageUnavailable as exc:
                log.info("store still unreachable, %d accounts wait to be woken: %s", len(self.owed), exc)
                wait_s = min(wait_s * 2, LAST_TRY_S)
                continue
            owed, self.owed = self.owed, set()
            # kept growing: an account noted again at once (it still cannot start) waits longer each time
            wait_s = min(wait_s * 2, LAST_TRY_S)
            for user_id in sorted(owed & pending):
                try:
                    await self.post(account_address(user_id), Wake())
                except ActorUnavailable as exc:  # shutting down, or this node's lease lapsed: its next owner takes them
                    log.warning("account=%s not woken: %s", user_id, exc)
                    continue
                self.woken += 1
            log.info("store answers again: woke %d of %d accounts that lost told messages", len(owed & pending), len(owed))
