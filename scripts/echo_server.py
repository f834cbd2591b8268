"""The bare ceiling of this stack: a trio-websocket + cbor2 echo server.

Every binary frame is decoded with cbor2, encoded again and sent back; a text
frame is sent back as it came. Nothing else happens: no limits, no actors,
no storage. `scripts/load.py` measures it in every run so the server's
figures can be read as ratios to what the transport alone can do on the
same (shared, noisy) machine at the same moment.

    python scripts/echo_server.py --port 0     # prints "echo listening ws://HOST:PORT/ws"
"""

from __future__ import annotations

import argparse
import signal
import sys
from functools import partial

import cbor2
import trio
from trio_websocket import ConnectionClosed, WebSocketRequest, WebSocketServer, serve_websocket

READY_PREFIX = "echo listening"
WS_PATH = "/ws"
# The same transport settings as gateway/server.py, so only the work differs.
_MESSAGE_QUEUE_SIZE = 4
_MAX_MESSAGE_BYTES = 4 * 64 * 1024


async def _echo(request: WebSocketRequest) -> None:
    """One connection: echo every frame until the peer closes."""
    ws = await request.accept()
    try:
        while True:
            message = await ws.get_message()
            if isinstance(message, bytes):
                message = cbor2.dumps(cbor2.loads(message))
            await ws.send_message(message)
    except ConnectionClosed:
        return
    except cbor2.CBORDecodeError:
        await ws.aclose(1003, "not CBOR")


async def serve_echo(host: str, port: int, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
    """Serve the echo until cancelled.

    `task_status.started` hands over the URL (`ws://HOST:PORT/ws`) once the
    listener accepts connections; `port` 0 picks a free one.
    """
    async with trio.open_nursery() as nursery:
        listen = partial(
            serve_websocket,
            _echo,
            host,
            port,
            ssl_context=None,
            message_queue_size=_MESSAGE_QUEUE_SIZE,
            max_message_size=_MAX_MESSAGE_BYTES,
        )
        server: WebSocketServer = await nursery.start(listen)
        task_status.started(f"ws://{host}:{server.port}{WS_PATH}")


async def _serve_until_signalled(host: str, port: int) -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:
            url = await nursery.start(serve_echo, host, port)
            print(f"{READY_PREFIX} {url}", flush=True)
            async for _ in signals:
                nursery.cancel_scope.cancel()
                break


def main(argv: list[str] | None = None) -> int:
    """Run the echo server until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(description="trio-websocket + cbor2 echo server (the load test's baseline)")
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default %(default)s)")
    parser.add_argument("--port", type=int, default=0, help="port; 0 picks a free one (default %(default)s)")
    args = parser.parse_args(argv)
    trio.run(_serve_until_signalled, args.host, args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
