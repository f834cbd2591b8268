"""The real `hubbub serve --store postgresql://...`: a message acknowledged on PostgreSQL survives kill -9.

The kill -9 test's server runs in a subprocess on a fresh database of the test PostgreSQL;
alice sends to bob from two devices, the server is killed (SIGKILL) right
after an ok while another send is in flight, and a new server on the same
database gives bob, resuming from the last event he saw, every
acknowledged message once and in order.
"""

from __future__ import annotations

from pathlib import Path

import trio

from .cli_support import REPO, hubbub_command, hubbub_env
from .messaging_support import assert_consecutive, durable, message_ids, send, until
from .test_durability import _client, _kill, _send_until_killed, _start, _whole_history

ACKED_BEFORE_KILL = 60


async def test_a_server_on_postgresql_keeps_every_acknowledged_message_through_kill_9(
    nursery: trio.Nursery, tmp_path: Path, postgres_url: str
) -> None:
    data_dir, log = tmp_path / "data", tmp_path / "server.log"
    with trio.fail_after(90):
        process, url = await _start(data_dir, log, "--store", postgres_url)
        acked: list[str] = []
        async with trio.open_nursery() as clients:
            bob = await _client(clients, url, "bob", "iOS")
            senders = [await _client(clients, url, "alice", platform) for platform in ("iOS", "Windows")]
            first = await send(senders[0], "bob", "while bob is online")
            acked.append(first["messageID"])
            seen = durable(await until(bob, lambda e: message_ids([e]) == [first["messageID"]]))
            bob_seq = seen[-1]["seq"]
            await bob.close()
            await _send_until_killed(process, senders, "bob", acked, ACKED_BEFORE_KILL)
            clients.cancel_scope.cancel()
        await _kill(process)  # already killed: waits for it and closes its pipe
        assert len(acked) == ACKED_BEFORE_KILL
        assert not (data_dir / "hubbub.sqlite3").exists()  # the state went to PostgreSQL only

        process, url = await _start(data_dir, log, "--store", postgres_url)
        try:
            alice = await _client(nursery, url, "alice", "Mac")
            ids = [m["messageID"] for m in await _whole_history(alice, "bob")]
            assert set(acked) <= set(ids)
            assert len(ids) <= ACKED_BEFORE_KILL + 1  # at most the one send in flight at the kill
            bob = await _client(nursery, url, "bob", "iOS", resume_from=bob_seq)
            assert bob.login_reply is not None and bob.login_reply["resumeGap"] is False
            events = durable(await until(bob, lambda e: message_ids([e]) == ids[-1:], timeout=30))
            assert_consecutive(events, bob_seq + 1)
            assert message_ids(events) == ids[1:]  # each missed message once, in order, nothing seen before
            after = await send(alice, "bob", "after the restart")
            assert message_ids(await until(bob, lambda e: message_ids([e]) == [after["messageID"]])) == [after["messageID"]]
        finally:
            await _kill(process)


async def test_store_urls_that_cannot_be_used_are_one_line_errors(tmp_path: Path) -> None:
    with trio.fail_after(30):
        shown = await trio.run_process(hubbub_command("serve", "--help"), capture_stdout=True, cwd=REPO, env=hubbub_env())
        assert "--store" in shown.stdout.decode() and "postgresql://" in shown.stdout.decode()
        for store, says in (
            ("mysql://db/chat", b"--store takes a postgresql:// URL"),
            ("postgresql://hubbub:s3cret@127.0.0.1:1/chat", b"cannot open postgresql database chat on 127.0.0.1"),
        ):
            refused = await trio.run_process(
                hubbub_command("serve", "--port", "0", "--admin-port", "0", "--data-dir", str(tmp_path / "data"), "--store", store),
                capture_stdout=True, capture_stderr=True, check=False, cwd=REPO, env=hubbub_env(),
            )
            assert refused.returncode == 2, refused.stderr
            lines = refused.stderr.decode().strip().splitlines()
            assert says in lines[-1].encode() and b"s3cret" not in refused.stderr, refused.stderr
