"""Every actor message is a plain typed value: it round-trips through the bus codec unchanged."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

import cbor2
import msgspec
import pytest

from actors import wire
from actors.account import messages as account
from actors.bus import MessageCodec, UnknownMessage
from actors.call import messages as call
from actors.group import messages as group
from actors.room import messages as room
from actors.runtime import Asks
from actors.wire import messages as wire_messages
from actors.wire import social as wire_social
from gateway.cluster import NodeInbox, bus_codec

KINDS: dict[str, Any] = {
    "account": account.AccountMsg,
    "group": group.GroupMsg,
    "room": room.RoomMsg,
    "call": call.CallMsg,
}

MESSAGE = wire_messages.Message(
    message_id="m1", client_message_id=None, conversation_id="bob", conversation_type=0, sender_user_id="alice",
    type=1, message=b"\x00bytes", extended_data="", timestamp=1, message_seq=2, direction=0, receipt_status=0,
    is_revoked=False,
)
MESSAGE_EVENT = wire_messages.PeerMessageReceived([MESSAGE], "bob")
# Concrete values where a field's type alone does not say which one to build.
EXAMPLES: dict[Any, Any] = {wire.AnyDurableEvent: MESSAGE_EVENT}


def example(tp: Any, depth: int = 0) -> Any:
    """A value of type `tp` with every field filled (first member of unions that are not Optional)."""
    assert depth < 8, tp
    if tp in EXAMPLES:
        return EXAMPLES[tp]
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Annotated:
        return example(args[0], depth + 1)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in args if a is not type(None)]
        return example(members[0], depth + 1)
    if origin is tuple:
        items = args[:1] if len(args) == 2 and args[1] is Ellipsis else args
        return tuple(example(a, depth + 1) for a in items)
    if origin is list:
        return [example(args[0], depth + 1)]
    if origin is dict:
        return {example(args[0], depth + 1): example(args[1], depth + 1)}
    if origin is typing.Literal:
        return args[0]
    if tp is typing.Any:
        return "text"
    if tp in (str, int, float, bool, bytes):
        return {str: "x", int: 7, float: 1.5, bool: True, bytes: b"\x01"}[tp]
    if isinstance(tp, type) and (dataclasses.is_dataclass(tp) or issubclass(tp, msgspec.Struct)):
        hints = typing.get_type_hints(tp, include_extras=True)
        names = [f.name for f in dataclasses.fields(tp)] if dataclasses.is_dataclass(tp) else list(tp.__struct_fields__)
        return tp(**{name: example(hints[name], depth + 1) for name in names})
    raise AssertionError(f"no example for {tp!r}")


def all_message_types() -> list[tuple[str, type]]:
    return [(kind, cls) for kind, union in KINDS.items() for cls in typing.get_args(union)]


@pytest.mark.parametrize(("kind", "cls"), all_message_types(), ids=lambda v: v if isinstance(v, str) else v.__name__)
def test_every_actor_message_round_trips_through_the_codec(kind: str, cls: type) -> None:
    codec = MessageCodec(KINDS)
    msg = example(cls)
    data = codec.encode(msg)
    assert isinstance(data, bytes)
    decoded = codec.decode(data)
    assert type(decoded) is cls and decoded == msg


@pytest.mark.parametrize("cls", typing.get_args(NodeInbox), ids=lambda cls: cls.__name__)
def test_every_node_message_round_trips_through_the_bus_codec(cls: type) -> None:
    codec = bus_codec()
    msg = example(cls)
    decoded = codec.decode(codec.encode(msg))
    assert type(decoded) is cls and decoded == msg


def test_the_codec_refuses_what_it_does_not_know() -> None:
    codec = MessageCodec(KINDS)
    with pytest.raises(UnknownMessage):
        codec.encode(object())
    with pytest.raises(UnknownMessage, match="unknown message type"):
        codec.decode(msgspec.msgpack.encode(("account.Nope", {})))
    with pytest.raises(UnknownMessage, match="undecodable"):
        codec.decode(msgspec.msgpack.encode(("account.Acked", {"login_id": 5})))
    with pytest.raises(UnknownMessage, match="undecodable"):
        codec.decode(b"\xc1")


def test_bytes_and_text_bodies_stay_what_they_were() -> None:
    codec = MessageCodec(KINDS)
    for body in ("text", b"\x00\xffbytes"):
        msg = account.SendPeer("L1", "bob", 1, body, "", False, None, None)
        assert codec.decode(codec.encode(msg)) == msg


def test_asked_messages_name_their_answer() -> None:
    asked = [cls for _, cls in all_message_types() if issubclass(cls, Asks)]
    assert account.Login in asked and group.SendGroupMessage in asked and room.Say in asked and call.Invite in asked
    told = {account.Acked, account.DeviceGone, account.Deliver, room.DeviceGone, call.DeviceGone}
    assert not told & set(asked)


def test_the_durable_event_union_lists_every_durable_event() -> None:
    durable = {cls for cls in wire.known_events().values() if cls.durable}
    assert set(typing.get_args(wire.AnyDurableEvent)) == durable
    for cls in durable:
        event = example(cls)
        assert wire.decode_durable_event(wire.builtins_of(event)) == event
    changed = wire_social.FriendListChanged(0, [wire_social.FriendInfo(user_id="a", wording="", create_time=1)])
    assert account.events_from(account.events_blob([changed, MESSAGE_EVENT])) == (changed, MESSAGE_EVENT)


def test_outbox_rows_of_the_earlier_shape_are_still_read() -> None:
    earlier = cbor2.dumps([["friendListChanged", {"action": 1, "friendInfoList": [{"userID": "a", "wording": "", "createTime": 0}]}]])
    (event,) = account.events_from(earlier)
    assert event == wire_social.FriendListChanged(1, [wire_social.FriendInfo(user_id="a", wording="", create_time=0)])


def test_notices_round_trip_through_their_outbox_form() -> None:
    for notice in (account.Revoked("m1"), account.ReceiptsChanged("bob", ("m1", "m2"), False, "g1")):
        assert account.notice_from(account.notice_of(notice), 42) == dataclasses.replace(notice, outbox_id=42)
    # the outbox form leaves the row's own ID out, whatever the notice carried
    assert account.notice_of(account.Revoked("m1", 7)) == account.notice_of(account.Revoked("m1"))


def test_notice_rows_of_the_earlier_shape_are_still_read() -> None:
    revoked = cbor2.dumps(["revoked", {"messageID": "m1"}])
    assert account.notice_from(revoked, 3) == account.Revoked("m1", 3)
    fields = {"reader": "bob", "messageIDs": ["m1"], "wholeConversation": True, "groupID": None}
    assert account.notice_from(cbor2.dumps(["receiptsChanged", fields]), 4) == account.ReceiptsChanged("bob", ("m1",), True, None, 4)
    with pytest.raises(ValueError, match="unknown notice kind"):
        account.notice_from(cbor2.dumps(["nope", {}]), 5)
