"""What this node's devices may sit in, in a cluster (rooms, calls whose actors live on other nodes).

A room's or a call's actor keeps the truth on its owner node, which may be
another node. The node that holds a device notes each room or call the
device asks to get into, before it asks, so that when the device's
connection ends it tells every one of them (a room or call the device
is not in, or no longer in, ignores that).
"""

from __future__ import annotations

from collections.abc import Callable


class LocalSeats:
    """Login ID -> the rooms (or calls) its device asked to get into and did not leave."""

    def __init__(self) -> None:
        self._by_login: dict[str, set[str]] = {}

    def note(self, login_id: str, key: str) -> None:
        self._by_login.setdefault(login_id, set()).add(key)

    def forget(self, login_id: str, key: str) -> None:
        keys = self._by_login.get(login_id)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._by_login[login_id]

    def take_where(self, lost: Callable[[str], bool]) -> list[tuple[str, str]]:
        """Forget, and return as (login ID, key), every entry whose key `lost` names."""
        taken = [(login_id, key) for login_id, keys in self._by_login.items() for key in keys if lost(key)]
        for login_id, key in taken:
            self.forget(login_id, key)
        return taken

    def ended(self, login_id: str) -> set[str]:
        """The device's connection ended: what it may sit in, forgotten here."""
        return self._by_login.pop(login_id, set())
