"""The account actor's inbox: one class per message.

Messages are plain typed values (frozen dataclasses of builtins, store rows
and wire Structs) that an encoder can carry to another process. A message
that is asked names its answer type through `Asks[...]`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cbor2
import msgspec

from ..runtime import Address, Asks
from ..store.base import MessageRow
from ..wire import AnyDurableEvent, DurableEvent, builtins_of, decode_durable_event
from ..wire.messages import Conversation, Message, ReceiptInfo, TextOrBytes
from ..wire.session import DeviceInfo as DeviceInfo  # re-exported: the device a Login admits
from ..wire.social import DeleteFriendsReply, FriendApplication, UserFullInfo


@dataclass(frozen=True, slots=True)
class LoginAccepted:
    """Answer to Login; the login reply frame itself was already queued."""

    login_id: str
    head_seq: int
    resume_gap: bool
    devices: tuple[DeviceInfo, ...]


@dataclass(frozen=True, slots=True)
class Login(Asks[LoginAccepted]):
    """Admit `device` under the login policy; kicks others if the policy says so.

    `session` receives the login reply (request `request_id`), the replay
    from `resume_from`, and every live event after it, in that order.
    """

    device: DeviceInfo
    session: Address
    request_id: int
    user_name: str = ""
    resume_from: int | None = None


@dataclass(frozen=True, slots=True)
class Logout(Asks[None]):
    """The device logs out on purpose (answered, then its session closes)."""

    login_id: str


@dataclass(frozen=True, slots=True)
class DeviceGone:
    """The device's connection ended (dropped, closed, expired). Told, not asked."""

    login_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class QueryDevices(Asks[list[DeviceInfo]]):
    """Answer with the online devices, in login order."""


@dataclass(frozen=True, slots=True)
class ForceOffline(Asks[int]):
    """Admin: close one device (`login_id`) or all (None) with close 4001; answers the count."""

    login_id: str | None


@dataclass(frozen=True, slots=True)
class KickOwnDevice(Asks[None]):
    """Device `login_id` signs out another online device of the account, `target` (close 4000)."""

    login_id: str
    target: str


@dataclass(frozen=True, slots=True)
class Acked:
    """The device processed every durable event up to `seq`. Told, not asked."""

    login_id: str
    seq: int


# ---- messaging (PROTOCOL.md §6, §7) ------------------------------------------
# `login_id` names the acting device: it gets the reply, the others the event.


@dataclass(frozen=True, slots=True)
class SendPeer(Asks[Message]):
    """Send a peer message (to another user, or to one's own devices); answers the Message."""

    login_id: str
    to_user: str
    type: int
    body: TextOrBytes
    extended_data: str
    has_receipt: bool
    client_message_id: str | None
    to_login_id: str | None


@dataclass(frozen=True, slots=True)
class Deliver:
    """A message committed by its sender, for this account's view and stream.

    Group messages carry their group messageSeq, and the sending device
    (`exclude_login`) when this account is the sender's.
    """

    message: MessageRow
    group_seq: int | None = None
    exclude_login: str | None = None


@dataclass(frozen=True, slots=True)
class TakePending(Asks[None]):
    """A device is about to get the reply of a group's actor: take now what other actors queued for this account (the
    events and deliveries of that group's step among them), so the reply comes after them and every later step of the
    account (a deletion on another device) covers them."""


@dataclass(frozen=True, slots=True)
class Revoke(Asks[Message]):
    login_id: str
    conversation_type: int
    conversation_id: str
    message_id: str


@dataclass(frozen=True, slots=True)
class Revoked:
    """The other party revoked a message this account also holds (a notice, see notice_of)."""

    message_id: str
    outbox_id: int | None = None  # the outbox row it came from, consumed with its event


@dataclass(frozen=True, slots=True)
class DeleteMessages(Asks[None]):
    login_id: str
    conversation_type: int
    conversation_id: str
    message_ids: tuple[str, ...]
    on_server: bool


@dataclass(frozen=True, slots=True)
class DeleteAllMessages(Asks[None]):
    """All messages of one conversation (`conversation_id`), or of all (None)."""

    login_id: str
    conversation_type: int | None
    conversation_id: str | None
    on_server: bool


@dataclass(frozen=True, slots=True)
class QueryConversations(Asks[list[Conversation]]):
    count: int
    after: tuple[bool, int, int, str] | None  # the sort key of the previous page's last one


@dataclass(frozen=True, slots=True)
class QueryConversation(Asks[Conversation]):
    conversation_type: int
    conversation_id: str


@dataclass(frozen=True, slots=True)
class DeleteConversation(Asks[int]):
    """One conversation, or all of them (conversation_id None); answers the count."""

    login_id: str
    conversation_type: int | None
    conversation_id: str | None


@dataclass(frozen=True, slots=True)
class ClearUnread(Asks[None]):
    """Mark one conversation read (or all of them, conversation_id None)."""

    login_id: str
    conversation_type: int | None
    conversation_id: str | None


