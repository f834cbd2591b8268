"""A message is durable once its sendMessage reply is ok (PROTOCOL.md §4).

Runs the real `hubbub serve` in a subprocess, kills it with SIGKILL right
after the last acknowledged send (while more sends are in flight), restarts
it on the same data directory and checks that nothing acknowledged is lost:
the sender's history holds every message, and the receiver, offline the whole
time, gets every one of them on resume (pending deliveries are recovered
after the restart) and in its history.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import trio

from hubbub_client import Client, ClientError, Disconnected

from .conftest import SECRET, token
from .messaging_support import assert_consecutive, durable, history, message_ids, send, until

ROOT = Path(__file__).resolve().parent.parent
ADMIN = "durability-admin-token"
ACKED_BEFORE_KILL = 200
GROUP_MESSAGE = "groupMessageReceived"


async def _start(data_dir: Path, log: Path, *options: str, wait_s: float = 20) -> tuple[trio.Process, str]:
    """Start `hubbub serve` (with more `options`) and return it with its WebSocket URL (from its stdout line).

    Fails when the server prints no listening line within `wait_s`.
    """
    process, ws_url, _ = await start_listening(data_dir, log, *options, wait_s=wait_s)
    return process, ws_url


async def start_listening(data_dir: Path, log: Path, *options: str, wait_s: float = 20) -> tuple[trio.Process, str, str]:
    """`_start`, and the admin API's URL too."""
    command = [
        sys.executable, "-m", "gateway.cli", "serve", "--port", "0", "--admin-port", "0",
        "--data-dir", str(data_dir), "--auth-secret", SECRET, "--admin-token", ADMIN,
        "--policy", "multi", "--log-level", "WARNING", *options,
    ]
    with log.open("ab") as stderr:
        process = await trio.lowlevel.open_process(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr)
    assert process.stdout is not None
    output = b""
    try:
        with trio.fail_after(wait_s):
            while b"\n" not in output:
                chunk = await process.stdout.receive_some(4096)
                if not chunk:
                    with trio.move_on_after(5):
                        await process.wait()
                    raise AssertionError(f"the server exited with status {process.returncode} before listening; {log_tail(log)}")
                output += chunk
    except BaseException:  # it did not come up, or the caller gave up on it (a sibling failed): it must not run on
        with trio.CancelScope(shield=True):
            await _kill(process)
        raise
    line = output.split(b"\n", 1)[0].decode()
    assert line.startswith("hubbub listening ws://"), line
    words = line.split()
    return process, words[2], words[4]


def log_tail(log: Path, lines: int = 30) -> str:
    """The last lines of a server's log, to explain why it stopped."""
    kept = log.read_text(errors="replace").splitlines()[-lines:]
    return f"the end of {log.name}:\n" + "\n".join(kept)


async def _kill(process: trio.Process) -> None:
    """SIGKILL (no shutdown, no flush; harmless if it was sent already), then reap it."""
    process.kill()
    with trio.fail_after(10):
        await process.wait()
    assert process.stdout is not None
    await process.stdout.aclose()


async def _client(nursery: trio.Nursery, url: str, user_id: str, platform: str, **login: Any) -> Client:
    client = Client(url, nursery)
    await client.connect()
    await client.login(user_id, token(user_id), platform=platform, device_id=f"{user_id}-{platform}", **login)
    return client


async def _send_until_killed(process: trio.Process, senders: list[Client], to: str, acked: list[str], limit: int) -> None:
    """Send from every device at once; kill -9 `process` right after the `limit`-th ok in `acked`.

    The other devices' sends are then in flight; an ok that arrives after the
    kill was decided is not counted.
    """
    killed = False

    async def keep_sending(client: Client, name: str) -> None:
        nonlocal killed
        n = 0
        while not killed:
            try:
                message = await send(client, to, f"{name}-{n}")
            except (Disconnected, ClientError):
                assert killed
                return
            n += 1
            if killed:
                return  # acknowledged after the kill was decided: not counted
            acked.append(message["messageID"])
            if len(acked) == limit:
                killed = True
                process.kill()  # at once, with the other device's send in flight

    async with trio.open_nursery() as sending:
        for index, client in enumerate(senders):
            sending.start_soon(keep_sending, client, f"d{index}")


async def _send_to_group(sender: Client, group_id: str, acked: list[str], count: int) -> None:
    """Send to the group, one at a time, until `acked` holds `count` acknowledged messageIDs."""
    while len(acked) < count:
        reply = await sender.request("sendMessage", toConversationID=group_id, conversationType=2, message={"type": 1, "message": f"m{len(acked)}"})
        acked.append(reply["message"]["messageID"])


