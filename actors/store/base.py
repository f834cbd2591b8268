"""What the actors need from storage: records and one Protocol per concern.

Actors depend on these Protocols only. `sqlite.py` is the embedded default;
a PostgreSQL adapter implements the same Protocols for cluster mode. Times
are integers in milliseconds since the epoch; `seq` numbers are assigned by
the account actor, never by the store.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from ..wire.messages import TextOrBytes

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    """One login of one device: `login_id` is unique per login, not per device."""

    login_id: str
    device_id: str
    platform: str
    device_name: str
    login_time: int  # ms since epoch


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One event of an account's durable stream; `payload` is an encoded CBOR map."""

    seq: int
    name: str
    payload: bytes
    time: int  # ms since epoch
    only_device: str | None = None  # meant for this deviceID alone (None: every device)


@dataclass(frozen=True, slots=True)
class Fence:
    """A write made by `actor` ("kind:key") while its claim held `epoch`.

    The write commits only while `epoch` is still the actor's current one;
    once another node has claimed the actor it fails with OwnershipLost and
    nothing of it is stored.
    """

    actor: str
    epoch: int


@dataclass(frozen=True, slots=True)
class Claim:
    """A write that takes `actor` over: it moves the actor's epoch on (see OwnershipStore.claim)."""

    actor: str


def fence_of(actor: str, epoch: int | None) -> Fence | None:
    """The fence for `actor`'s writes, or None when it holds no epoch (it was never claimed: no check)."""
    return None if epoch is None else Fence(actor, epoch)


class OwnershipStore(Protocol):
    """One owner per actor: an epoch per actor, moved on by each claim, checked by each fenced write."""

    async def claim(self, actor: str, node: str, now_ms: int) -> int:
        """Take `actor` over for `node`: its epoch goes up by one; return the new epoch.

        Durable when it returns. From then on every write fenced with an
        older epoch fails with OwnershipLost. Concurrent claims are
        serialised: each gets its own epoch, and the last one holds the actor.
        """
        ...

    async def owner(self, actor: str) -> tuple[str, int] | None:
        """(node, epoch) of the last claim of `actor`, or None if it was never claimed."""
        ...


class AccountStore(Protocol):
    """The account row every other per-account table hangs from."""

    async def ensure_account(self, user_id: str, user_name: str | None, now_ms: int) -> None:
        """Create the account if missing; a non-empty `user_name` replaces the stored one."""
        ...


class DeviceStore(Protocol):
    """Which devices are online on which node, and the login history."""

    async def device_online(self, user_id: str, node: str, device: DeviceRecord) -> None:
        """Record `device` as online on `node` and append it to the login history.

        Upserts by `device.login_id`; creates the account row if it is missing.
        """
        ...

    async def device_offline(self, user_id: str, login_id: str, now_ms: int, reason: str) -> None:
        """Remove the online row and close its history entry; an unknown login is a no-op."""
        ...

    async def online_devices(self, user_id: str) -> list[DeviceRecord]:
        """The devices online now, oldest login first (ties: insertion order)."""
        ...

    async def node_devices(self, node: str) -> list[tuple[str, DeviceRecord]]:
        """(user_id, record) of every device online on `node`, in login order."""
        ...

    async def clear_node_devices(self, node: str, now_ms: int, webhooks: Sequence[WebhookRow] = ()) -> int:
        """Mark every device online on `node` offline with reason 'restart'; return how many.

        Called when `node` starts: connections do not survive a restart.
        `webhooks` (their userOffline calls) are queued in the same transaction.
        """
        ...

    async def login_history(
        self, user_id: str, limit: int
    ) -> list[tuple[DeviceRecord, int | None, str | None]]:
        """Up to `limit` logins, newest first, as (record, logout_time, logout_reason)."""
        ...


class StreamStore(Protocol):
    """The per-account durable event stream that devices resume from."""

    async def append_events(self, user_id: str, events: Sequence[StoredEvent]) -> None:
        """Store `events` and move the account's head to the last seq, atomically.

        Seqs must be strictly increasing and above the stored head (ValueError
        otherwise, nothing stored). Creates the account row if it is missing.
        """
        ...

    async def events_after(self, user_id: str, after_seq: int, limit: int) -> list[StoredEvent]:
        """Up to `limit` retained events with seq > `after_seq`, ascending."""
        ...

    async def stream_bounds(self, user_id: str) -> tuple[int, int]:
        """(oldest retained seq, head seq); oldest is head + 1 when nothing is retained.

        An unknown account has head 0.
        """
        ...

    async def trim_stream(self, user_id: str, keep_count: int, min_time_ms: int, *, fence: Fence | None = None) -> int:
        """Delete events older than the newest `keep_count` or older than `min_time_ms`.

        The head never moves back. Returns how many events were deleted.
        Raises OwnershipLost (nothing deleted) if `fence` is stale.
        """
        ...



