"""SettingsStore in the SQL both engines speak (see `sql`): run-time settings kept across restarts."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from .sql import Connection, upsert

T = TypeVar("T")

_SAVE = upsert("server_settings", ("name", "value", "updated_time"), ("name",))


class SqlSettingsStore:
    """Named JSON settings; mixed into a store class, which provides read/write."""

    if TYPE_CHECKING:

        async def write(self, fn: Callable[[Connection], T]) -> T: ...

        async def read(self, fn: Callable[[Connection], T]) -> T: ...

    async def load_setting(self, name: str) -> str | None:
        """The JSON text saved under `name`, or None if never saved."""
        return await self.read(lambda conn: _load(conn, name))

    async def save_setting(self, name: str, value: str, now_ms: int) -> None:
        """Save the JSON text `value` under `name` (replacing it); durable when this returns."""
        await self.write(lambda conn: conn.execute(_SAVE, (name, value, now_ms)))


def _load(conn: Connection, name: str) -> str | None:
    row = conn.execute("SELECT value FROM server_settings WHERE name = ?", (name,)).fetchone()
    return None if row is None else str(row[0])
