"""Schema migrations, one package of numbered SQL files per engine.

Files are named `NNNN_what.sql`, applied in number order and recorded in a
`schema_version` table by the engine's adapter; never edited after release.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

_FILE_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    """One migration file: its number, file name (safe to inline in SQL) and text."""

    version: int
    name: str
    sql: str


def packaged(engine: str) -> list[Migration]:
    """Every migration shipped for `engine` ("sqlite", ...), in order; raises on a duplicate number."""
    found: list[Migration] = []
    for entry in resources.files(f"{__name__}.{engine}").iterdir():
        match = _FILE_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), entry.name, entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    if len({m.version for m in found}) != len(found):
        raise RuntimeError(f"duplicate migration numbers for {engine}")
    return found
