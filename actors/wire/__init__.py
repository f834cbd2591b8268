"""The wire schema (PROTOCOL.md): requests, events, replies, error and close codes.

A leaf package: it imports nothing else of the server, and everything may
import it. Past the router nobody handles raw dicts, and no actor spells a
camelCase key: the names are given once, in these Structs.
"""

from .base import ID, Body, DurableEvent, ErrorUser, Event, Platform, Reply, Request, ShortText, UInt, UserRef, builtins_of, wire_name
from .codes import CLOSE_CODES, PROTOCOL_VERSION, CloseCode, ConnectionEvent
from .messages import MAX_MESSAGE_BYTES, MessageBody, SendConfig, SendMessage, message_size
from .ops import SCHEMA_MODULES, AnyDurableEvent, decode_durable_event, known_events, known_ops, parse_request, request_id_of
from .session import Ack, Login, Logout, QueryDevices, RenewToken

__all__ = [
    "CLOSE_CODES", "ID", "AnyDurableEvent", "MAX_MESSAGE_BYTES", "PROTOCOL_VERSION", "SCHEMA_MODULES", "Ack", "Body", "CloseCode",
    "ConnectionEvent", "DurableEvent", "ErrorUser", "Event", "Login", "Logout", "MessageBody", "Platform",
    "QueryDevices", "RenewToken", "Reply", "Request", "SendConfig", "SendMessage", "ShortText", "UInt", "UserRef",
    "builtins_of", "decode_durable_event", "known_events", "known_ops", "message_size", "parse_request", "request_id_of",
    "wire_name",
]
