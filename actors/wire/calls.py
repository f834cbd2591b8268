"""Wire schema of call invitations (PROTOCOL.md §11).

Every op replies `{"callID", ...}`. Calls are ephemeral: nothing is stored,
and a device that was offline when invited never hears of the call.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from .base import ID, Request, Body

MAX_INVITEES = 32
DEFAULT_TIMEOUT_S = 90  # ZIM's default
MAX_TIMEOUT_S = 600
ExtendedData = Annotated[str, msgspec.Meta(max_length=4096)]


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

    invitees: Annotated[list[ID], msgspec.Meta(min_length=1, max_length=MAX_INVITEES)]
    config: CallInviteConfig = CallInviteConfig()


class CallAccept(Request, tag="callAccept"):
    """Accept; this device is bound to the call. 5003 if another device of the user answered first."""

    call_id: ID
    config: CallConfig = CallConfig()


class CallReject(Request, tag="callReject"):
    """Decline the invitation (5003 once answered)."""

    call_id: ID
    config: CallConfig = CallConfig()


class CallCancel(Request, tag="callCancel"):
    """Inviter only (4003 otherwise): withdraw the invitations of `invitees` (all when empty).

    5003 if one of them already answered (or, with no list, anyone accepted).
    Their devices get `callInvitationCancelled`. Replies `{callID, errorUserList: []}`.
    """

    call_id: ID
    invitees: Annotated[list[ID], msgspec.Meta(max_length=MAX_INVITEES)] = []
    config: CallConfig = CallConfig()


class CallQuit(Request, tag="callQuit"):
    """Leave a call this device accepted (or started). A dropped device quits too."""

    call_id: ID
    config: CallConfig = CallConfig()


class CallEnd(Request, tag="callEnd"):
    """End the call for everyone (a device in the call only): everyone's state becomes Ended."""

    call_id: ID
    config: CallConfig = CallConfig()


EVENTS: dict[str, str] = {
    "callInvitationReceived": "callID, inviter, timeout, extendedData, callUserList: to every online device of an invitee. Ephemeral.",
    "callInvitationCancelled": "callID, inviter, extendedData: the invitation was withdrawn (or the call ended unanswered). Ephemeral.",
    "callInvitationTimeout": "callID: the invitee did not answer in time. Ephemeral.",
    "callUserStateChanged": (
        "callID, callUserList [{userID, state, extendedData}]: to the devices in the call, per the device "
        "table of PROTOCOL.md §11. Ephemeral."
    ),
}