# ---- calls to the application backend (webhooks) ---------------------------


@dataclass(frozen=True, slots=True)
class WebhookRow:
    """One call to the application backend, queued in the transaction of the change that caused it."""

    delivery_id: str  # X-Hubbub-Delivery: the same on every retry
    account: str  # calls of one account are delivered in queue order
    event: str
    body: bytes  # the JSON body exactly as it is signed and sent
    queued_time: int  # ms since epoch


@dataclass(frozen=True, slots=True)
class QueuedWebhook:
    """A queued call and where its delivery stands."""

    queue_id: int
    row: WebhookRow
    attempts: int
    next_attempt: int  # ms since epoch
    retry_from: int  # ms since epoch: retries give up a while after this
    last_error: str
    failed: bool  # retries gave up: set aside until an operator retries or drops it


@dataclass(frozen=True, slots=True)
class WebhookHold:
    """A node's claim on a queued call: only while the store still has it may the node record the call's outcome."""

    holder: str  # the node that claimed the call
    until: int  # ms since epoch: the claim expires then (the call's next_attempt), and another node may take the call


@dataclass(frozen=True, slots=True)
class WebhookClaims:
    """What one claim took, and when the worker should look again."""

    calls: list[QueuedWebhook]  # claimed, soonest first; each one's next_attempt is the claim's expiry
    next_due: int | None  # ms since epoch: the soonest next_attempt of any head now (claims included); None: no call waits


class WebhookStore(Protocol):
    """The durable queue of calls to the application backend (rows come with AccountWrite and GroupWrite).

    Calls go out in queue order per account: only an account's oldest call
    that is not set aside (its head) is ever claimed, and one node at a time
    holds a call (`webhook_claim`). The holder records the outcome; if its
    claim expired and another node took the call meanwhile, the record
    changes nothing and says so (False).
    """

    async def webhook_heads(self, limit: int) -> list[QueuedWebhook]:
        """The oldest call of each account that is not set aside, soonest `next_attempt` first, at most `limit`."""
        ...

    async def webhook_claim(self, holder: str, limit: int, now_ms: int, until_ms: int) -> WebhookClaims:
        """Claim up to `limit` heads due at `now_ms` (soonest first) for `holder` until `until_ms`.

        A claimed call is not due for anyone else until the claim expires.
        On a shared store, heads another node is claiming at this very moment
        are passed over (never waited for).
        """
        ...

    async def webhook_release(self, holder: str | None, now_ms: int) -> int:
        """Make the calls `holder` (None: anyone) claimed and never finished due again at `now_ms`; how many.

        For a start after a crash: the process that claimed them is gone.
        """
        ...

    async def webhook_delivered(self, queue_id: int, hold: WebhookHold) -> bool:
        """The backend took the call: it leaves the queue, if `hold` is still its claim."""
        ...

    async def webhook_retry_later(self, queue_id: int, hold: WebhookHold, attempts: int, next_attempt: int, error: str) -> bool:
        """Record a failed attempt and when to try again (by any node), if `hold` is still the call's claim."""
        ...

    async def webhook_set_aside(self, queue_id: int, hold: WebhookHold, attempts: int, error: str) -> bool:
        """Retries gave up: keep the call, out of the way of the account's later calls, if `hold` is still its claim."""
        ...

    async def webhook_counts(self) -> tuple[int, int]:
        """(calls waiting, calls set aside)."""
        ...

    async def webhook_list(self, limit: int, *, set_aside: bool | None = None, account: str | None = None) -> list[QueuedWebhook]:
        """Queued calls in queue order; only set-aside ones, only waiting ones, or both (None)."""
        ...

    async def webhook_retry_now(self, delivery_id: str | None, now_ms: int) -> int:
        """Make a call (None: every set-aside call) due now, with a fresh retry window; how many."""
        ...

    async def webhook_drop(self, delivery_id: str | None) -> int:
        """Remove a call (None: every set-aside call) from the queue; how many."""
        ...


# ---- messages and conversations ---------------------------------------------


@dataclass(frozen=True, slots=True)
class MessageRow:
    """A message as stored once; `target` is the receiving user or the group."""

    message_id: str
    conversation_type: int
    sender: str
    target: str
    type: int
    body: TextOrBytes
    extended_data: str
    timestamp: int
    client_message_id: str | None
    has_receipt: bool
    receipt_status: int
    is_revoked: bool = False