async def _whole_history(client: Client, peer: str, conversation_type: int = 0) -> list[dict[str, Any]]:
    """Every message of the conversation, oldest first, in pages of 100."""
    found: list[dict[str, Any]] = []
    while True:
        config: dict[str, Any] = {"count": 100, "reverse": True}
        if found:
            config["nextMessageSeq"] = found[-1]["messageSeq"]
        page = await history(client, peer, conversation_type, **config)
        if not page:
            return found
        found += page


async def test_acknowledged_messages_survive_kill_9_and_reach_the_offline_receiver(nursery: trio.Nursery, tmp_path: Path) -> None:
    data_dir, log = tmp_path / "data", tmp_path / "server.log"
    with trio.fail_after(60):
        process, url = await _start(data_dir, log)
        acked: list[str] = []
        async with trio.open_nursery() as clients:
            senders = [await _client(clients, url, "alice", platform) for platform in ("iOS", "Windows")]
            await _send_until_killed(process, senders, "bob", acked, ACKED_BEFORE_KILL)
            clients.cancel_scope.cancel()
        with trio.fail_after(10):
            await process.wait()
        assert process.stdout is not None
        await process.stdout.aclose()
        assert len(acked) == ACKED_BEFORE_KILL

        process, url = await _start(data_dir, log)
        try:
            alice = await _client(nursery, url, "alice", "Mac")
            sent = await _whole_history(alice, "bob")
            ids = [m["messageID"] for m in sent]
            assert set(acked) <= set(ids)
            assert len(ids) <= ACKED_BEFORE_KILL + 1  # at most the one send in flight at the kill
            assert [m["messageSeq"] for m in sent] == list(range(1, len(sent) + 1))
            assert all(m["direction"] == 0 and m["senderUserID"] == "alice" for m in sent)

            # bob was never online: everything reaches him on his first resume
            bob = await _client(nursery, url, "bob", "Web", resume_from=0)
            assert bob.login_reply is not None and bob.login_reply["resumeGap"] is False
            assert bob.login_reply["seq"] == 3 * len(ids)
            events = durable(await until(bob, lambda e: e.get("seq") == 3 * len(ids), timeout=20))
            assert_consecutive(events, 1)
            assert message_ids(events) == ids
            assert events[-1]["totalUnreadMessageCount"] == len(ids)
            received = await _whole_history(bob, "alice")
            assert [m["messageID"] for m in received] == ids
            assert all(m["direction"] == 1 for m in received)
            assert (await bob.request("queryConversation", conversationID="alice", conversationType=0))["conversation"]["unreadMessageCount"] == len(ids)
            # and the restarted server carries on with the next seq in both views
            after = await send(alice, "bob", "after the restart")
            assert after["messageSeq"] == len(ids) + 1
            got = await until(bob, lambda e: message_ids([e]) == [after["messageID"]])
            assert got[-1]["messageList"][0]["messageSeq"] == len(ids) + 1
        finally:
            await _kill(process)


