"""The bus's Redis connection pool: coredis's, keeping its size when a leased connection is lost.

coredis 6.9 puts a released connection back in the pool only if it is still
usable, and refills a slot only for a connection that dies while in the pool.
A connection lost while leased (a blocking inbox read cancelled by its
timeout, which disconnects it; any command in flight when Redis restarts) so
took one of the pool's `max_connections` slots with it: after that many, no
command got a connection again and the node's bus stalled for good. This pool
gives such a slot back; the next command that takes it opens a new connection.
"""

from __future__ import annotations

from typing import Any

import coredis


class SlotKeepingPool(coredis.ConnectionPool[Any]):
    """A ConnectionPool whose connections lost while leased give their slot back."""

    def release(self, connection: Any) -> None:
        super().release(connection)
        slots = self._available_connections
        if not connection.usable and not slots.full():
            slots.append_nowait(None)  # an empty slot: get_connection makes a new connection for it
