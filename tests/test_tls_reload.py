"""SIGHUP reloads the certificate and key files: new connections get the renewed certificate, the server runs on."""

from __future__ import annotations

import re
import signal
import ssl
import subprocess
from pathlib import Path

import pytest
import trio
import trustme

from hubbub_client import ConnectFailed, open_client

from .cli_support import ADMIN_TOKEN, REPO, SECRET, Lines, hubbub_command, hubbub_env


def _install(ca: trustme.CA, chain: Path, key: Path) -> None:
    cert = ca.issue_cert("127.0.0.1")
    chain.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    key.write_bytes(cert.private_key_pem.bytes())


def _trusting(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


async def _wait_for(log: Lines, text: str) -> None:
    """Read the server's log lines until one says `text` (10 s at most)."""
    with trio.fail_after(10):
        while text not in await log.next(timeout=10):
            pass


async def test_sighup_reloads_the_certificate(tmp_path: Path) -> None:
    old_ca, new_ca = trustme.CA(), trustme.CA()
    chain, key = tmp_path / "chain.pem", tmp_path / "key.pem"
    _install(old_ca, chain, key)
    with trio.fail_after(60):
        process = await trio.lowlevel.open_process(
            hubbub_command(
                "serve", "--port", "0", "--admin-port", "0", "--data-dir", str(tmp_path / "data"), "--auth-secret", SECRET,
                "--admin-token", ADMIN_TOKEN, "--tls-cert", str(chain), "--tls-key", str(key),
            ),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO, env=hubbub_env(),
        )
        try:
            assert process.stdout is not None and process.stderr is not None
            log = Lines(process.stderr)
            line = await Lines(process.stdout).next(timeout=20)
            match = re.match(r"^hubbub listening (wss://127\.0\.0\.1:\d+/ws) ", line)
            assert match, line
            url = match.group(1)
            async with open_client(url, ssl_context=_trusting(old_ca)) as before:
                assert before.ws is not None

                _install(new_ca, chain, key)
                process.send_signal(signal.SIGHUP)
                await _wait_for(log, "certificate reloaded")
                async with open_client(url, ssl_context=_trusting(new_ca)) as after:
                    assert after.ws is not None
                with pytest.raises(ConnectFailed, match="not trusted"):
                    async with open_client(url, ssl_context=_trusting(old_ca)):
                        raise AssertionError("the old certificate is still served")

                # a broken renewal keeps the certificate in use
                chain.write_text("not a certificate")
                process.send_signal(signal.SIGHUP)
                await _wait_for(log, "certificate not reloaded")
                async with open_client(url, ssl_context=_trusting(new_ca)) as still:
                    assert still.ws is not None
            assert process.returncode is None
        finally:
            if process.returncode is None:
                process.kill()
            with trio.move_on_after(5, shield=True):
                await process.wait()
