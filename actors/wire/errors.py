"""Errors a client can see, one class per protocol error code (PROTOCOL.md §12).

    HubbubError (code 9000, Internal)
    ├── InvalidFrame 1001 · UnknownOp 1002 · InvalidArgument 1003
    │   FrameTooLarge 1004 · RateLimited 1005
    ├── NotLoggedIn 2001 · TokenInvalid 2002 · TokenExpired 2003
    │   LoginRejectedByPolicy 2004 · AlreadyLoggedIn 2005
    ├── RoomExists 3001 · RoomNotExist 3002 · NotInRoom 3003
    ├── GroupNotExist 4001 · NotGroupMember 4002 · NoPermission 4003 · AlreadyExists 4004
    ├── CallNotExist 5001 · NotCallParticipant 5002 · CallStateInvalid 5003
    ├── MessageNotFound 6001 · MessageTooLarge 6002 · MessageRejected 6003
    │   CallbackUnavailable 6004
    ├── ThreadNotExist 7001 · NotThreadMember 7002
    └── Internal 9000 · StorageUnavailable 9001

An actor that refuses a request raises one of these into the reply and carries
on; the gateway turns it into `{"ok": false, "error": {"code", "message"}}`.
"""

from __future__ import annotations


class HubbubError(Exception):
    """Base of every client-visible error; `code` is the protocol number."""

    code = 9000
    name = "Internal"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.name)
        self.message = message or self.name


def _error(name: str, code: int) -> type[HubbubError]:
    return type(name, (HubbubError,), {"code": code, "name": name})


InvalidFrame = _error("InvalidFrame", 1001)
UnknownOp = _error("UnknownOp", 1002)
InvalidArgument = _error("InvalidArgument", 1003)
FrameTooLarge = _error("FrameTooLarge", 1004)
RateLimited = _error("RateLimited", 1005)
NotLoggedIn = _error("NotLoggedIn", 2001)
TokenInvalid = _error("TokenInvalid", 2002)
TokenExpired = _error("TokenExpired", 2003)
LoginRejectedByPolicy = _error("LoginRejectedByPolicy", 2004)
AlreadyLoggedIn = _error("AlreadyLoggedIn", 2005)
RoomExists = _error("RoomExists", 3001)
RoomNotExist = _error("RoomNotExist", 3002)
NotInRoom = _error("NotInRoom", 3003)
GroupNotExist = _error("GroupNotExist", 4001)
NotGroupMember = _error("NotGroupMember", 4002)
NoPermission = _error("NoPermission", 4003)
AlreadyExists = _error("AlreadyExists", 4004)
CallNotExist = _error("CallNotExist", 5001)
NotCallParticipant = _error("NotCallParticipant", 5002)
CallStateInvalid = _error("CallStateInvalid", 5003)
MessageNotFound = _error("MessageNotFound", 6001)
MessageTooLarge = _error("MessageTooLarge", 6002)
MessageRejected = _error("MessageRejected", 6003)
CallbackUnavailable = _error("CallbackUnavailable", 6004)
ThreadNotExist = _error("ThreadNotExist", 7001)
NotThreadMember = _error("NotThreadMember", 7002)
Internal = _error("Internal", 9000)
StorageUnavailable = _error("StorageUnavailable", 9001)

ALL_ERRORS: tuple[type[HubbubError], ...] = tuple(
    cls for cls in list(globals().values()) if isinstance(cls, type) and issubclass(cls, HubbubError) and cls is not HubbubError
)
