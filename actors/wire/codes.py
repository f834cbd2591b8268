"""Protocol version, WebSocket close codes and connection events (PROTOCOL.md §3, §12)."""

from __future__ import annotations

PROTOCOL_VERSION = 1


class CloseCode:
    """WebSocket close codes the server uses (§12)."""

    LOGOUT = 1000
    FRAME_TOO_LARGE = 1009
    NO_PONG = 1011
    SLOW_CONSUMER = 1013
    KICKED = 4000
    FORCED_OFFLINE = 4001
    TOKEN_EXPIRED = 4002
    LOGIN_TIMEOUT = 4003
    SHUTTING_DOWN = 4004


CLOSE_CODES: dict[int, str] = {
    CloseCode.LOGOUT: "logout",
    CloseCode.FRAME_TOO_LARGE: "frame too large",
    CloseCode.NO_PONG: "the device answered no keepalive ping in time (added: reconnect with resumeFrom)",
    CloseCode.SLOW_CONSUMER: "the device stopped reading its events (added: reconnect with resumeFrom)",
    CloseCode.KICKED: "kicked",
    CloseCode.FORCED_OFFLINE: "forced offline by admin",
    CloseCode.TOKEN_EXPIRED: "token expired",
    CloseCode.LOGIN_TIMEOUT: "login timeout",
    CloseCode.SHUTTING_DOWN: "server shutting down (reconnect with resumeFrom)",
}


class ConnectionEvent:
    """`event` of connectionStateChanged."""

    SUCCESS = 0
    ACTIVE_LOGIN = 1
    LOGIN_TIMEOUT = 2
    LOGIN_INTERRUPTED = 3
    KICKED_OUT = 4
    TOKEN_EXPIRED = 5
