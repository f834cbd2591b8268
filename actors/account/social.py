"""The account actor's profile and friend handlers (PROTOCOL.md §8).

A friend operation changes both users' friend rows in the acting account's
transaction, together with its own durable events; the other account gets
its events as AccountEvents.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import AlreadyExists, InvalidArgument
from ..store.base import UserProfile
from ..wire import AnyDurableEvent, DurableEvent, ErrorUser, UserRef
from ..wire import social as w
from .messages import AccountEvents, AddFriend, AnswerFriend, DeleteFriends, UpdateProfile, events_blob

if TYPE_CHECKING:
    from .actor import AccountContext

Event = AnyDurableEvent
WAITING, ACCEPTED, REJECTED = 0, 1, 2
FRIEND_ADDED, FRIEND_DELETED = 0, 1


def profile_wire(profile: UserProfile) -> w.UserFullInfo:
    """The protocol's user full info."""
    return w.UserFullInfo(
        base_info=w.UserBaseInfo(user_id=profile.user_id, user_name=profile.user_name),
        user_avatar_url=profile.avatar_url,
        extended_data=profile.extended_data,
    )


def application_wire(from_user: str, to_user: str, wording: str, state: int, at: int) -> w.FriendApplication:
    """The protocol's friend application (the stored row's fields in order)."""
    return w.FriendApplication(
        apply_user=UserRef(user_id=from_user), to_user=UserRef(user_id=to_user), wording=wording, state=state, update_time=at
    )


def friend_wire(user_id: str, wording: str, since: int) -> w.FriendInfo:
    """The protocol's friend entry (the stored row's fields in order)."""
    return w.FriendInfo(user_id=user_id, wording=wording, create_time=since)


class Social:
    """Mixed into AccountActor."""

    user_id: str
    ctx: AccountContext

    if TYPE_CHECKING:

        async def commit(
            self, events: Sequence[DurableEvent], *, exclude: str | None = None, only: str | None = None, **changes: Any
        ) -> list[int]: ...

    async def _update_profile(self, msg: UpdateProfile) -> w.UserFullInfo:
        found = await self.ctx.store.profiles([self.user_id])
        current = found[0] if found else UserProfile(self.user_id, "", "", "")
        profile = UserProfile(
            self.user_id,
            current.user_name if msg.user_name is None else msg.user_name,
            current.avatar_url if msg.avatar_url is None else msg.avatar_url,
            current.extended_data if msg.extended_data is None else msg.extended_data,
        )
        wire = profile_wire(profile)
        await self.commit(
            [w.UserInfoUpdated(wire)],
            exclude=msg.login_id,
            profile=(profile.user_name, profile.avatar_url, profile.extended_data),
        )
        return wire

    async def _add_friend(self, msg: AddFriend) -> w.FriendApplication:
        if msg.user_id == self.user_id:
            raise InvalidArgument("one cannot befriend oneself")
        if any(friend == msg.user_id for friend, _, _ in await self.ctx.store.friends(self.user_id)):
            raise AlreadyExists(f"{msg.user_id!r} is already a friend")
        now = int(time.time() * 1000)
        application = application_wire(self.user_id, msg.user_id, msg.wording, WAITING, now)
        event: Event = w.FriendApplicationListChanged(0, [application])
        await self._commit_and_tell(
            [event], {msg.user_id: [event]}, msg.login_id,
            friend_application=(self.user_id, msg.user_id, msg.wording, WAITING, now),
        )
        return application

    async def _answer_friend(self, msg: AnswerFriend) -> w.FriendApplication:
        waiting = [
            a for a in await self.ctx.store.friend_applications(self.user_id)
            if a[0] == msg.applicant and a[1] == self.user_id and a[3] == WAITING
        ]
        if not waiting:
            raise InvalidArgument(f"no waiting friend application from {msg.applicant!r}")
        wording = waiting[0][2]
        now = int(time.time() * 1000)
        state = ACCEPTED if msg.accept else REJECTED
        application = application_wire(msg.applicant, self.user_id, wording, state, now)
        mine: list[Event] = [w.FriendApplicationListChanged(1, [application])]
        theirs = list(mine)
        changes: dict[str, Any] = {"friend_application": (msg.applicant, self.user_id, wording, state, now)}
        if msg.accept:
            changes["friends_add"] = [(self.user_id, msg.applicant, wording, now), (msg.applicant, self.user_id, wording, now)]
            mine.append(w.FriendListChanged(FRIEND_ADDED, [friend_wire(msg.applicant, wording, now)]))
            theirs.append(w.FriendListChanged(FRIEND_ADDED, [friend_wire(self.user_id, wording, now)]))
        await self._commit_and_tell(mine, {msg.applicant: theirs}, msg.login_id, **changes)
        return application

    async def _delete_friends(self, msg: DeleteFriends) -> w.DeleteFriendsReply:
        known = {friend for friend, _, _ in await self.ctx.store.friends(self.user_id)}
        gone = [u for u in dict.fromkeys(msg.user_ids) if u in known]
        errors = [ErrorUser(user_id=u, reason="not a friend") for u in msg.user_ids if u not in known]
        if gone:
            removed = [(self.user_id, u) for u in gone] + [(u, self.user_id) for u in gone]
            event = w.FriendListChanged(FRIEND_DELETED, [friend_wire(u, "", 0) for u in gone])
            theirs: Event = w.FriendListChanged(FRIEND_DELETED, [friend_wire(self.user_id, "", 0)])
            await self._commit_and_tell([event], {friend: [theirs] for friend in gone}, msg.login_id, friends_remove=removed)
        return w.DeleteFriendsReply(deleted_user_ids=gone, error_user_list=errors)

    async def _commit_and_tell(
        self, mine: list[Event], theirs: dict[str, list[Event]], login_id: str, **changes: Any
    ) -> None:
        """Commit this account's events and, in the same transaction, the other users'
        events into the outbox; then tell them (a crash in between loses nothing:
        they take it from the outbox when they start)."""
        queued = [(user, events_blob(events), None) for user, events in theirs.items()]
        ids = await self.commit(mine, exclude=login_id, outbox_events=queued, **changes)
        for (user, events), outbox_id in zip(theirs.items(), ids, strict=True):
            await self.ctx.post_account(user, AccountEvents(tuple(events), None, outbox_id))
