"""The group mix: fan-out of group messages to every online member device.

One pool of accounts logs in (the first half on two devices when --devices
is 2 or more, the rest on one). For each size in --group-sizes a group of
that many pool accounts is created, then its owner sends
--group-messages messages at --group-rate per second. A message is
delivered once per member device that receives it as
`groupMessageReceived` (every member device but the sending one).

Then the thread mix: in the largest group, --thread-size of its members
(the owner first) make a thread from one group message, and once every
member device heard of the last join, the owner sends
--thread-messages messages to it at --thread-rate per second; a thread
message is delivered once per thread member device that receives it as
`threadMessageReceived` (the owner's other device too, as sent).

Figures per size (and for the thread, `t<size>_...`): fan-out deliveries/s
(ratio to the echo's round trips/s), delivery latency p50/p99 from the
send to the arrival on a device, the same per message until its last copy
arrived (every member has it), and, for a server this script started,
the server's CPU per delivery (ratio to the echo's CPU per round trip: the
figure that moves least on a busy machine).
"""

from __future__ import annotations

import argparse
import secrets
import time
from collections import defaultdict
from dataclasses import dataclass, field

import trio

from hubbub_client import Client, ClientError, Disconnected

from . import Figure, MixResult, Progress, Target, latency_figures, log_in_devices

DESCRIPTION = "group messages to groups of 10, 100 and 1,000 members, then to a 100-member thread; fan-out deliveries/s and latency"

_STAMP = "g="


@dataclass(slots=True)
class _Tally:
    delivered: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    latencies: defaultdict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    last_arrival: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    # per message (conversation ID, send time): when its last copy arrived
    last_copy: dict[tuple[str, float], float] = field(default_factory=dict)
    # (threadID, the user who joined): how many devices heard of it (threadMemberChanged)
    joins_heard: defaultdict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    errors: list[str] = field(default_factory=list)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("groups mix")
    group.add_argument("--group-sizes", default="10,100,1000", help="member counts, comma-separated (default %(default)s)")
    group.add_argument("--group-messages", type=int, default=20, help="messages sent to each group (default %(default)s)")
    group.add_argument("--group-rate", type=float, default=5.0, help="messages per second to one group (default %(default)s)")
    group.add_argument("--thread-size", type=int, default=100, help="members of the thread in the largest group; 0 for none (default %(default)s)")
    group.add_argument("--thread-messages", type=int, default=20, help="messages sent to the thread (default %(default)s)")
    group.add_argument("--thread-rate", type=float, default=2.0, help="messages per second to the thread (default %(default)s)")


def _sizes(args: argparse.Namespace) -> list[int]:
    return [int(s) for s in str(args.group_sizes).split(",") if s.strip()]


