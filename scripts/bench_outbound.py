"""The outbound path alone: frames built by gateway/websocket_io.py against wsproto's framing, in one run.

    python -m scripts.bench_outbound --batches 20000 --rounds 5
    python -m scripts.bench_outbound --ways locked,built --whole

A trio-websocket server connection on loopback sends batches of frames
(three per batch by default, the sizes of a group message's events: the
message, conversationChanged, the unread total) to a trio-websocket client
that reads them. Each round sends every batch once each way, in turns:
`wsproto` builds the frames (what the gateway did first: `WSConnection.send`
per frame, joined into one write, under the stream lock); `locked` builds
them as the gateway does but writes as it did next (the stream lock and
trio's `send_all`, each yielding to the scheduler); `built` is
`websocket_io.send_messages` (written at once when nothing else writes).
The figure is the sending task's CPU time (thread time, the system call
included) per frame; with `--whole`, the process's CPU time per frame over
each batch until the client has read it, which also counts the scheduler's
passes and the reading (the same for every way): a way that yields lets the
reader run inside its own figure, so only `--whole` compares ways that
yield with one that does not. The ratio to the first way in the same run is
the result; absolute figures move with the machine.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Awaitable, Callable

import cbor2
import trio
from trio_websocket import WebSocketConnection, WebSocketRequest, connect_websocket, serve_websocket
from wsproto.events import BytesMessage

from gateway import websocket_io

Sender = Callable[[WebSocketConnection, list[bytes]], Awaitable[None]]


async def _wsproto_framing(ws: WebSocketConnection, frames: list[bytes]) -> None:
    """The baseline: wsproto builds each frame, one write for the batch."""
    data = b"".join([ws._wsproto.send(BytesMessage(data=frame)) for frame in frames])
    async with ws._stream_lock:
        await ws._stream.send_all(data)


async def _built_locked(ws: WebSocketConnection, frames: list[bytes]) -> None:
    """The frames built as the gateway builds them, written under the stream lock with trio's send_all."""
    parts: list[bytes] = []
    for frame in frames:
        parts += (websocket_io.binary_frame_header(len(frame)), frame)
    async with ws._stream_lock:
        await ws._stream.send_all(b"".join(parts))


SENDERS: dict[str, Sender] = {"wsproto": _wsproto_framing, "locked": _built_locked, "built": websocket_io.send_messages}


def _batch(sizes: list[int]) -> list[bytes]:
    return [cbor2.dumps({"ev": "probe", "pad": b"x" * size}) for size in sizes]


class _Read:
    """How many frames the client has read, and a wait for a count."""

    def __init__(self) -> None:
        self.count = 0
        self._changed = trio.Event()

    def one(self) -> None:
        self.count += 1
        self._changed.set()
        self._changed = trio.Event()

    async def until(self, count: int) -> None:
        while self.count < count:
            await self._changed.wait()


async def _measure(sender: Sender, ws: WebSocketConnection, frames: list[bytes], batches: int, read: _Read, whole: bool) -> float:
    """CPU µs per frame of `batches` sends (`whole`: the process's, until each batch is read)."""
    clock = time.process_time if whole else time.thread_time
    spent = 0.0
    for _ in range(batches):
        started = clock()
        await sender(ws, frames)
        if whole:
            await read.until(read.count + len(frames))
        spent += clock() - started
        await trio.lowlevel.checkpoint()  # let the reader take them
    return 1e6 * spent / (batches * len(frames))


async def run(batches: int, rounds: int, sizes: list[int], ways: list[str], whole: bool) -> None:
    frames = _batch(sizes)
    expected = len(ways) * rounds * batches * len(frames)
    async with trio.open_nursery() as nursery:
        server_side: trio.MemorySendChannel[WebSocketConnection]
        server_side, accepted = trio.open_memory_channel[WebSocketConnection](1)

        async def handler(request: WebSocketRequest) -> None:
            ws = await request.accept()
            await server_side.send(ws)
            await ws.get_message()  # hold the connection until the client says it read everything

        server = await nursery.start(serve_websocket, handler, "127.0.0.1", 0, None)
        port = server.port
        client = await connect_websocket(nursery, "127.0.0.1", port, "/", use_ssl=False, max_message_size=1 << 22)
        ws = await accepted.receive()
        read = _Read()

        async def reader() -> None:
            for _ in range(expected):
                await client.get_message()
                read.one()

        nursery.start_soon(reader)
        results: dict[str, list[float]] = {name: [] for name in ways}
        for round_ in range(rounds):
            shift = round_ % len(ways)
            for name in ways[shift:] + ways[:shift]:
                results[name].append(await _measure(SENDERS[name], ws, frames, batches, read, whole))
        with trio.fail_after(60):
            await read.until(expected)
        await client.send_message(b"done")
        await client.aclose()
        nursery.cancel_scope.cancel()
    print(f"frames per batch: {len(frames)} of {[len(f) for f in frames]} bytes; {batches} batches x {rounds} rounds each way")
    print(f"CPU per frame: {'the process, until read' if whole else 'the sending task'}")
    base = statistics.median(results[ways[0]])
    for name in ways:
        median = statistics.median(results[name])
        runs = ", ".join(f"{x:.2f}" for x in results[name])
        print(f"{name:8s} {median:.2f} us CPU per frame (median of {runs}); {median / base:.3f}x {ways[0]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--batches", type=int, default=20_000, help="batches per round and way (default %(default)s)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds, alternating which way goes first (default %(default)s)")
    parser.add_argument("--sizes", default="260,120,20", help="payload padding of the frames of a batch (default %(default)s)")
    parser.add_argument("--ways", default="wsproto,built", help=f"comma-separated, from {','.join(SENDERS)}; ratios to the first (default %(default)s)")
    parser.add_argument("--whole", action="store_true", help="the process's CPU per frame until the client read it (see above)")
    args = parser.parse_args()
    ways = args.ways.split(",")
    if not ways or any(way not in SENDERS for way in ways):
        parser.error(f"--ways: comma-separated, from {','.join(SENDERS)}")
    trio.run(run, args.batches, args.rounds, [int(x) for x in args.sizes.split(",")], ways, args.whole)


if __name__ == "__main__":
    main()
