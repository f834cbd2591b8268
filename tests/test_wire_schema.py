"""docs/wire.schema.json is generated from the wire Structs, and describes every op of the server."""

from __future__ import annotations

import difflib
import json

import msgspec
from pathlib import Path
from typing import Any

import pytest

from actors import wire
from scripts.gen_wire_schema import render

SCHEMA = Path(__file__).resolve().parents[1] / "docs" / "wire.schema.json"


def _resolve(document: dict[str, Any], ref: str) -> dict[str, Any]:
    assert ref.startswith("#/$defs/"), ref
    found: dict[str, Any] = document["$defs"][ref.removeprefix("#/$defs/")]
    return found


def test_wire_schema_is_generated_from_the_code() -> None:
    expected = render()
    actual = SCHEMA.read_text() if SCHEMA.is_file() else ""
    if actual != expected:
        diff = difflib.unified_diff(actual.splitlines(), expected.splitlines(), "docs/wire.schema.json", "generated", lineterm="", n=1)
        shown = "\n".join(list(diff)[:40])
        pytest.fail(f"docs/wire.schema.json is out of date with actors/wire: run `make wire-schema`\n{shown}")


def test_every_op_has_its_request_type_with_wire_names() -> None:
    document = json.loads(SCHEMA.read_text())
    ops = wire.known_ops()
    assert set(document["x-ops"]) == set(ops)
    union = {entry["$ref"] for entry in document["$defs"]["Request"]["anyOf"]}
    for op, cls in ops.items():
        ref = document["x-ops"][op]["request"]
        assert ref in union
        request = _resolve(document, ref)
        assert request["properties"]["op"] == {"enum": [op]}
        wire_names = {field.encode_name for field in msgspec.structs.fields(cls)}
        assert set(request["properties"]) == wire_names | {"op"}, op
    login = _resolve(document, document["x-ops"]["login"]["request"])
    assert {"userID", "resumeFrom", "deviceID"} <= set(login["properties"])
