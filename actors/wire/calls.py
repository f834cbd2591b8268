"""Wire schema of call invitations (PROTOCOL.md §11).

Every op replies `{"callID", ...}`. Calls are ephemeral: nothing is stored,
and a device that was offline when invited never hears of the call.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from .base import ID, Body, ErrorUser, Event, Reply, Request

MAX_INVITEES = 32
DEFAULT_TIMEOUT_S = 90  # ZIM's default
MAX_TIMEOUT_S = 600
ExtendedData = Annotated[str, msgspec.Meta(max_length=4096)]


class CallInviteReply(Reply, frozen=True):
    """`errorUserList`: invitees with no online device (reason "offline"), left out of the call."""

    call_id: str
    timeout: int
    error_user_list: list[ErrorUser]


class CallIDReply(Reply, frozen=True):
    call_id: str


class CallCancelReply(Reply, frozen=True):
    call_id: str
    error_user_list: list[ErrorUser]


class CallInviteConfig(Body, frozen=True):
    """`timeout`: seconds an invitee has to answer before it becomes Timeout."""

    timeout: Annotated[int, msgspec.Meta(ge=1, le=MAX_TIMEOUT_S)] = DEFAULT_TIMEOUT_S
    extended_data: ExtendedData = ""


class CallConfig(Body, frozen=True):
    """Free-form data shown to the others with this user's new state."""

    extended_data: ExtendedData = ""


class CallInvite(Request, tag="callInvite"):
    """Start a call: `{callID, timeout, errorUserList: [{userID, reason}]}`.

    Every online device of each invitee gets `callInvitationReceived`. An
    invitee with no online device is listed in `errorUserList` (reason
    "offline") and left out of the call; if none is online, no call starts.
    """

    reply = CallInviteReply

    invitees: Annotated[list[ID], msgspec.Meta(min_length=1, max_length=MAX_INVITEES)]
    config: CallInviteConfig = CallInviteConfig()


class CallAccept(Request, tag="callAccept"):
    """Accept; this device is bound to the call. 5003 if another device of the user answered first."""

    reply = CallIDReply

    call_id: ID
    config: CallConfig = CallConfig()


class CallReject(Request, tag="callReject"):
    """Decline the invitation (5003 once answered)."""

    reply = CallIDReply

    call_id: ID
    config: CallConfig = CallConfig()


class CallCancel(Request, tag="callCancel"):
    """Inviter only (4003 otherwise): withdraw the invitations of `invitees` (all when empty).

    5003 if one of them already answered (or, with no list, anyone accepted).
    Their devices get `callInvitationCancelled`. Replies `{callID, errorUserList: []}`.
    """

    reply = CallCancelReply

    call_id: ID
    invitees: Annotated[list[ID], msgspec.Meta(max_length=MAX_INVITEES)] = []
    config: CallConfig = CallConfig()


class CallQuit(Request, tag="callQuit"):
    """Leave a call this device accepted (or started). A dropped device quits too."""

    reply = CallIDReply

    call_id: ID
    config: CallConfig = CallConfig()


class CallEnd(Request, tag="callEnd"):
    """End the call for everyone (a device in the call only): everyone's state becomes Ended."""

    reply = CallIDReply

    call_id: ID
    config: CallConfig = CallConfig()


# ---- events (all ephemeral) -----------------------------------------------------


class CallUser(Body, frozen=True):
    """One user's state in a call (PROTOCOL.md §11's table)."""

    user_id: str
    state: int
    extended_data: str


class CallInvitationReceived(Event, tag="callInvitationReceived", frozen=True):
    """To every online device of an invitee."""

    call_id: str
    inviter: str
    timeout: int
    extended_data: str
    call_user_list: list[CallUser]


class CallInvitationCancelled(Event, tag="callInvitationCancelled", frozen=True):
    """The invitation was withdrawn (or the call ended unanswered)."""

    call_id: str
    inviter: str
    extended_data: str


class CallInvitationTimeout(Event, tag="callInvitationTimeout", frozen=True):
    """The invitee did not answer in time."""

    call_id: str


class CallUserStateChanged(Event, tag="callUserStateChanged", frozen=True):
    """To the devices in the call, per the device table of PROTOCOL.md §11."""

    call_id: str
    call_user_list: list[CallUser]
