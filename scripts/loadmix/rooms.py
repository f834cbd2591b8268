"""The rooms mix: live fan-out of room messages to every member.

A pool of single-device accounts logs in. For each size in --room-sizes
(1,000 and 5,000 by default) that many pool accounts enter one room, then
one member sends --room-messages messages at a steady --room-rate per
second. A message is delivered once per other member that receives it as
`roomMessageReceived`; latency runs from just before the send to the arrival
(one process, one monotonic clock). Rooms run one after the other; the
members of the first room stay in it, idle, while the next one runs.

A member the server finds too slow for a room is dropped from it with
`roomStateChanged` event 8: that count is a correctness figure (expected 0
at a rate the machine sustains; raise the rate to see the server shed slow
members instead of stalling the room).

Figures per size: members joined per second, deliveries (expected count),
fan-out deliveries/s (ratio to the echo's round trips/s) and delivery latency
p50/p99 (ratio to the echo's round trip). --accounts and --devices are not
used: the pool is the largest room size, one device each.
"""

from __future__ import annotations

import argparse
import secrets
import time
from collections import defaultdict
from dataclasses import dataclass, field

import trio

from hubbub_client import Client, ClientError, Disconnected

from . import PLATFORMS, Figure, MixResult, Progress, Target, latency_figures, log_in_devices, process_cpu_s

DESCRIPTION = "room messages to rooms of 1,000 and 5,000 members at a steady rate; deliveries/s and p99 latency"

_STAMP = "r="


@dataclass(slots=True)
class _Tally:
    delivered: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    latencies: defaultdict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    last_arrival: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    slow_drops: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    errors: list[str] = field(default_factory=list)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("rooms mix")
    group.add_argument("--room-sizes", default="1000,5000", help="members per room, comma-separated (default %(default)s)")
    group.add_argument("--room-messages", type=int, default=20, help="messages sent to each room (default %(default)s)")
    group.add_argument("--room-rate", type=float, default=2.0, help="messages per second to one room (default %(default)s)")
    group.add_argument("--room-body-bytes", type=int, default=64, help="message body size (default %(default)s)")


def _sizes(args: argparse.Namespace) -> list[int]:
    return [int(s) for s in str(args.room_sizes).split(",") if s.strip()]


def connections(args: argparse.Namespace) -> int:
    sizes = _sizes(args)
    if not sizes or min(sizes) < 2:
        raise ValueError("--room-sizes needs sizes of at least 2")
    if args.room_rate <= 0 or args.room_messages < 1:
        raise ValueError("--room-rate must be positive and --room-messages at least 1")
    return max(sizes)


async def run(target: Target, args: argparse.Namespace, progress: Progress) -> MixResult:
    """Log the pool in, run each room in turn, close every connection."""
    tag = secrets.token_hex(3)
    users = [f"room{tag}-{i}" for i in range(max(_sizes(args)))]
    result = MixResult("rooms")
    tally = _Tally()
    async with trio.open_nursery() as held:
        started = time.monotonic()
        members = await _log_in_all(target, users, args, held, progress)
        login_s = time.monotonic() - started
        if len(members) != len(users):
            result.problems.append(f"only {len(members)} of {len(users)} devices logged in")
        result.add(Figure("logins_per_s", len(members) / login_s if login_s else 0.0, "/s", "sessions_per_s"))
        for client in members.values():
            held.start_soon(_receive, client, tally)
        for size in _sizes(args):
            room_id = f"room{tag}-r{size}"
            clients = [members[u] for u in users[:size] if u in members]
            await _one_room(room_id, clients, args, tally, result, progress, target.server_pid)
        result.elapsed_s = time.monotonic() - started
        progress.done()
        async with trio.open_nursery() as closing:
            for client in members.values():
                closing.start_soon(client.close)
        held.cancel_scope.cancel()
    result.problems.extend(tally.errors[:10])
    return result


