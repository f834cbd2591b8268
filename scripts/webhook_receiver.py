"""An example application backend for hubbub's webhooks (PROTOCOL.md §17).

It checks each call's signature, logs every notification on stderr, writes
each offlinePush as one JSON line on stdout (where a real backend would call
APNs or FCM for those devices), and answers beforeSendMessage: allow, or
reject a message that contains one of the --reject words.

    .venv/bin/python scripts/webhook_receiver.py --port 9000 --secret S   # --port 0 picks a free port
    .venv/bin/hubbub serve --webhook-url http://127.0.0.1:9000/hubbub --webhook-secret S [--before-send]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

import hypercorn.config
import hypercorn.trio
import trio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.webhooks.signing import verify

log = logging.getLogger("webhook-receiver")


def build_app(secret: str, reject_words: list[str]) -> Starlette:
    """The receiver's ASGI app: POST /hubbub."""

    async def hubbub(request: Request) -> Response:
        body = await request.body()
        if not verify(secret, body, request.headers.get("x-hubbub-signature", "")):
            log.warning("refused a call with a bad signature")
            return JSONResponse({"error": "bad signature"}, status_code=401)
        event = request.headers.get("x-hubbub-event", "")
        delivery = request.headers.get("x-hubbub-delivery", "")
        payload: dict[str, Any] = json.loads(body)
        if event == "beforeSendMessage":
            text = str(payload["message"]["message"])
            if any(word in text for word in reject_words):
                log.info("beforeSendMessage from %s: rejected", payload["userID"])
                return JSONResponse({"action": "reject", "reason": "not allowed here"})
            return JSONResponse({"action": "allow"})
        log.info("%s delivery=%s %s", event, delivery, json.dumps(payload, ensure_ascii=False))
        if event == "offlinePush":  # here a backend would notify APNs/FCM
            print(json.dumps(payload, ensure_ascii=False), flush=True)
        return Response(status_code=204)

    return Starlette(routes=[Route("/hubbub", hubbub, methods=["POST"])])


async def serve(host: str, port: int, secret: str, reject_words: list[str]) -> None:
    """Serve until interrupted; prints `webhook receiver listening URL` on stdout once it accepts calls."""
    config = hypercorn.config.Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    async with trio.open_nursery() as nursery:
        binds: list[str] = await nursery.start(hypercorn.trio.serve, build_app(secret, reject_words), config)
        print(f"webhook receiver listening {binds[0]}/hubbub", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="An example backend for hubbub's webhooks: logs events, prints offlinePush.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--secret", required=True, help="the server's --webhook-secret")
    parser.add_argument("--reject", action="append", default=[], metavar="WORD", help="beforeSendMessage rejects messages with WORD")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
    try:
        trio.run(serve, args.host, args.port, args.secret, args.reject)
    except KeyboardInterrupt:
        return 0
    except OSError as exc:
        print(f"webhook_receiver: {exc.strerror or exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
