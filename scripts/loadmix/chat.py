"""The chat mix: peer messages among online devices, end to end.

accounts × devices devices log in (one platform each, so `multi` keeps them
all). Account i sends to account i+1 (a ring), for --chat-seconds, at
--chat-rate messages per second in total (0: every sender as fast as its
replies come back). Every message counts as delivered once per device that
receives it as `peerMessageReceived`: each of the receiver's devices and the
sender's other devices. Latency runs from just before the send to the
arrival on a receiving device (one process, one monotonic clock).

Figures: messages sent/s (ok replies), deliveries/s (ratio to the echo's
round trips/s, every connection busy), delivery latency p50/p99 (ratio to
the echo's round trip), the deliveries a correct server makes, and, for a
server this script started, its CPU per delivery from the first send until
the last delivery (ratio to the echo's CPU per round trip).
"""

from __future__ import annotations

import argparse
import secrets
import time
from dataclasses import dataclass, field

import trio

from hubbub_client import Client, ClientError, Disconnected

from . import PLATFORMS, Figure, MixResult, Progress, Target, latency_figures, log_in_devices

DESCRIPTION = "peer messages around a ring of accounts; deliveries/s and end-to-end latency"

_STAMP = "t="


@dataclass(slots=True)
class _Tally:
    sent: int = 0
    failed: int = 0
    delivered: int = 0
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    server_cpu_s: float | None = None  # the server's CPU time from the first send to the last delivery


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("chat mix")
    group.add_argument("--chat-seconds", type=float, default=20.0, help="how long senders send (default %(default)s)")
    group.add_argument("--chat-rate", type=float, default=0.0, help="messages per second in total; 0 = as fast as replies come (default %(default)s)")
    group.add_argument("--chat-body-bytes", type=int, default=64, help="message body size (default %(default)s)")


def connections(args: argparse.Namespace) -> int:
    if args.accounts < 2 or not 1 <= args.devices <= len(PLATFORMS):
        raise ValueError(f"the chat mix needs --accounts >= 2 and --devices 1..{len(PLATFORMS)}")
    return int(args.accounts * args.devices)


async def run(target: Target, args: argparse.Namespace, progress: Progress) -> MixResult:
    """Log in, send around the ring for a while, wait for deliveries, close."""
    tag = secrets.token_hex(3)
    users = [f"chat{tag}-{a}" for a in range(args.accounts)]
    result = MixResult("chat")
    tally = _Tally()
    async with trio.open_nursery() as held:
        devices = await log_in_devices(target, [(user, index) for index in range(args.devices) for user in users], args, held, progress)
        if len(devices) != len(users) * args.devices:
            result.problems.append(f"only {len(devices)} of {len(users) * args.devices} devices logged in")
        for client in devices.values():
            held.start_soon(_receive, client, tally)
        cpu_before, started = target.server_cpu_s(), time.monotonic()
        async with trio.open_nursery() as senders:
            interval = 0.0 if args.chat_rate <= 0 else len(users) / args.chat_rate
            for index, user in enumerate(users):
                sender = devices.get((user, 0))
                if sender is not None:
                    peer = users[(index + 1) % len(users)]
                    # phases spread evenly: the total rate is steady, not 1 burst per interval
                    offset = index * interval / len(users)
                    senders.start_soon(_send_loop, sender, peer, started + offset, interval, args, tally, progress)
        sending_s = time.monotonic() - started
        expected = tally.sent * (2 * args.devices - 1)
        with trio.move_on_after(args.settle_s):
            while tally.delivered < expected:  # noqa: ASYNC110  a poll, as in the runs recorded in BENCHMARKS.md: the settle time stays comparable
                await trio.sleep(0.05)
        result.elapsed_s = time.monotonic() - started
        cpu_after = target.server_cpu_s()
        if cpu_before is not None and cpu_after is not None:
            tally.server_cpu_s = cpu_after - cpu_before
        progress.done()
        async with trio.open_nursery() as closing:
            for client in devices.values():
                closing.start_soon(client.close)
        held.cancel_scope.cancel()
    _report(result, tally, sending_s, expected, args)
    return result


async def _send_loop(
    client: Client, peer: str, first_at: float, interval: float, args: argparse.Namespace, tally: _Tally, progress: Progress
) -> None:
    padding = "x" * max(0, args.chat_body_bytes - 24)
    count = 0
    started = first_at
    while (now := time.monotonic()) < started + args.chat_seconds:
        if interval:
            next_at = started + count * interval
            if next_at > now:
                await trio.sleep(next_at - now)
        count += 1
        body = f"{_STAMP}{time.monotonic():.6f};{padding}"
        try:
            await client.request(
                "sendMessage",
                timeout=args.request_timeout_s,
                toConversationID=peer,
                conversationType=0,
                message={"type": 1, "message": body},
            )
            tally.sent += 1
        except (ClientError, Disconnected, trio.TooSlowError) as exc:
            tally.failed += 1
            if len(tally.errors) < 5:
                tally.errors.append(f"{type(exc).__name__}: {exc}"[:200])
        progress.update("chat", tally.delivered, 0, f"sent {tally.sent} delivered {tally.delivered}")


async def _receive(client: Client, tally: _Tally) -> None:
    async for event in client.events():
        if event.get("ev") != "peerMessageReceived":
            continue
        arrived = time.monotonic()
        for message in event.get("messageList", []):
            text = message.get("message")
            if isinstance(text, str) and text.startswith(_STAMP):
                tally.delivered += 1
                tally.latencies.append(arrived - float(text[len(_STAMP) :].split(";", 1)[0]))


def _report(result: MixResult, tally: _Tally, sending_s: float, expected: int, args: argparse.Namespace) -> None:
    add = result.add
    add(Figure("messages_sent", tally.sent))
    add(Figure("sends_failed", tally.failed, expected=0))
    add(Figure("deliveries", tally.delivered, expected=expected, note="peerMessageReceived on every device concerned"))
    add(Figure("sent_per_s", tally.sent / sending_s if sending_s else 0.0, "/s", "round_trips_per_s"))
    add(Figure("delivered_per_s", tally.delivered / sending_s if sending_s else 0.0, "/s", "round_trips_per_s"))
    for figure in latency_figures("delivery", tally.latencies, "rtt", "send to arrival on a device"):
        add(figure)
    if tally.server_cpu_s is not None and tally.delivered:
        cpu_us = 1e6 * tally.server_cpu_s / tally.delivered
        add(Figure("server_cpu_us_per_delivery", cpu_us, "us", "cpu_us_per_round_trip", note="server CPU, first send to last delivery"))
    add(Figure("online_devices", args.accounts * args.devices))
    result.problems.extend(tally.errors)
