"""Which node owns an actor: rendezvous hashing over a versioned membership.

Pure functions: every node computes the same owner from the same
membership, and a membership change moves only the actors whose top node
left or was outbid by a newcomer (about 1/N of them).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from ..runtime import Address


@dataclass(frozen=True, slots=True)
class Membership:
    """The nodes of a cluster as one node sees them; `version` grows on every change."""

    version: int
    nodes: tuple[str, ...]


def _weight(node: str, address: Address) -> int:
    digest = hashlib.blake2b(f"{node}\x00{address.kind}\x00{address.key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def owner_of(address: Address, nodes: Sequence[str]) -> str:
    """The node that hosts `address`. Raises ValueError for an empty cluster."""
    if not nodes:
        raise ValueError("no nodes in the membership")
    return max(nodes, key=lambda node: (_weight(node, address), node))


NODE_KIND = "node"  # Address(NODE_KIND, name) is a node itself (its gateway), never placed by hashing


def home_of(address: Address, nodes: Sequence[str]) -> str:
    """Where `address` lives: the named node for a node address, else `owner_of`."""
    if address.kind == NODE_KIND:
        return address.key
    return owner_of(address, nodes)
