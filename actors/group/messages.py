"""The group actor's inbox. `user`/`login_id` name the acting user and device."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CreateGroup:
    user: str
    login_id: str
    name: str
    member_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class JoinGroup:
    user: str
    login_id: str


@dataclass(frozen=True, slots=True)
class LeaveGroup:
    user: str
    login_id: str


@dataclass(frozen=True, slots=True)
class InviteUsers:
    user: str
    login_id: str
    user_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class KickMembers:
    user: str
    login_id: str
    user_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DismissGroup:
    user: str
    login_id: str


@dataclass(frozen=True, slots=True)
class SetRole:
    """Owner only: give `target` a role; role 1 (Owner) transfers ownership."""

    user: str
    login_id: str
    target: str
    role: int


@dataclass(frozen=True, slots=True)
class UpdateGroupInfo:
    """Admin or Owner: change name, notice or attributes (None leaves a field alone)."""

    user: str
    login_id: str
    name: str | None = None
    notice: str | None = None
    set_attributes: tuple[tuple[str, str], ...] = ()
    delete_keys: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class QueryGroupInfo:
    user: str


@dataclass(frozen=True, slots=True)
class QueryMembers:
    user: str
    count: int
    next_flag: int


@dataclass(frozen=True, slots=True)
class SendGroupMessage:
    user: str
    login_id: str
    type: int
    body: str | bytes
    extended_data: str
    has_receipt: bool
    client_message_id: str | None


GroupMsg = (
    CreateGroup | JoinGroup | LeaveGroup | InviteUsers | KickMembers | DismissGroup
    | SetRole | UpdateGroupInfo | QueryGroupInfo | QueryMembers | SendGroupMessage
)