async def _one_room(
    room_id: str,
    clients: list[Client],
    args: argparse.Namespace,
    tally: _Tally,
    result: MixResult,
    progress: Progress,
    server_pid: int | None,
) -> None:
    size = len(clients)
    joined_s = await _enter_all(room_id, clients, args, tally, progress)
    result.add(Figure(f"r{size}_joins_per_s", size / joined_s if joined_s else 0.0, "/s", "round_trips_per_s", note="enterRoom, all members at once"))
    count = await _room_size(clients[0], room_id, args)
    result.add(Figure(f"r{size}_members", count, expected=size))
    expected = (size - 1) * args.room_messages
    sender = clients[0]
    padding = "x" * max(0, args.room_body_bytes - 40)
    failed = 0
    cpu_before = process_cpu_s(server_pid)
    started = time.monotonic()
    for n in range(args.room_messages):
        next_at = started + n / args.room_rate
        if (delay := next_at - time.monotonic()) > 0:
            await trio.sleep(delay)
        body = f"{_STAMP}{room_id}|{time.monotonic():.6f}|{padding}"
        try:
            await sender.request(
                "sendMessage",
                timeout=args.request_timeout_s,
                toConversationID=room_id,
                conversationType=1,
                message={"type": 1, "message": body},
            )
        except (ClientError, Disconnected, trio.TooSlowError) as exc:
            failed += 1
            tally.errors.append(f"{room_id}: {type(exc).__name__}: {exc}"[:200])
        progress.update(f"room {size}", tally.delivered[room_id], expected)
    with trio.move_on_after(args.settle_s):
        while tally.delivered[room_id] < expected:  # noqa: ASYNC110  a poll, as in the runs recorded in BENCHMARKS.md: the settle time stays comparable
            await trio.sleep(0.05)
    spread_s = max(tally.last_arrival[room_id] - started, 1e-9)
    cpu_after = process_cpu_s(server_pid)
    add = result.add
    if cpu_before is not None and cpu_after is not None and tally.delivered[room_id]:
        cpu_us = (cpu_after - cpu_before) * 1e6 / tally.delivered[room_id]
        add(Figure(f"r{size}_cpu_us_per_delivery", cpu_us, "us", "cpu_us_per_round_trip", note="server CPU while sending"))
    add(Figure(f"r{size}_sends_failed", failed, expected=0))
    add(Figure(f"r{size}_deliveries", tally.delivered[room_id], expected=expected, note=f"{size - 1} members x {args.room_messages}"))
    add(Figure(f"r{size}_deliveries_per_s", tally.delivered[room_id] / spread_s, "/s", "round_trips_per_s", note="first send to last arrival"))
    add(Figure(f"r{size}_offered_per_s", (size - 1) * args.room_rate, "/s", note="what the send rate asks of the server"))
    for figure in latency_figures(f"r{size}_delivery", tally.latencies[room_id], "rtt", "send to arrival on a member"):
        add(figure)
    add(Figure(f"r{size}_slow_drops", tally.slow_drops[room_id], expected=0, note="members dropped as too slow (event 8)"))


async def _enter_all(room_id: str, clients: list[Client], args: argparse.Namespace, tally: _Tally, progress: Progress) -> float:
    """Every client enters the room, at most --concurrency at once; returns the seconds it took."""
    limiter = trio.CapacityLimiter(args.concurrency)
    entered = 0

    async def one(client: Client) -> None:
        nonlocal entered
        async with limiter:
            try:
                await client.request("enterRoom", timeout=args.request_timeout_s, roomInfo={"roomID": room_id, "roomName": room_id})
                entered += 1
            except (ClientError, Disconnected, trio.TooSlowError) as exc:
                tally.errors.append(f"{room_id} enter: {type(exc).__name__}: {exc}"[:200])
            progress.update(f"enter {room_id}", entered, len(clients))

    started = time.monotonic()
    async with trio.open_nursery() as nursery:
        for client in clients:
            nursery.start_soon(one, client)
    return time.monotonic() - started


async def _room_size(client: Client, room_id: str, args: argparse.Namespace) -> int:
    try:
        reply = await client.request("queryRoomOnlineMemberCount", timeout=args.request_timeout_s, roomID=room_id)
    except (ClientError, Disconnected, trio.TooSlowError):
        return -1
    return int(reply["count"])


async def _log_in_all(
    target: Target, users: list[str], args: argparse.Namespace, held: trio.Nursery, progress: Progress
) -> dict[str, Client]:
    """Every member on one Web device (the platform with the most room per account)."""
    web = PLATFORMS.index("Web")
    found = await log_in_devices(target, [(user, web) for user in users], args, held, progress)
    return {user: client for (user, _), client in found.items()}


async def _receive(client: Client, tally: _Tally) -> None:
    async for event in client.events():
        name = event.get("ev")
        if name == "roomStateChanged" and event.get("event") == 8:
            tally.slow_drops[str(event.get("roomID"))] += 1
        if name != "roomMessageReceived":
            continue
        arrived = time.monotonic()
        for message in event.get("messageList", []):
            text = message.get("message")
            if isinstance(text, str) and text.startswith(_STAMP):
                room_id, sent, _ = text[len(_STAMP) :].split("|", 2)
                tally.delivered[room_id] += 1
                tally.latencies[room_id].append(arrived - float(sent))
                tally.last_arrival[room_id] = max(tally.last_arrival[room_id], arrived)
