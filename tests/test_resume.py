"""The durable account stream: seq, ack, resume (PROTOCOL.md §4).

A device that logs in with `resumeFrom: s` first gets every durable event
with seq > s, in order, then live ones: no gap and no repeat. Without
`resumeFrom` it gets live events only; past the retention it is told to
reload (`resumeGap`).
"""

from __future__ import annotations

from typing import Any

import trio

from hubbub_client import Client
from gateway.server import Gateway

from .cluster_servers import session_of
from .conftest import Connect, Login, StartServer, token
from .messaging_support import assert_consecutive, devices, durable, fails, message_ids, send, until


async def _wait_message(client: Client, message_id: str) -> list[dict[str, Any]]:
    return await until(client, lambda e: message_ids([e]) == [message_id], timeout=20)


async def _drop_connection(server: Gateway, client: Client) -> None:
    """Cut the device's TCP connection on the server's side: no close frame (the client sees 1006)."""
    session = session_of(server, client.login_id)
    await session.ws._stream.aclose()


async def test_offline_device_resumes_exactly_what_it_missed(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(30):
        a1, a2, a3 = await devices(login, server, "alice", 3)
        (b1,) = await devices(login, server, "bob", 1)
        await send(b1, "alice", "before")
        seen = await _wait_message(a3, (await send(b1, "alice", "before, too"))["messageID"])
        await until(a3, lambda e: e["ev"] == "conversationTotalUnreadMessageCountUpdated")
        offline_at = a3.last_seq
        await a3.close()
        assert durable(seen)

        # 50 durable events for alice: 10 received messages (3 events each), 10 sent from a1 (2 each)
        last = None
        for n in range(10):
            await send(a1, "bob", f"mine {n}")
            last = await send(b1, "alice", f"yours {n}")
        assert last is not None
        reference = durable(await until(a2, lambda e: e["ev"] == "conversationTotalUnreadMessageCountUpdated"
                                        and e["totalUnreadMessageCount"] == 12))
        reference = [e for e in reference if e["seq"] > offline_at]
        assert len(reference) == 50

        reply = await a3.reconnect()
        assert reply["resumeGap"] is False
        assert reply["seq"] == offline_at + 50
        # a live event after the login
        live = await send(b1, "alice", "live")
        got = durable(await until(a3, lambda e: message_ids([e]) == [live["messageID"]]))
        assert got[:50] == reference
        assert_consecutive(got, offline_at + 1)
        assert got[50]["seq"] == offline_at + 51
        # the live message's own events (message, conversation, total) may have come in the same write
        assert offline_at + 51 <= a3.last_seq <= offline_at + 53


async def test_resume_racing_with_live_sends_has_no_gap_and_no_repeat(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(40):
        a1, a2 = await devices(login, server, "alice", 2)
        (b1,) = await devices(login, server, "bob", 1)
        first_seq = a2.last_seq + 1
        sent: list[str] = []
        done = trio.Event()

        async def keep_sending() -> None:
            for n in range(100):
                sent.append((await send(b1, "alice", f"m{n}"))["messageID"])
                if n % 10 == 0:
                    await trio.sleep(0.001)
            done.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(keep_sending)
            reconnects = replayed = 0
            while not done.is_set():
                await trio.sleep(0.01)
                resume_from = a2.last_seq
                reply = await a2.reconnect()
                reconnects += 1
                replayed += reply["seq"] > resume_from  # events happened while it was away
        assert reconnects >= 3 and replayed >= 1
        events = durable(await _wait_message(a2, sent[-1]))
        events += durable(await until(a2, lambda e: e["ev"] == "conversationTotalUnreadMessageCountUpdated"))
        assert_consecutive(events, first_seq)
        assert message_ids(events) == sent
        assert events[-1]["totalUnreadMessageCount"] == 100
        # the device that stayed online saw the very same stream
        reference = durable(await _wait_message(a1, sent[-1]))
        reference += durable(await until(a1, lambda e: e["ev"] == "conversationTotalUnreadMessageCountUpdated"))
        assert events == reference


async def test_login_without_resume_gets_live_events_only(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(20):
        (a1,) = await devices(login, server, "alice", 1)
        (b1,) = await devices(login, server, "bob", 1)
        for n in range(5):
            last = await send(b1, "alice", f"old {n}")
        await _wait_message(a1, last["messageID"])
        fresh = await login(server, "alice", device="new-tablet", platform="Android")
        assert fresh.login_reply is not None
        head = fresh.login_reply["seq"]
        assert head == 15 and fresh.login_reply["resumeGap"] is False
        live = await send(b1, "alice", "new")
        got = await _wait_message(fresh, live["messageID"])
        assert [e["ev"] for e in got] == ["peerMessageReceived"]
        assert got[0]["seq"] == head + 1
        # resuming from the head replays nothing either
        await until(fresh, lambda e: e["ev"] == "conversationTotalUnreadMessageCountUpdated")
        await fresh.close()
        again = await fresh.reconnect()
        assert again["resumeGap"] is False
        later = await send(b1, "alice", "later")
        got = durable(await _wait_message(fresh, later["messageID"]))
        assert [e["seq"] for e in got] == [head + 4]


async def test_resume_beyond_retention_reports_a_gap(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi", stream_keep_count=10)
    with trio.fail_after(30):
        a1, a2 = await devices(login, server, "alice", 2)
        (b1,) = await devices(login, server, "bob", 1)
        await a2.close()
        for n in range(67):  # 3 durable events each: 201
            last = await send(b1, "alice", f"m{n}")
        await _wait_message(a1, last["messageID"])
        reply = await a2.reconnect()
        assert reply["resumeGap"] is True
        assert reply["seq"] == 201
        live = await send(b1, "alice", "live")
        got = durable(await _wait_message(a2, live["messageID"]))
        assert [e["seq"] for e in got] == [202]
        unread = await a2.next_event("conversationTotalUnreadMessageCountUpdated")
        assert unread["seq"] == 204 and a2.last_seq == 204  # conversationChanged was 203

        # within what is kept, resume still works on the same server
        await a2.close()
        await trio.lowlevel.checkpoint()
        resumer = await login(server, "alice", device="other", platform="Android", resume_from=199)
        assert resumer.login_reply is not None and resumer.login_reply["resumeGap"] is False
        got = durable(await _wait_message(resumer, live["messageID"]))
        assert [e["seq"] for e in got] == [200, 201, 202]
        # a seq the account never reached is a gap too
        ahead = await login(server, "alice", device="ahead", platform="Mac", resume_from=10_000)
        assert ahead.login_reply is not None and ahead.login_reply["resumeGap"] is True


async def test_ack_is_accepted(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(20):
        (a1,) = await devices(login, server, "alice", 1)
        (b1,) = await devices(login, server, "bob", 1)
        message = await send(b1, "alice", "hi")
        await _wait_message(a1, message["messageID"])
        await a1.ack()
        assert (await a1.request("ack", seq=a1.last_seq))["ok"] is True
        assert (await a1.request("ack", seq=10**9))["ok"] is True  # beyond the head: harmless
        await fails(1003, a1.request("ack", seq=-1))
        await fails(1003, a1.request("ack", seq="3"))
        await fails(1003, a1.request("ack"))
        after = await send(b1, "alice", "after the acks")
        assert (await _wait_message(a1, after["messageID"]))[-1]["seq"] == 4


async def test_client_resumes_by_itself_after_a_dropped_connection(start_server: StartServer, connect: Connect) -> None:
    server = await start_server("multi")
    with trio.fail_after(30):
        sender = await connect(server)
        await sender.login("bob", token("bob"), platform="iOS")
        device = await connect(server)
        device.auto_resume = True
        await device.login("alice", token("alice"), platform="Web")
        assert device.login_reply is not None
        device_id = device.login_reply["devices"][0]["deviceID"]
        sent = [(await send(sender, "alice", "before"))["messageID"]]
        await _wait_message(device, sent[0])

        for round in range(1, 3):
            await _drop_connection(server, device)
            for n in range(20):
                sent.append((await send(sender, "alice", f"m{n}"))["messageID"])
            while device.resumes < round:  # noqa: ASYNC110  the client counts resumes without an event; bounded by the test's fail_after
                await trio.sleep(0.01)
        last = await _wait_message(device, sent[-1])
        assert device.resumes == 2
        assert device.close_code is None
        events = durable(last)
        events += durable(await until(device, lambda e: e["ev"] == "conversationTotalUnreadMessageCountUpdated"))
        assert_consecutive(events, 2)
        assert message_ids(events) == sent[1:]
        assert events[-1]["totalUnreadMessageCount"] == len(sent)
        # still connected as the same installation, and requests work
        assert [d["deviceID"] for d in (await device.request("queryDevices"))["devices"]] == [device_id]
        assert (await device.request("queryConversation", conversationID="bob", conversationType=0))["conversation"]["unreadMessageCount"] == 41
