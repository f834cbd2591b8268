"""`hubbub serve` refuses unusable webhook settings in one line, before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from .cli_support import run_hubbub


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (["--webhook-url", "ftp://backend/hook", "--webhook-secret", "s"], "--webhook-url 'ftp://backend/hook': must be an http:// or https:// URL"),
        (["--webhook-url", "http://127.0.0.1:9/hook"], "--webhook-url needs --webhook-secret"),
        (["--webhook-url", "http://127.0.0.1:9/h", "--webhook-secret", "s", "--webhook-events", "messageSent,bogus"], "unknown webhook event 'bogus'"),
    ],
)
async def test_bad_webhook_settings_exit_2_with_one_line(tmp_path: Path, flags: list[str], said: str) -> None:
    with trio.fail_after(30):
        data = tmp_path / "data"
        done = await run_hubbub("serve", "--port", "0", "--admin-port", "0", "--data-dir", str(data), *flags)
        assert done.returncode == 2
        lines = done.stderr.decode().strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("hubbub: ") and said in lines[0], lines
        assert not data.exists()  # nothing written