@dataclass(frozen=True, slots=True)
class ViewedMessage:
    """A message as one user sees it: in which conversation, at which seq."""

    message: MessageRow
    conversation_id: str
    message_seq: int
    direction: int


@dataclass(frozen=True, slots=True)
class ConversationRow:
    """One user's conversation; unread counts received messages above `read_seq`."""

    conversation_id: str
    conversation_type: int
    name: str = ""
    last_seq: int = 0
    read_seq: int = 0
    unread: int = 0
    last_message_id: str | None = None
    order_key: int = 0
    is_pinned: bool = False
    notification_status: int = 1
    draft: str = ""
    marks: tuple[int, ...] = ()
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class ViewRow:
    """Places a message in a user's conversation at `message_seq`."""

    conversation_type: int
    conversation_id: str
    message_seq: int
    message_id: str
    direction: int


@dataclass(slots=True)
class AccountWrite:
    """Everything one account-actor step changes, committed in one transaction.

    Not frozen: a step's write is its own, and its commit sets the events and
    webhook calls on it rather than copying two dozen fields (`replace`, on
    every delivery).
    """

    user_id: str
    events: Sequence[StoredEvent] = ()
    conversations: Sequence[ConversationRow] = ()
    new_message: MessageRow | None = None
    views: Sequence[ViewRow] = ()
    hide: Sequence[tuple[int, str, str]] = ()  # (type, conversation, message_id) leave this user's view
    hide_all: Sequence[tuple[int, str]] = ()  # every message of (type, conversation) leaves the view
    deliveries: Sequence[tuple[str, str]] = ()  # (receiver, message_id) to deliver later
    delivered: str | None = None  # this user's pending delivery of message_id is consumed
    outbox_events: Sequence[tuple[str, bytes, str | None]] = ()  # (receiver, CBOR events, exclude_login)
    outbox_notices: Sequence[tuple[str, bytes]] = ()  # (receiver, CBOR notice); IDs follow the events'
    delivered_outbox: int | None = None  # this user's outbox row (events or notice) is consumed
    revoke: str | None = None
    receipts_read: Sequence[str] = ()
    group_reads: Sequence[str] = ()  # group messages this user has read
    profile: tuple[str, str, str] | None = None  # (user_name, avatar_url, extended_data)
    friend_application: tuple[str, str, str, int, int] | None = None  # (from, to, wording, state, time)
    friends_add: Sequence[tuple[str, str, str, int]] = ()  # (user, friend, wording, time)
    friends_remove: Sequence[tuple[str, str]] = ()
    account: tuple[str | None, int] | None = None  # create the account if missing: (user name to set, now ms)
    devices_offline: Sequence[tuple[str, int, str]] = ()  # (login_id, now ms, reason), as device_offline
    device_online: tuple[str, DeviceRecord] | None = None  # (node, device), as device_online
    webhooks: Sequence[WebhookRow] = ()  # calls to the application backend this change causes


@dataclass(frozen=True, slots=True)
class Pending:
    """One outbox row for a user: a message (with its group messageSeq), durable events or a notice."""

    queued: int
    message: MessageRow | None
    group_seq: int | None
    events: bytes | None  # CBOR list of event maps, see actors.account.messages.events_blob
    exclude_login: str | None
    notice: bytes | None = None  # CBOR [kind, fields], see actors.account.messages.notice_of


@dataclass(frozen=True, slots=True)
class AccountState:
    """What an account actor restores when it starts, read in one go."""

    oldest_seq: int  # as StreamStore.stream_bounds
    head_seq: int
    online: list[DeviceRecord]  # as DeviceStore.online_devices
    conversations: list[tuple[ConversationRow, MessageRow | None]]  # as MessageStore.load_conversations
    deliveries_pending: bool  # whether the outbox holds anything for the account


class AlreadyDelivered(Exception):
    """The pending delivery named by AccountWrite.delivered was consumed before."""


class ClientMessageIDTaken(Exception):
    """Another message of the sender took its clientMessageID within the window first (at the same moment, through another writer).

    Nothing of the write was applied. The sender answers with the message
    that took it, as for any repeat (PROTOCOL.md §4): it is stored, and
    `find_client_message(sender, client_message_id, since_ms)` finds it.
    """

    def __init__(self, sender: str, client_message_id: str, since_ms: int) -> None:
        super().__init__(f"clientMessageID {client_message_id!r} of {sender} is taken by another message")
        self.sender = sender
        self.client_message_id = client_message_id
        self.since_ms = since_ms


