"""docs/wire.schema.json is generated from the wire Structs, and describes every op, reply and event."""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from actors import wire
from scripts.gen_wire_schema import render

SCHEMA = Path(__file__).resolve().parents[1] / "docs" / "wire.schema.json"


def _document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA.read_text())
    return loaded


def _resolve(document: dict[str, Any], ref: str) -> dict[str, Any]:
    assert ref.startswith("#/$defs/"), ref
    found: dict[str, Any] = document["$defs"][ref.removeprefix("#/$defs/")]
    return found


def _wire_names(cls: type[msgspec.Struct]) -> set[str]:
    return {field.encode_name for field in msgspec.structs.fields(cls)}


def test_wire_schema_is_generated_from_the_code() -> None:
    expected = render()
    actual = SCHEMA.read_text() if SCHEMA.is_file() else ""
    if actual != expected:
        diff = difflib.unified_diff(actual.splitlines(), expected.splitlines(), "docs/wire.schema.json", "generated", lineterm="", n=1)
        shown = "\n".join(list(diff)[:40])
        pytest.fail(f"docs/wire.schema.json is out of date with actors/wire: run `make wire-schema`\n{shown}")


def test_every_op_has_its_request_and_reply_types_with_wire_names() -> None:
    document = _document()
    ops = wire.known_ops()
    assert set(document["x-ops"]) == set(ops)
    union = {entry["$ref"] for entry in document["$defs"]["Request"]["anyOf"]}
    for op, cls in ops.items():
        entry = document["x-ops"][op]
        assert entry["request"] in union
        request = _resolve(document, entry["request"])
        assert request["properties"]["op"] == {"enum": [op]}
        assert set(request["properties"]) == _wire_names(cls) | {"op"}, op
        if cls.reply is None:
            assert "reply" not in entry, op
        else:
            assert set(_resolve(document, entry["reply"])["properties"]) == _wire_names(cls.reply), op
    login = _resolve(document, document["x-ops"]["login"]["request"])
    assert {"userID", "resumeFrom", "deviceID"} <= set(login["properties"])
    login_reply = _resolve(document, document["x-ops"]["login"]["reply"])
    assert set(login_reply["required"]) == {"loginID", "serverTime", "seq", "devices", "resumeGap"}


def test_every_event_is_described_and_durable_ones_carry_seq() -> None:
    document = _document()
    events = wire.known_events()
    assert set(document["x-events"]) == set(events)
    union = {entry["$ref"] for entry in document["$defs"]["Event"]["anyOf"]}
    for name, cls in events.items():
        entry = document["x-events"][name]
        assert entry["event"] in union and entry["durable"] is cls.durable
        event = _resolve(document, entry["event"])
        assert event["properties"]["ev"] == {"enum": [name]}
        stream = {"seq", "fromUserID"} if cls.durable else set()
        assert set(event["properties"]) == _wire_names(cls) | {"ev"} | stream, name
        assert ("seq" in event["required"]) is cls.durable, name
    assert document["x-events"]["peerMessageReceived"]["durable"] is True
    assert document["x-events"]["roomMessageReceived"]["durable"] is False
