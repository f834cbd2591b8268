"""Pure permission rules of groups (PROTOCOL.md §9)."""

from __future__ import annotations

OWNER, ADMIN, MEMBER = 1, 2, 3

# ZIM's group state and event numbers
STATE_QUIT, STATE_ENTER = 0, 1
EVENT_CREATED, EVENT_DISMISSED, EVENT_JOINED, EVENT_INVITED, EVENT_LEFT, EVENT_KICKED_OUT = 1, 2, 3, 4, 5, 6
MEMBER_JOINED, MEMBER_LEFT, MEMBER_KICKED_OUT, MEMBER_INVITED = 1, 2, 4, 5

# join modes (PROTOCOL.md §9, "Joining")
JOIN_ANY, JOIN_AUTH, JOIN_FORBID = 0, 1, 2


def can_manage(role: int) -> bool:
    """Admins and the owner may invite, kick, rename and edit notice and attributes."""
    return role in (OWNER, ADMIN)


def can_kick(actor_role: int, target_role: int) -> bool:
    """The owner kicks anyone else; an admin kicks plain members only."""
    return actor_role == OWNER and target_role != OWNER or actor_role == ADMIN and target_role == MEMBER
