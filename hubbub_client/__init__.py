"""The Python client library for hubbub (CBOR over WebSocket)."""

from .client import Client, ClientError, Disconnected, ForcedOffline, Kicked, SessionEnded, TokenExpired, open_client

__all__ = ["Client", "ClientError", "Disconnected", "ForcedOffline", "Kicked", "SessionEnded", "TokenExpired", "open_client"]
