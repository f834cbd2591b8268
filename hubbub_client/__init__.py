"""The Python client library for hubbub (CBOR over WebSocket)."""

from .client import Client, ClientError, Disconnected, ForcedOffline, Kicked, SessionEnded, TokenExpired, open_client
from .connecting import ConnectFailed, with_account_hint

__all__ = [
    "Client",
    "ClientError",
    "ConnectFailed",
    "Disconnected",
    "ForcedOffline",
    "Kicked",
    "SessionEnded",
    "TokenExpired",
    "open_client",
    "with_account_hint",
]