@dataclass(frozen=True, slots=True)
class UpdateConversation(Asks[None]):
    """Change pin, notification status, draft or marks; None leaves a field alone."""

    login_id: str
    conversation_type: int
    conversation_id: str
    is_pinned: bool | None = None
    notification_status: int | None = None
    draft: str | None = None
    marks: tuple[int, ...] | None = None
    is_marked: bool = True


@dataclass(frozen=True, slots=True)
class ReadReceipts(Asks[list[ReceiptInfo]]):
    """The account read these messages (or, with message_ids None, the whole conversation)."""

    login_id: str
    conversation_type: int
    conversation_id: str
    message_ids: tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class ReceiptsChanged:
    """The other party read messages this account sent (told by the reader's account)."""

    reader: str
    message_ids: tuple[str, ...]
    whole_conversation: bool
    group_id: str | None = None  # set for group messages
    outbox_id: int | None = None  # the outbox row it came from, consumed with its event
    conversation_type: int = 2  # with group_id: 2 a group's messages, 3 a thread's (group_id is then the threadID)


Notice = Revoked | ReceiptsChanged


def notice_of(notice: Notice) -> bytes:
    """A notice as its outbox row keeps it: CBOR [type name, fields], without the row's own ID."""
    fields = msgspec.to_builtins(dataclasses.replace(notice, outbox_id=None))
    del fields["outbox_id"]
    return cbor2.dumps([type(notice).__name__, fields])


_NOTICES: dict[str, type[Notice]] = {"Revoked": Revoked, "ReceiptsChanged": ReceiptsChanged}


def notice_from(blob: bytes, outbox_id: int) -> Notice:
    """The notice an outbox row keeps (see notice_of), to be consumed with row `outbox_id`.

    Raises ValueError for a row that holds no notice this version knows.
    """
    kind, fields = cbor2.loads(blob)
    cls = _NOTICES.get(kind)
    if cls is not None:
        return dataclasses.replace(msgspec.convert(fields, cls), outbox_id=outbox_id)
    return _earlier_notice(kind, fields, outbox_id)


def _earlier_notice(kind: str, fields: dict[str, Any], outbox_id: int) -> Notice:
    """A notice row queued by an earlier version, which kept the fields under the wire's names."""
    if kind == "revoked":
        return Revoked(fields["messageID"], outbox_id)
    if kind == "receiptsChanged":
        ids = tuple(fields["messageIDs"])
        return ReceiptsChanged(fields["reader"], ids, fields["wholeConversation"], fields["groupID"], outbox_id)
    raise ValueError(f"unknown notice kind {kind!r} in outbox row {outbox_id}")


# ---- events from other actors, profiles, friends (§8, §9) ----------------------


@dataclass(frozen=True, slots=True)
class AccountEvents:
    """Durable events another actor (a group, a friend's account) has for this account."""

    events: tuple[AnyDurableEvent, ...]
    exclude_login: str | None = None
    outbox_id: int | None = None  # the outbox row these came from, consumed with them


def events_blob(events: Sequence[DurableEvent]) -> bytes:
    """Durable events as an outbox row keeps them: a CBOR list of event maps."""
    return cbor2.dumps([builtins_of(event) for event in events])


def events_from(blob: bytes) -> tuple[AnyDurableEvent, ...]:
    """The events an outbox row keeps (see events_blob).

    Rows queued by earlier versions hold `[name, fields]` pairs instead of maps; both are read.
    """
    items = cbor2.loads(blob)
    return tuple(
        decode_durable_event(item if isinstance(item, dict) else {"ev": item[0], **item[1]}) for item in items
    )


@dataclass(frozen=True, slots=True)
class UpdateProfile(Asks[UserFullInfo]):
    """Change the user's name, avatar URL or extended data (None leaves it); answers userFullInfo."""

    login_id: str
    user_name: str | None = None
    avatar_url: str | None = None
    extended_data: str | None = None


@dataclass(frozen=True, slots=True)
class AddFriend(Asks[FriendApplication]):
    login_id: str
    user_id: str
    wording: str


@dataclass(frozen=True, slots=True)
class AnswerFriend(Asks[FriendApplication]):
    """Accept or reject the friend application `applicant` sent to this user."""

    login_id: str
    applicant: str
    accept: bool


@dataclass(frozen=True, slots=True)
class DeleteFriends(Asks[DeleteFriendsReply]):
    login_id: str
    user_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RecoverDeliveries:
    """Deliver what is still pending in storage (after a restart); posted to oneself."""


@dataclass(frozen=True, slots=True)
class Wake:
    """Start the actor (which picks up pending deliveries); nothing else."""


@dataclass(frozen=True, slots=True)
class NodesLeft:
    """Cluster nodes left: the devices they served are gone (offline, reason "lost")."""

    nodes: tuple[str, ...]


AccountMsg = (
    Wake | RecoverDeliveries | NodesLeft | Login | Logout | DeviceGone | QueryDevices | ForceOffline | KickOwnDevice | Acked
    | SendPeer | Deliver | TakePending | Revoke | Revoked | DeleteMessages | DeleteAllMessages
    | QueryConversations | QueryConversation | DeleteConversation | ClearUnread | UpdateConversation
    | ReadReceipts | ReceiptsChanged
    | AccountEvents | UpdateProfile | AddFriend | AnswerFriend | DeleteFriends
)