def connections(args: argparse.Namespace) -> int:
    sizes = _sizes(args)
    if not sizes or min(sizes) < 2:
        raise ValueError("--group-sizes needs sizes of at least 2")
    if args.thread_size and not 2 <= args.thread_size <= max(sizes):
        raise ValueError("--thread-size needs 0, or 2 up to the largest group size")
    pool = max(sizes)
    return pool + (pool // 2 if args.devices >= 2 else 0)


def _device_count(index: int, pool: int, args: argparse.Namespace) -> int:
    return 2 if args.devices >= 2 and index < pool // 2 else 1


async def run(target: Target, args: argparse.Namespace, progress: Progress) -> MixResult:
    tag = secrets.token_hex(3)
    pool = max(_sizes(args))
    users = [f"grp{tag}-{i}" for i in range(pool)]
    result = MixResult("groups")
    tally = _Tally()
    async with trio.open_nursery() as held:
        devices = await log_in_devices(target, [(u, d) for i, u in enumerate(users) for d in range(_device_count(i, len(users), args))], args, held, progress)
        if len(devices) != sum(_device_count(i, pool, args) for i in range(pool)):
            result.problems.append(f"only {len(devices)} devices logged in")
        for client in devices.values():
            held.start_soon(_receive, client, tally)
        started = time.monotonic()
        for size in _sizes(args):
            await _one_group(f"grp{tag}-g{size}", users[:size], devices, args, tally, result, progress, target)
        if args.thread_size:
            await _one_thread(f"grp{tag}-g{pool}", users[: args.thread_size], devices, args, tally, result, progress, target)
        result.elapsed_s = time.monotonic() - started
        progress.done()
        async with trio.open_nursery() as closing:
            for client in devices.values():
                closing.start_soon(client.close)
        held.cancel_scope.cancel()
    result.problems.extend(tally.errors)
    return result


async def _one_group(
    group_id: str,
    members: list[str],
    devices: dict[tuple[str, int], Client],
    args: argparse.Namespace,
    tally: _Tally,
    result: MixResult,
    progress: Progress,
    target: Target,
) -> None:
    owner = devices[(members[0], 0)]
    await owner.request("createGroup", groupInfo={"groupID": group_id, "groupName": group_id}, userIDs=members[1:100])
    for start in range(100, len(members), 100):
        await owner.request("inviteUsersIntoGroup", groupID=group_id, userIDs=members[start : start + 100])
    receivers = sum(1 for (user, _), _c in devices.items() if user in set(members)) - 1
    sending = _Sending(group_id, 2, args.group_messages, args.group_rate, receivers, f"g{len(members)}", f"group {len(members)}")
    await _timed_sends(owner, sending, args, tally, result, progress, target)


async def _one_thread(
    group_id: str,
    members: list[str],
    devices: dict[tuple[str, int], Client],
    args: argparse.Namespace,
    tally: _Tally,
    result: MixResult,
    progress: Progress,
    target: Target,
) -> None:
    """A thread of `members` (the group's owner first) in group `group_id`, then the owner's timed sends to it."""
    owner = devices[(members[0], 0)]
    parent = await owner.request("sendMessage", toConversationID=group_id, conversationType=2, message={"type": 1, "message": "parent"})
    created = await owner.request("createThread", groupID=group_id, parentMessageID=parent["message"]["messageID"], threadName="load")
    thread_id: str = created["thread"]["threadID"]
    for member in members[1:]:
        await devices[(member, 0)].request("joinThread", threadID=thread_id)
    # the joins' events settle before timing starts: every earlier member's device heard of the last join
    told = sum(1 for (user, _), _c in devices.items() if user in set(members[:-1]))
    with trio.move_on_after(args.settle_s):
        while tally.joins_heard[(thread_id, members[-1])] < told:  # noqa: ASYNC110  a poll, as the delivery wait below
            await trio.sleep(0.05)
    if (heard := tally.joins_heard[(thread_id, members[-1])]) < told:
        tally.errors.append(f"{thread_id}: the last join reached {heard} of {told} member devices within --settle-s")
    receivers = sum(1 for (user, _), _c in devices.items() if user in set(members)) - 1
    sending = _Sending(thread_id, 3, args.thread_messages, args.thread_rate, receivers, f"t{len(members)}", f"thread {len(members)}")
    await _timed_sends(owner, sending, args, tally, result, progress, target)


@dataclass(frozen=True, slots=True)
class _Sending:
    conversation_id: str
    conversation_type: int
    messages: int
    rate: float
    receivers: int  # member devices that get each message
    prefix: str  # of the figures' names
    label: str  # for the progress line


async def _timed_sends(
    sender: Client, sending: _Sending, args: argparse.Namespace, tally: _Tally, result: MixResult, progress: Progress,
    target: Target,
) -> None:
    """Send `sending.messages` at `sending.rate`, wait (up to --settle-s) for every delivery, add the figures."""
    cid = sending.conversation_id
    expected = sending.receivers * sending.messages
    await trio.sleep(0.5)  # membership events settle before timing starts
    cpu_before = target.server_cpu_s()
    started = time.monotonic()
    for count in range(sending.messages):
        next_at = started + count / sending.rate
        if (delay := next_at - time.monotonic()) > 0:
            await trio.sleep(delay)
        body = f"{_STAMP}{cid}|{time.monotonic():.6f}"
        try:
            await sender.request(
                "sendMessage", toConversationID=cid, conversationType=sending.conversation_type, message={"type": 1, "message": body}
            )
        except (ClientError, Disconnected, trio.TooSlowError) as exc:
            tally.errors.append(f"{cid}: {type(exc).__name__}: {exc}"[:200])
        progress.update(sending.label, tally.delivered[cid], expected)
    with trio.move_on_after(args.settle_s):
        while tally.delivered[cid] < expected:  # noqa: ASYNC110  a poll, as in the runs recorded in BENCHMARKS.md: the settle time stays comparable
            await trio.sleep(0.05)
    spread_s = max(tally.last_arrival[cid] - started, 1e-9)
    cpu_after = target.server_cpu_s()
    name = sending.prefix
    if cpu_before is not None and cpu_after is not None and tally.delivered[cid]:
        cpu_us = (cpu_after - cpu_before) * 1e6 / tally.delivered[cid]
        result.add(Figure(f"{name}_cpu_us_per_delivery", cpu_us, "us", "cpu_us_per_round_trip", note="server CPU while sending"))
    note = f"{sending.receivers} member devices x {sending.messages}"
    result.add(Figure(f"{name}_deliveries", tally.delivered[cid], expected=expected, note=note))
    result.add(Figure(f"{name}_deliveries_per_s", tally.delivered[cid] / spread_s, "/s", "round_trips_per_s", note="first send to last arrival"))
    for figure in latency_figures(f"{name}_delivery", tally.latencies[cid], "rtt", "send to arrival on a device"):
        result.add(figure)
    last = [arrived - sent for (conversation, sent), arrived in tally.last_copy.items() if conversation == cid]
    for figure in latency_figures(f"{name}_last_member", last, "rtt", "per message: send to the last member's copy"):
        result.add(figure)


async def _receive(client: Client, tally: _Tally) -> None:
    async for event in client.events():
        if event.get("ev") == "threadMemberChanged" and event.get("event") == "join":
            for user in event.get("userIDs", []):
                tally.joins_heard[(str(event.get("threadID")), user)] += 1
            continue
        if event.get("ev") not in ("groupMessageReceived", "threadMessageReceived"):
            continue
        arrived = time.monotonic()
        for message in event.get("messageList", []):
            text = message.get("message")
            if isinstance(text, str) and text.startswith(_STAMP):
                cid, _, sent = text[len(_STAMP) :].partition("|")
                tally.delivered[cid] += 1
                tally.latencies[cid].append(arrived - float(sent))
                tally.last_arrival[cid] = max(tally.last_arrival[cid], arrived)
                tally.last_copy[(cid, float(sent))] = arrived
