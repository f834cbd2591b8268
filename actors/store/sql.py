"""The slice of a DB-API connection that the SQL shared by both engines uses.

The domain SQL in `sql_accounts`, `sql_messages` and `sql_social` is written
once, in the subset SQLite and PostgreSQL both speak: `?` placeholders,
`INSERT ... ON CONFLICT`, `RETURNING`, flags stored as 0/1 integers. A
`sqlite3.Connection` is such a connection as it is; the PostgreSQL adapter
wraps a psycopg connection to be one (placeholders, bools as integers).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol


class Cursor(Protocol):
    """The result of one statement."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """Runs statements inside the transaction the store opened; never commits."""

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Cursor: ...

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Cursor: ...


def in_marks(keys: Sequence[Any]) -> tuple[str, list[Any]]:
    """`(?, ?, ...)` for the non-empty `keys` and its parameters, padded to a power of two with the last key.

    Both engines take a list of marks; padding keeps the statement texts
    few (one per power of two), so the statement caches hold them all.
    """
    size = 1 << (len(keys) - 1).bit_length()
    return f"({', '.join('?' * size)})", [*keys, *([keys[-1]] * (size - len(keys)))]


def upsert(table: str, columns: Sequence[str], key: Sequence[str]) -> str:
    """`INSERT` of every column that replaces the row with the same `key` (both engines)."""
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in key)
    marks = ", ".join("?" * len(columns))
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks}) ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"
