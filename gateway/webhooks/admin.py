"""Admin routes of the webhook queue: see what waits or was set aside, retry it, drop it.

    GET    /v1/webhooks                      counts and the queued calls (?state=waiting|setAside, ?account=, ?limit=)
    POST   /v1/webhooks/retry                every set-aside call is due again, with a fresh retry window
    POST   /v1/webhooks/{deliveryID}/retry   that call is due now
    DELETE /v1/webhooks                      drop every set-aside call
    DELETE /v1/webhooks/{deliveryID}         drop that call
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from actors.store.base import QueuedWebhook, Store

from . import Callbacks

_MAX_LIST = 1000


def webhook_routes(callbacks: Callbacks | None, store: Store, authorize: Callable[[Request], None]) -> list[Route]:
    """The routes; each answers 404 when no webhook URL is configured."""

    def configured(request: Request) -> Callbacks | None:
        authorize(request)
        return callbacks

    async def listing(request: Request) -> Response:
        found = configured(request)
        if found is None:
            return _not_configured()
        state = request.query_params.get("state")
        if state not in (None, "waiting", "setAside"):
            return JSONResponse({"error": "state must be waiting or setAside"}, status_code=400)
        try:
            limit = int(request.query_params.get("limit", "100"))
        except ValueError:
            limit = -1
        if not 1 <= limit <= _MAX_LIST:
            return JSONResponse({"error": f"limit must be a number from 1 to {_MAX_LIST}"}, status_code=400)
        set_aside = None if state is None else state == "setAside"
        calls = await store.webhook_list(limit, set_aside=set_aside, account=request.query_params.get("account"))
        waiting, aside = await store.webhook_counts()
        queue = found.queue
        return JSONResponse({
            "waiting": waiting,
            "setAside": aside,
            "inFlight": len(found.delivery.in_flight),
            "queueMax": queue.settings.queue_max,
            "dropped": queue.dropped,
            "calls": [_call(c) for c in calls],
        })

    async def retry(request: Request) -> Response:
        found = configured(request)
        if found is None:
            return _not_configured()
        delivery_id = request.path_params.get("delivery_id")
        count = await store.webhook_retry_now(delivery_id, found.delivery.clock.now_ms())
        if delivery_id is not None and count == 0:
            return JSONResponse({"error": "no such queued call"}, status_code=404)
        found.queue.wake()
        return JSONResponse({"retried": count})

    async def drop(request: Request) -> Response:
        found = configured(request)
        if found is None:
            return _not_configured()
        delivery_id = request.path_params.get("delivery_id")
        with found.queue.changing():
            count = await store.webhook_drop(delivery_id)
            found.queue.taken(count)
        if delivery_id is not None and count == 0:
            return JSONResponse({"error": "no such queued call"}, status_code=404)
        return JSONResponse({"dropped": count})

    return [
        Route("/v1/webhooks", listing, methods=["GET"]),
        Route("/v1/webhooks", drop, methods=["DELETE"]),
        Route("/v1/webhooks/retry", retry, methods=["POST"]),
        Route("/v1/webhooks/{delivery_id}/retry", retry, methods=["POST"]),
        Route("/v1/webhooks/{delivery_id}", drop, methods=["DELETE"]),
    ]


def _not_configured() -> Response:
    return JSONResponse({"error": "no webhook URL is configured"}, status_code=404)


def _call(queued: QueuedWebhook) -> dict[str, Any]:
    row = queued.row
    return {
        "deliveryID": row.delivery_id,
        "event": row.event,
        "account": row.account,
        "queuedTime": row.queued_time,
        "attempts": queued.attempts,
        "nextAttempt": queued.next_attempt,
        "lastError": queued.last_error,
        "state": "setAside" if queued.failed else "waiting",
    }