class MessageStore(Protocol):
    """Messages, each user's view of them, conversations, pending deliveries."""

    async def commit(self, change: AccountWrite, *, fence: Fence | None = None) -> list[int]:
        """Apply `change` atomically; return the outbox IDs of its `outbox_events`, then of its `outbox_notices`.

        Raises AlreadyDelivered, ClientMessageIDTaken, or OwnershipLost if `fence` is stale (nothing applied).
        """
        ...

    async def load_conversations(self, user_id: str) -> list[tuple[ConversationRow, MessageRow | None]]:
        """Every conversation of the user with its last message."""
        ...

    async def account_state(self, user_id: str) -> AccountState:
        """The stream's bounds, the online devices, the conversations and whether deliveries wait: one read.

        Coalesced with the other accounts starting at once (one read for many).
        """
        ...

    async def account_states(self, user_ids: Sequence[str]) -> dict[str, AccountState]:
        """`account_state` of each user, in one read."""
        ...

    async def find_client_message(self, sender: str, client_message_id: str, since_ms: int) -> MessageRow | None:
        ...

    async def viewed(self, user_id: str, conversation_type: int, conversation_id: str, message_ids: Sequence[str]) -> list[ViewedMessage]:
        """Those of `message_ids` that are in this user's view of the conversation."""
        ...

    async def view_of(self, user_id: str, message_id: str) -> ViewedMessage | None:
        """Where a message sits in this user's view, if it does."""
        ...

    async def message_holders(self, message_id: str) -> list[str]:
        """The users whose view holds the message (a group's or thread's former members too)."""
        ...

    async def history(
        self, user_id: str, conversation_type: int, conversation_id: str, count: int, next_seq: int | None, reverse: bool
    ) -> list[ViewedMessage]:
        """Newest first below `next_seq` (or oldest first above it when `reverse`)."""
        ...

    async def unread_receipts(self, user_id: str, conversation_type: int, conversation_id: str) -> list[ViewedMessage]:
        """Received messages in the view that asked for a receipt and are not read yet."""
        ...

    async def pending_deliveries(self, user_id: str) -> list[Pending]:
        """What the outbox holds for this user, in the order it was queued (coalesced with other users' at once)."""
        ...

    async def pending_deliveries_of(self, user_ids: Sequence[str]) -> dict[str, list[Pending]]:
        """`pending_deliveries` of each user, in one read."""
        ...

    async def users_with_pending_deliveries(self) -> list[str]:
        ...



# ---- groups, friends, profiles ----------------------------------------------


@dataclass(frozen=True, slots=True)
class ThreadRecord:
    """A thread's stored state (PROTOCOL.md §15); `members` maps userID -> joined_time.

    `last_seq` is the newest thread messageSeq and `last_message` that message.
    """

    thread_id: str
    group_id: str
    parent_message_id: str
    name: str
    owner: str
    created_time: int
    last_seq: int = 0
    members: dict[str, int] = field(default_factory=dict)
    last_message: MessageRow | None = None


@dataclass(frozen=True, slots=True)
class GroupRecord:
    """A group's stored state; `members` maps userID -> (role, joined_time).

    `join_mode` is 0 Any, 1 Auth, 2 Forbid; `applications` maps each pending
    applicant to the time it applied; `barred` holds the users kicked out,
    who may not rejoin by joinGroup until invited or accepted again.
    `member_attributes` holds the members' attribute maps (§16), none empty.
    `threads` holds the group's live threads by threadID (§15).
    """

    group_id: str
    name: str
    notice: str
    attributes: dict[str, str]
    created_time: int
    last_seq: int
    members: dict[str, tuple[int, int]]
    dismissed: bool = False
    join_mode: int = 0
    applications: dict[str, int] = field(default_factory=dict)
    barred: frozenset[str] = frozenset()
    member_attributes: dict[str, dict[str, str]] = field(default_factory=dict)
    threads: dict[str, ThreadRecord] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class GroupWrite:
    """What one group-actor step changes, committed in one transaction."""

    group: GroupRecord  # the group row (members below are applied separately)
    upsert_members: Sequence[tuple[str, int, int]] = ()  # (user, role, joined_time)
    remove_members: Sequence[str] = ()
    new_message: MessageRow | None = None  # a group message, or a thread message (conversation type 3)
    message_seq: int = 0  # its seq in its group or thread
    deliveries: Sequence[tuple[str, str, str | None]] = ()  # (member, message_id, the sending device for the sender)
    member_events: Sequence[tuple[str, bytes, str | None]] = ()  # (member, CBOR events, exclude_login)
    add_applications: Sequence[tuple[str, int]] = ()  # (applicant, applied_time)
    remove_applications: Sequence[str] = ()
    bar: Sequence[str] = ()  # kicked: joinGroup refused until invited or accepted
    unbar: Sequence[str] = ()
    member_attributes: Sequence[tuple[str, dict[str, str]]] = ()  # (member, its whole attribute map now)
    threads: Sequence[ThreadRecord] = ()  # thread rows to save (their members are applied below)
    drop_threads: Sequence[str] = ()  # destroyed: each thread's row and members go
    thread_joins: Sequence[tuple[str, str, int]] = ()  # (thread, user, joined_time)
    thread_leaves: Sequence[tuple[str, str]] = ()  # (thread, user)
    webhooks: Sequence[WebhookRow] = ()  # calls to the application backend this change causes


