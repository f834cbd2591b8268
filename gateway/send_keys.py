"""One send at a time per clientMessageID of a user (PROTOCOL.md §4).

A `clientMessageID` is the user's key across conversations: a repeat within
24 h returns the original message. Peer sends are checked in the sender's
account actor and group sends in each group's actor, so two concurrent
sends with one key (two groups at once, from two devices) could both find
no earlier message and both create one. Holding the key here while a send
is in flight makes the repeat wait for the first to be stored; it then
finds it and answers the original.

The lock is this node's. Devices of one user on several nodes of a cluster
may still race; the store settles it: a message's write takes its key
(the `send_keys` table) in the same transaction, a second message with a
key taken within the window changes nothing (ClientMessageIDTaken), and
the actor that wrote it answers with the message that took the key.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio


class _Held:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = trio.Lock()  # FIFO: repeats go in the order they came
        self.users = 0


class SendKeys:
    """The clientMessageIDs with a send in flight, per user.

    One entry per key in use, dropped when its last send ends: the table is
    bounded by the requests in flight. A waiter waits at most as long as the
    send ahead of it, itself bounded by the ask timeout, and is cancelled
    with its session.
    """

    def __init__(self) -> None:
        self._held: dict[tuple[str, str], _Held] = {}

    def __len__(self) -> int:
        return len(self._held)

    @asynccontextmanager
    async def holding(self, user_id: str, client_message_id: str | None) -> AsyncIterator[None]:
        """Run the body as the only send of (`user_id`, `client_message_id`); no key: no wait."""
        if client_message_id is None:
            yield
            return
        key = (user_id, client_message_id)
        held = self._held.get(key)
        if held is None:
            held = self._held[key] = _Held()
        held.users += 1
        try:
            async with held.lock:
                yield
        finally:
            held.users -= 1
            if held.users == 0:
                del self._held[key]