async def test_acknowledged_group_messages_survive_kill_9_and_reach_every_offline_member(nursery: trio.Nursery, tmp_path: Path) -> None:
    data_dir, log = tmp_path / "data", tmp_path / "server.log"
    members = ["bob", "carol", "dave"]
    with trio.fail_after(60):
        process, url = await _start(data_dir, log)
        acked: list[str] = []
        async with trio.open_nursery() as clients:
            alice = await _client(clients, url, "alice", "iOS")
            await alice.request("createGroup", groupInfo={"groupID": "g1", "groupName": "g1"}, userIDs=members)
            await _send_to_group(alice, "g1", acked, ACKED_BEFORE_KILL // 2)
            process.kill()  # right after the last ok: the members' deliveries are still being taken
            clients.cancel_scope.cancel()
        await _kill(process)

        process, url = await _start(data_dir, log)
        try:
            for member in members:  # never online: everything reaches each of them on the first resume
                client = await _client(nursery, url, member, "Web", resume_from=0)
                assert client.login_reply is not None and client.login_reply["resumeGap"] is False
                events = durable(await until(client, lambda e: message_ids([e], GROUP_MESSAGE) == acked[-1:], timeout=20))
                assert_consecutive(events, 1)
                assert events[0]["ev"] == "groupStateChanged"
                assert message_ids(events, GROUP_MESSAGE) == acked
                received = await _whole_history(client, "g1", 2)
                assert [m["messageID"] for m in received] == acked
                assert [m["messageSeq"] for m in received] == list(range(1, len(acked) + 1))
        finally:
            await _kill(process)


async def test_acknowledged_thread_messages_survive_kill_9_and_reach_every_thread_member(nursery: trio.Nursery, tmp_path: Path) -> None:
    data_dir, log = tmp_path / "data", tmp_path / "server.log"
    thread_members, outsider = ["bob", "carol"], "dave"
    with trio.fail_after(60):
        process, url = await _start(data_dir, log)
        acked: list[str] = []
        async with trio.open_nursery() as clients:
            alice = await _client(clients, url, "alice", "iOS")
            await alice.request("createGroup", groupInfo={"groupID": "g1", "groupName": "g1"}, userIDs=[*thread_members, outsider])
            parent = await alice.request("sendMessage", toConversationID="g1", conversationType=2, message={"type": 1, "message": "p"})
            created = await alice.request("createThread", groupID="g1", parentMessageID=parent["message"]["messageID"], threadName="t")
            thread_id = created["thread"]["threadID"]
            for member in thread_members:
                client = await _client(clients, url, member, "iOS")
                await client.request("joinThread", threadID=thread_id)
                await client.close()
            while len(acked) < ACKED_BEFORE_KILL // 2:
                reply = await alice.request(
                    "sendMessage", toConversationID=thread_id, conversationType=3, message={"type": 1, "message": f"m{len(acked)}"}
                )
                acked.append(reply["message"]["messageID"])
            process.kill()  # right after the last ok: the thread members' deliveries are still being taken
            clients.cancel_scope.cancel()
        with trio.fail_after(10):
            await process.wait()
        assert process.stdout is not None
        await process.stdout.aclose()

        process, url = await _start(data_dir, log)
        try:
            for member in thread_members:  # a new device replaying the whole stream: every acknowledged message, in order
                client = await _client(nursery, url, member, "Web", resume_from=0)
                events = durable(await until(client, lambda e: message_ids([e], "threadMessageReceived") == acked[-1:], timeout=20))
                assert_consecutive(events, 1)
                assert message_ids(events, "threadMessageReceived") == acked
                received = await _whole_history(client, thread_id, 3)
                assert [m["messageID"] for m in received] == acked
                assert [m["messageSeq"] for m in received] == list(range(1, len(acked) + 1))
            client = await _client(nursery, url, outsider, "Web")
            assert await _whole_history(client, thread_id, 3) == []
        finally:
            await _kill(process)


async def test_a_member_resumes_inside_a_delivery_s_events_after_kill_9(nursery: trio.Nursery, tmp_path: Path) -> None:
    """A delivery's events are stored together (one stream row); a device that saw only the first resumes from there.

    Bob's device takes events up to the 10th message's groupMessageReceived,
    the first of that delivery's events; after kill -9 and a restart it
    resumes from that seq and gets the rest of the delivery, then every later
    message, each event once and in order.
    """
    data_dir, log = tmp_path / "data", tmp_path / "server.log"
    with trio.fail_after(60):
        process, url = await _start(data_dir, log)
        acked: list[str] = []
        async with trio.open_nursery() as clients:
            alice = await _client(clients, url, "alice", "iOS")
            bob = await _client(clients, url, "bob", "Web")
            await alice.request("createGroup", groupInfo={"groupID": "g1", "groupName": "g1"}, userIDs=["bob", "carol"])
            await _send_to_group(alice, "g1", acked, 40)
            seen = durable(await until(bob, lambda e: message_ids([e], GROUP_MESSAGE) == acked[9:10], timeout=20))
            process.kill()  # right after the last ok: the members' deliveries are still being taken
            clients.cancel_scope.cancel()
        await _kill(process)
        assert_consecutive(seen, 1)
        assert message_ids(seen, GROUP_MESSAGE) == acked[:10]
        inside = seen[-1]["seq"]

        process, url = await _start(data_dir, log)
        try:
            bob = await _client(nursery, url, "bob", "Web", resume_from=inside)
            assert bob.login_reply is not None and bob.login_reply["resumeGap"] is False
            events = durable(await until(bob, lambda e: message_ids([e], GROUP_MESSAGE) == acked[-1:], timeout=20))
            assert_consecutive(events, inside + 1)
            assert events[0]["ev"] == "conversationChanged"  # the 10th message's delivery, after its first event
            assert events[0]["infoList"][0]["conversation"]["lastMessage"]["messageID"] == acked[9]
            assert message_ids(events, GROUP_MESSAGE) == acked[10:]
        finally:
            await _kill(process)