@dataclass(frozen=True, slots=True)
class UserProfile:
    user_id: str
    user_name: str
    avatar_url: str
    extended_data: str


class SocialStore(Protocol):
    """Groups, friends and profiles."""

    async def load_group(self, group_id: str) -> GroupRecord | None: ...

    async def commit_group(self, change: GroupWrite, *, fence: Fence | None = None) -> list[int]:
        """Apply `change` atomically; return the outbox IDs of its `member_events`, in order.

        Raises OwnershipLost (nothing applied) if `fence` is stale.
        """
        ...

    async def user_groups(self, user_id: str) -> list[tuple[GroupRecord, int]]:
        """Groups the user is a member of (without member lists) and the user's role."""
        ...

    async def group_applications(self, user_id: str) -> list[tuple[str, str, int]]:
        """(groupID, applicant, applied_time) of the pending join applications the user made or may answer."""
        ...

    async def group_read_counts(self, message_ids: Sequence[str], *, counting: str | None = None) -> dict[str, int]:
        """Readers of each group message; with `counting`, as they will be once that user has read them too."""
        ...

    async def group_message_seq(self, group_id: str, message_id: str) -> int | None:
        """The messageSeq of `message_id` in group `group_id`, or None if it is not one of its messages."""
        ...

    async def thread_group(self, thread_id: str) -> str | None:
        """The group a live thread belongs to (None: no such thread, or destroyed)."""
        ...

    async def thread_members(self, thread_id: str) -> list[str]:
        """The members of a live thread, in the order they joined (none for no thread)."""
        ...

    async def joined_threads(self, user_id: str, count: int, offset: int) -> tuple[list[ThreadRecord], bool]:
        """A page of the live threads the user is a member of, oldest first, and whether more follow."""
        ...

    async def profiles(self, user_ids: Sequence[str]) -> list[UserProfile]: ...

    async def friends(self, user_id: str) -> list[tuple[str, str, int]]:
        """(friend, wording, since) of the user."""
        ...

    async def friend_applications(self, user_id: str) -> list[tuple[str, str, str, int, int]]:
        """(from, to, wording, state, time) sent or received by the user."""
        ...


class SettingsStore(Protocol):
    """Run-time settings (the login policy set by the admin API) kept across restarts, as JSON text."""

    async def load_setting(self, name: str) -> str | None:
        """The JSON text saved under `name`, or None if never saved."""
        ...

    async def save_setting(self, name: str, value: str, now_ms: int) -> None:
        """Save `value` under `name`, replacing it; durable when this returns."""
        ...


class Store(
    OwnershipStore, AccountStore, DeviceStore, StreamStore, MessageStore, SocialStore, SettingsStore, WebhookStore, Protocol
):
    """Every concern in one object, plus the primitives later features build on.

    `write` and `read` run `fn` with an engine connection (a `sqlite3.Connection`
    for SQLite) in a worker thread; `Any` here lets other engines implement it.

    `shared` says whether several nodes may use the store at once
    (PostgreSQL): then every actor that writes must claim itself first and
    fence its writes. An unshared store (SQLite) belongs to one process,
    which owns every actor: claims there are not needed, though they work
    the same.
    """

    shared: bool

    async def write(self, fn: Callable[[Any], T], *, fence: Fence | Claim | None = None) -> T:
        """Run `fn` in a write transaction; return its result once committed.

        With a Fence, `fn` runs only while the fence's epoch is current
        (checked in the same transaction); otherwise it raises OwnershipLost
        without running. A Claim marks the write that moves an actor's epoch.
        """
        ...

    async def read(self, fn: Callable[[Any], T]) -> T:
        """Run `fn` on a read-only snapshot and return its result."""
        ...
