"""Where a server's state lives: SQLite in its data dir (the default), or PostgreSQL at a URL."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from .base import Store
from .postgres import describe, open_postgres_store
from .sqlite import DB_FILE_NAME, open_sqlite_store

log = logging.getLogger("hubbub.store")

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres_url(url: str) -> bool:
    """Whether `url` names a PostgreSQL database (a libpq URL)."""
    return url.startswith(POSTGRES_SCHEMES)


@asynccontextmanager
async def open_store(data_dir: Path, store_url: str | None = None) -> AsyncIterator[Store]:
    """Open the store: `data_dir/hubbub.sqlite3`, or the PostgreSQL database at `store_url`.

    Raises ValueError for a `store_url` that is not a postgresql:// URL,
    StorageUnavailable when the store cannot be opened.
    """
    if store_url is None:
        log.info("store=sqlite path=%s", data_dir / DB_FILE_NAME)
        async with open_sqlite_store(data_dir) as sqlite_store:
            yield sqlite_store
        return
    if not is_postgres_url(store_url):
        raise ValueError(f"store URL must start with {' or '.join(POSTGRES_SCHEMES)}")
    log.info("store=postgresql %s", describe(store_url))
    async with open_postgres_store(store_url) as postgres_store:
        yield postgres_store
