"""docs/protocol.md is generated from the schema, and the schema keeps PROTOCOL.md §12's numbers."""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import pytest

from actors.errors import ALL_ERRORS
from actors.wire import CLOSE_CODES
from scripts.gen_protocol_doc import render

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "protocol.md"
SHARED_PROTOCOL = REPO.parent / "shared" / "PROTOCOL.md"

# PROTOCOL.md §12, copied so the check also runs in a clone without ../shared.
# When ../shared/PROTOCOL.md is there, the test checks this copy against it.
CONTRACT_ERRORS: dict[int, str] = {
    1001: "InvalidFrame",
    1002: "UnknownOp",
    1003: "InvalidArgument",
    1004: "FrameTooLarge",
    1005: "RateLimited",
    2001: "NotLoggedIn",
    2002: "TokenInvalid",
    2003: "TokenExpired",
    2004: "LoginRejectedByPolicy",
    2005: "AlreadyLoggedIn",
    3001: "RoomExists",
    3002: "RoomNotExist",
    3003: "NotInRoom",
    4001: "GroupNotExist",
    4002: "NotGroupMember",
    4003: "NoPermission",
    4004: "AlreadyExists",
    5001: "CallNotExist",
    5002: "NotCallParticipant",
    5003: "CallStateInvalid",
    6001: "MessageNotFound",
    6002: "MessageTooLarge",
    6003: "MessageRejected",
    6004: "CallbackUnavailable",
    7001: "ThreadNotExist",
    7002: "NotThreadMember",
    9000: "Internal",
    9001: "StorageUnavailable",
}
CONTRACT_CLOSE_CODES: tuple[int, ...] = (1000, 1009, 4000, 4001, 4002, 4003, 4004)


def _section_12(text: str) -> str:
    start = text.index("## 12.")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def contract_errors() -> dict[int, str]:
    """§12's error table: from ../shared/PROTOCOL.md when present, else the copy above."""
    if not SHARED_PROTOCOL.is_file():
        return CONTRACT_ERRORS
    rows = re.findall(r"^\|\s*(\d{4})\s*\|\s*(\w+)\s*\|", _section_12(SHARED_PROTOCOL.read_text()), re.MULTILINE)
    return {int(code): name for code, name in rows}


def contract_close_codes() -> tuple[int, ...]:
    """§12's close codes: from ../shared/PROTOCOL.md when present, else the copy above."""
    if not SHARED_PROTOCOL.is_file():
        return CONTRACT_CLOSE_CODES
    section = _section_12(SHARED_PROTOCOL.read_text())
    paragraph = section[section.index("Close codes:") :].split("\n\n", 1)[0]
    return tuple(int(code) for code in re.findall(r"\b(\d{4})\b", paragraph))


def test_protocol_doc_is_generated_from_the_schema() -> None:
    expected = render()
    actual = DOC.read_text() if DOC.is_file() else ""
    if actual != expected:
        diff = difflib.unified_diff(actual.splitlines(), expected.splitlines(), "docs/protocol.md", "generated", lineterm="", n=1)
        shown = "\n".join(list(diff)[:40])
        pytest.fail(f"docs/protocol.md is out of date with the schema: run `make protocol-doc`\n{shown}")


def test_every_contract_error_exists_with_its_number() -> None:
    contract = contract_errors()
    # The copy is the fallback for clones without ../shared; keep it equal to §12.
    assert contract == CONTRACT_ERRORS, "PROTOCOL.md §12 changed: update CONTRACT_ERRORS in this test (and actors/errors.py)"
    ours = {cls.name: cls.code for cls in ALL_ERRORS}
    wrong = {name: (code, ours.get(name)) for code, name in contract.items() if ours.get(name) != code}
    assert not wrong, f"actors/errors.py disagrees with PROTOCOL.md §12 (name: (contract, ours)): {wrong}"


def test_every_contract_close_code_is_known() -> None:
    contract = contract_close_codes()
    assert contract == CONTRACT_CLOSE_CODES, "PROTOCOL.md §12 changed: update CONTRACT_CLOSE_CODES in this test"
    missing = [code for code in contract if code not in CLOSE_CODES]
    assert not missing, f"actors/wire/codes.py CLOSE_CODES lacks PROTOCOL.md §12 close codes {missing}"
