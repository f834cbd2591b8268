"""The gateway's device directory: session address -> live device session.

It is how actors reach devices (it implements actors.outbound.DeviceSink):
pushes never block, a session whose queue is full is closed as slow, and a
Disconnect (a kick) reaches the session on its control path, never behind
queued data.
"""

from __future__ import annotations

from typing import Protocol

from actors.outbound import Outbound
from actors.runtime import Address

from .send_queue import SendQueue


class Reachable(Protocol):
    """A device session as the directory sees it (gateway/session.py implements it)."""

    @property
    def outbound(self) -> SendQueue: ...

    @property
    def user_id(self) -> str | None: ...

    def offer(self, item: Outbound) -> bool: ...


class Elsewhere(Protocol):
    """Sessions on the other nodes of a cluster (gateway/cluster.py implements it)."""

    def push(self, session: Address, item: Outbound) -> bool: ...

    def is_connected(self, session: Address) -> bool: ...


class DeviceDirectory:
    """Maps session addresses to the sessions of this gateway process.

    In a cluster, `elsewhere` carries what is meant for a session this
    process does not hold to the node that does.
    """

    def __init__(self) -> None:
        self._sessions: dict[Address, Reachable] = {}
        self.slow_disconnects = 0
        self.elsewhere: Elsewhere | None = None

    def register(self, address: Address, session: Reachable) -> None:
        self._sessions[address] = session

    def unregister(self, address: Address, session: Reachable) -> None:
        if self._sessions.get(address) is session:
            del self._sessions[address]

    def push(self, session: Address, item: Outbound) -> bool:
        """Data goes into the session's bounded queue, a Disconnect on its control path (never blocks)."""
        target = self._sessions.get(session)
        if target is None:
            return self.elsewhere is not None and self.elsewhere.push(session, item)
        return target.offer(item)

    def queued(self, session: Address) -> int | None:
        """Frames waiting in the session's outbound queue; None when it is gone."""
        target = self._sessions.get(session)
        if target is None:
            # another node's session: its own node judges its queue
            return 0 if self.elsewhere is not None and self.elsewhere.is_connected(session) else None
        return len(target.outbound)

    def holds(self, session: Address) -> bool:
        """Whether the session is one of this process's."""
        return session in self._sessions

    def is_connected(self, session: Address) -> bool:
        if session in self._sessions:
            return True
        return self.elsewhere is not None and self.elsewhere.is_connected(session)

    def push_here(self, session: Address, item: Outbound) -> bool:
        """Push to a session of this process only (what another node sent for it)."""
        target = self._sessions.get(session)
        return False if target is None else target.offer(item)

    def __len__(self) -> int:
        return len(self._sessions)

    def by_address(self) -> list[tuple[Address, Reachable]]:
        return list(self._sessions.items())

    def sessions(self) -> list[Reachable]:
        return list(self._sessions.values())
