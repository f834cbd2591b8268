"""The account actor's profile and friend handlers (PROTOCOL.md §8).

A friend operation changes both users' friend rows in the acting account's
transaction, together with its own durable events; the other account gets
its events as AccountEvents.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import cbor2

from ..errors import AlreadyExists, InvalidArgument
from ..store.base import UserProfile
from .messages import AccountEvents, AddFriend, AnswerFriend, DeleteFriends, UpdateProfile

if TYPE_CHECKING:
    from .actor import AccountContext

Event = tuple[str, dict[str, Any]]
WAITING, ACCEPTED, REJECTED = 0, 1, 2
FRIEND_ADDED, FRIEND_DELETED = 0, 1


def profile_wire(profile: UserProfile) -> dict[str, Any]:
    """The protocol's user full info."""
    return {
        "baseInfo": {"userID": profile.user_id, "userName": profile.user_name},
        "userAvatarUrl": profile.avatar_url,
        "extendedData": profile.extended_data,
    }


def _application(from_user: str, to_user: str, wording: str, state: int, at: int) -> dict[str, Any]:
    return {"applyUser": {"userID": from_user}, "toUser": {"userID": to_user}, "wording": wording, "state": state, "updateTime": at}


class Social:
    """Mixed into AccountActor."""

    user_id: str
    ctx: AccountContext

    if TYPE_CHECKING:

        async def commit(
            self, events: list[Event], *, exclude: str | None = None, only: str | None = None, **changes: Any
        ) -> list[int]: ...

    async def _update_profile(self, msg: UpdateProfile) -> dict[str, Any]:
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
            [("userInfoUpdated", {"info": wire})],
            exclude=msg.login_id,
            profile=(profile.user_name, profile.avatar_url, profile.extended_data),
        )
        return wire

    async def _add_friend(self, msg: AddFriend) -> dict[str, Any]:
        if msg.user_id == self.user_id:
            raise InvalidArgument("one cannot befriend oneself")
        if any(friend == msg.user_id for friend, _, _ in await self.ctx.store.friends(self.user_id)):
            raise AlreadyExists(f"{msg.user_id!r} is already a friend")
        now = int(time.time() * 1000)
        application = _application(self.user_id, msg.user_id, msg.wording, WAITING, now)
        event: Event = ("friendApplicationListChanged", {"action": 0, "applicationList": [application]})
        await self._commit_and_tell(
            [event], {msg.user_id: [event]}, msg.login_id,
            friend_application=(self.user_id, msg.user_id, msg.wording, WAITING, now),
        )
        return {"application": application}

    async def _answer_friend(self, msg: AnswerFriend) -> dict[str, Any]:
        waiting = [
            a for a in await self.ctx.store.friend_applications(self.user_id)
            if a[0] == msg.applicant and a[1] == self.user_id and a[3] == WAITING
        ]
        if not waiting:
            raise InvalidArgument(f"no waiting friend application from {msg.applicant!r}")
        wording = waiting[0][2]
        now = int(time.time() * 1000)
        state = ACCEPTED if msg.accept else REJECTED
        application = _application(msg.applicant, self.user_id, wording, state, now)
        mine: list[Event] = [("friendApplicationListChanged", {"action": 1, "applicationList": [application]})]
        theirs = list(mine)
        changes: dict[str, Any] = {"friend_application": (msg.applicant, self.user_id, wording, state, now)}
        if msg.accept:
            changes["friends_add"] = [(self.user_id, msg.applicant, wording, now), (msg.applicant, self.user_id, wording, now)]
            mine.append(("friendListChanged", {"action": FRIEND_ADDED, "friendInfoList": [_friend(msg.applicant, wording, now)]}))
            theirs.append(("friendListChanged", {"action": FRIEND_ADDED, "friendInfoList": [_friend(self.user_id, wording, now)]}))
        await self._commit_and_tell(mine, {msg.applicant: theirs}, msg.login_id, **changes)
        return {"application": application}

    async def _delete_friends(self, msg: DeleteFriends) -> dict[str, Any]:
        known = {friend for friend, _, _ in await self.ctx.store.friends(self.user_id)}
        gone = [u for u in dict.fromkeys(msg.user_ids) if u in known]
        errors = [{"userID": u, "reason": "not a friend"} for u in msg.user_ids if u not in known]
        if gone:
            removed = [(self.user_id, u) for u in gone] + [(u, self.user_id) for u in gone]
            event = ("friendListChanged", {"action": FRIEND_DELETED, "friendInfoList": [_friend(u, "", 0) for u in gone]})
            theirs: Event = ("friendListChanged", {"action": FRIEND_DELETED, "friendInfoList": [_friend(self.user_id, "", 0)]})
            await self._commit_and_tell([event], {friend: [theirs] for friend in gone}, msg.login_id, friends_remove=removed)
        return {"deletedUserIDs": gone, "errorUserList": errors}

    async def _commit_and_tell(
        self, mine: list[Event], theirs: dict[str, list[Event]], login_id: str, **changes: Any
    ) -> None:
        """Commit this account's events and, in the same transaction, the other users'
        events into the outbox; then tell them (a crash in between loses nothing:
        they take it from the outbox when they start)."""
        queued = [(user, cbor2.dumps([list(e) for e in events]), None) for user, events in theirs.items()]
        ids = await self.commit(mine, exclude=login_id, outbox_events=queued, **changes)
        for (user, events), outbox_id in zip(theirs.items(), ids, strict=True):
            await self.ctx.post_account(user, AccountEvents(tuple(events), None, outbox_id))


def _friend(user_id: str, wording: str, since: int) -> dict[str, Any]:
    return {"userID": user_id, "wording": wording, "createTime": since}
