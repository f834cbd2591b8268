"""The README's backend token-minting example (section "Web") mints a token the server accepts."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import trio

from .conftest import SECRET, Connect, StartServer

README = Path(__file__).resolve().parent.parent / "README.md"


def _backend_example() -> str:
    text = README.read_text()
    found = re.search(r"In Python with PyJWT:\n\n```python\n(.*?)```", text, re.DOTALL)
    assert found, "README: the Web section's Python token example is missing"
    return found.group(1)


async def test_the_readme_backend_example_mints_a_token_that_logs_in(
    start_server: StartServer, connect: Connect, monkeypatch: pytest.MonkeyPatch
) -> None:
    with trio.fail_after(20):
        monkeypatch.setenv("HUBBUB_AUTH_SECRET", SECRET)
        namespace: dict[str, object] = {}
        exec(compile(_backend_example(), "README.md", "exec"), namespace)  # the project's own README, not outside input
        hubbub_token = namespace["hubbub_token"]
        assert callable(hubbub_token)
        mint: Callable[[str], str] = hubbub_token
        gateway = await start_server("multi")
        client = await connect(gateway)
        reply = await client.login("alice", mint("alice"), platform="Web", device_id="tab")
        assert [d["deviceID"] for d in reply["devices"]] == ["tab"]
