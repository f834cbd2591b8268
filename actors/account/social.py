"""Social: the account actor's component for profiles and friends (PROTOCOL.md §8).

A friend operation changes both users' friend rows in the acting account's
step, together with its own durable events and, in the outbox, the other
user's; the other account then takes its events as AccountEvents.
"""

from __future__ import annotations

from dataclasses import replace

from ..errors import AlreadyExists, InvalidArgument
from ..ids import now_ms
from ..store.base import AccountWrite, UserProfile
from ..wire import AnyDurableEvent, ErrorUser, UserRef
from ..wire import social as w
from .context import AccountContext
from .messages import AccountEvents, AddFriend, AnswerFriend, DeleteFriends, UpdateProfile, events_blob
from .step import Step

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
    """Handlers of the profile and friend messages."""

    def __init__(self, ctx: AccountContext, user_id: str) -> None:
        self.ctx = ctx
        self.user_id = user_id

    async def update_profile(self, msg: UpdateProfile, step: Step) -> w.UserFullInfo:
        found = await self.ctx.store.profiles([self.user_id])
        current = found[0] if found else UserProfile(self.user_id, "", "", "")
        profile = UserProfile(
            self.user_id,
            current.user_name if msg.user_name is None else msg.user_name,
            current.avatar_url if msg.avatar_url is None else msg.avatar_url,
            current.extended_data if msg.extended_data is None else msg.extended_data,
        )
        wire = profile_wire(profile)
        step.store(AccountWrite(self.user_id, profile=(profile.user_name, profile.avatar_url, profile.extended_data)))
        step.emit([w.UserInfoUpdated(wire)], exclude=msg.login_id)
        return wire

    async def add_friend(self, msg: AddFriend, step: Step) -> w.FriendApplication:
        if msg.user_id == self.user_id:
            raise InvalidArgument("one cannot befriend oneself")
        if any(friend == msg.user_id for friend, _, _ in await self.ctx.store.friends(self.user_id)):
            raise AlreadyExists(f"{msg.user_id!r} is already a friend")
        now = now_ms()
        application = application_wire(self.user_id, msg.user_id, msg.wording, WAITING, now)
        event: Event = w.FriendApplicationListChanged(0, [application])
        self._with_theirs(step, [event], {msg.user_id: [event]}, msg.login_id, AccountWrite(
            self.user_id, friend_application=(self.user_id, msg.user_id, msg.wording, WAITING, now),
        ))
        return application

    async def answer_friend(self, msg: AnswerFriend, step: Step) -> w.FriendApplication:
        waiting = [
            a for a in await self.ctx.store.friend_applications(self.user_id)
            if a[0] == msg.applicant and a[1] == self.user_id and a[3] == WAITING
        ]
        if not waiting:
            raise InvalidArgument(f"no waiting friend application from {msg.applicant!r}")
        wording = waiting[0][2]
        now = now_ms()
        state = ACCEPTED if msg.accept else REJECTED
        application = application_wire(msg.applicant, self.user_id, wording, state, now)
        mine: list[Event] = [w.FriendApplicationListChanged(1, [application])]
        theirs = list(mine)
        added: list[tuple[str, str, str, int]] = []
        if msg.accept:
            added = [(self.user_id, msg.applicant, wording, now), (msg.applicant, self.user_id, wording, now)]
            mine.append(w.FriendListChanged(FRIEND_ADDED, [friend_wire(msg.applicant, wording, now)]))
            theirs.append(w.FriendListChanged(FRIEND_ADDED, [friend_wire(self.user_id, wording, now)]))
        self._with_theirs(step, mine, {msg.applicant: theirs}, msg.login_id, AccountWrite(
            self.user_id, friend_application=(msg.applicant, self.user_id, wording, state, now), friends_add=added,
        ))
        return application

    async def delete_friends(self, msg: DeleteFriends, step: Step) -> w.DeleteFriendsReply:
        known = {friend for friend, _, _ in await self.ctx.store.friends(self.user_id)}
        gone = [u for u in dict.fromkeys(msg.user_ids) if u in known]
        errors = [ErrorUser(user_id=u, reason="not a friend") for u in msg.user_ids if u not in known]
        if gone:
            removed = [(self.user_id, u) for u in gone] + [(u, self.user_id) for u in gone]
            event = w.FriendListChanged(FRIEND_DELETED, [friend_wire(u, "", 0) for u in gone])
            theirs: Event = w.FriendListChanged(FRIEND_DELETED, [friend_wire(self.user_id, "", 0)])
            self._with_theirs(
                step, [event], {friend: [theirs] for friend in gone}, msg.login_id,
                AccountWrite(self.user_id, friends_remove=removed),
            )
        return w.DeleteFriendsReply(deleted_user_ids=gone, error_user_list=errors)

    def _with_theirs(self, step: Step, mine: list[Event], theirs: dict[str, list[Event]], login_id: str, rows: AccountWrite) -> None:
        """This account's rows and events and, in the same step, the other users' events in the outbox;
        they are told once it is stored (a crash in between loses nothing: they take it from the
        outbox when they start)."""
        queued = [(user, events_blob(events), None) for user, events in theirs.items()]
        step.store(replace(rows, outbox_events=queued))
        step.emit(mine, exclude=login_id)

        async def tell(outbox_ids: list[int]) -> None:
            for (user, events), outbox_id in zip(theirs.items(), outbox_ids, strict=True):
                await self.ctx.post_account(user, AccountEvents(tuple(events), None, outbox_id))

        step.then(tell)
