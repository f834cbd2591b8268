"""The wire schema (PROTOCOL.md): requests, events, replies, error and close codes.

A leaf package: it imports nothing else of the server, and everything may
import it. Past the router nobody handles raw dicts, and no actor spells a
camelCase key: the names are given once, in these Structs.
"""

from .base import ID, Body, Platform, Request, ShortText, UInt, wire_name
from .codes import CLOSE_CODES, PROTOCOL_VERSION, CloseCode, ConnectionEvent
from .messages import MAX_MESSAGE_BYTES, MessageBody, SendConfig, SendMessage, message_size
from .ops import SCHEMA_MODULES, known_ops, parse_request, request_id_of
from .session import Ack, Login, Logout, QueryDevices, RenewToken

__all__ = [
    "CLOSE_CODES", "ID", "MAX_MESSAGE_BYTES", "PROTOCOL_VERSION", "SCHEMA_MODULES", "Ack", "Body", "CloseCode",
    "ConnectionEvent", "Login", "Logout", "MessageBody", "Platform", "QueryDevices", "RenewToken", "Request",
    "SendConfig", "SendMessage", "ShortText", "UInt", "known_ops", "message_size", "parse_request",
    "request_id_of", "wire_name",
]
