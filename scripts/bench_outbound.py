"""The outbound path alone: frames built by gateway/websocket_io.py against wsproto's framing, in one run.

    python -m scripts.bench_outbound --batches 20000 --rounds 5

A trio-websocket server connection on loopback sends batches of frames
(three per batch by default, the sizes of a group message's events: the
message, conversationChanged, the unread total) to a trio-websocket client
that reads them. Each round sends every batch once with wsproto building
the frames (what the gateway did before: `WSConnection.send` per frame,
joined into one write) and once with `websocket_io.send_messages`, in
alternating order. The figure is the sending task's CPU time (thread time,
the system call included) per frame; the client's reading is not counted.
The ratio of the two in the same run is the result; absolute figures move
with the machine.
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


def _batch(sizes: list[int]) -> list[bytes]:
    return [cbor2.dumps({"ev": "probe", "pad": b"x" * size}) for size in sizes]


async def _measure(sender: Sender, ws: WebSocketConnection, frames: list[bytes], batches: int) -> float:
    """CPU µs per frame of `batches` sends."""
    spent = 0.0
    for _ in range(batches):
        started = time.thread_time()
        await sender(ws, frames)
        spent += time.thread_time() - started
        await trio.lowlevel.checkpoint()  # let the reader take them
    return 1e6 * spent / (batches * len(frames))


async def run(batches: int, rounds: int, sizes: list[int]) -> None:
    frames = _batch(sizes)
    expected = 2 * rounds * batches * len(frames)
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
        read = trio.Event()

        async def reader() -> None:
            for _ in range(expected):
                await client.get_message()
            read.set()

        nursery.start_soon(reader)
        results: dict[str, list[float]] = {"wsproto": [], "built": []}
        senders: dict[str, Sender] = {"wsproto": _wsproto_framing, "built": websocket_io.send_messages}
        for round_ in range(rounds):
            order = ["wsproto", "built"] if round_ % 2 == 0 else ["built", "wsproto"]
            for name in order:
                results[name].append(await _measure(senders[name], ws, frames, batches))
        with trio.fail_after(60):
            await read.wait()
        await client.send_message(b"done")
        await client.aclose()
        nursery.cancel_scope.cancel()
    base, built = statistics.median(results["wsproto"]), statistics.median(results["built"])
    print(f"frames per batch: {len(frames)} of {[len(f) for f in frames]} bytes; {batches} batches x {rounds} rounds each way")
    print(f"wsproto framing: {base:.2f} us CPU per frame (median of {', '.join(f'{x:.2f}' for x in results['wsproto'])})")
    print(f"built frames:    {built:.2f} us CPU per frame (median of {', '.join(f'{x:.2f}' for x in results['built'])})")
    print(f"built / wsproto: {built / base:.3f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--batches", type=int, default=20_000, help="batches per round and way (default %(default)s)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds, alternating which way goes first (default %(default)s)")
    parser.add_argument("--sizes", default="260,120,20", help="payload padding of the frames of a batch (default %(default)s)")
    args = parser.parse_args()
    trio.run(run, args.batches, args.rounds, [int(x) for x in args.sizes.split(",")])


if __name__ == "__main__":
    main()
