"""Address: what an actor reference points at, independent of where it lives."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Address:
    """(kind, key) names one actor cluster-wide, e.g. ("account", "alice")."""

    kind: str
    key: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.key}"
