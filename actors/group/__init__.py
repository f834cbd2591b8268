"""Group actors: persistent member sets with roles, and group messages."""
