"""The browser app on the admin listener: its built files, its settings and the demo sign-in.

Routes under `/app/`, none behind the admin bearer token (a browser cannot
hold it): the files Vite built (`web/app/dist`), `/app/config.json` (where
the WebSocket is, whether the demo sign-in is on) and, only when the
operator enabled it on a loopback address, `POST /app/demo-signin`, which
mints a login token for any userID. A real deployment mints tokens in its
own backend instead (README, "Web").
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from .auth import mint_token

if TYPE_CHECKING:
    from .config import Config
    from .listening import Listening



class WebHost(Protocol):
    """What the app's routes need of the server."""

    @property
    def config(self) -> Config: ...
    @property
    def listening(self) -> Listening | None: ...


APP_PATH = "/app/"
DEMO_TOKEN_TTL_S = 3600.0
_ID_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.@:-")
_MAX_BODY_BYTES = 4096
_WILDCARD_HOSTS = ("", "0.0.0.0", "::")


def is_loopback(host: str) -> bool:
    """Whether `host` (an address or `localhost`) can only be reached from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def demo_signin_refusal(config: Config) -> str | None:
    """Why the demo sign-in may not run with `config`, or None when it may (or is off)."""
    if not config.demo_signin:
        return None
    if config.admin_port is None:
        return "--demo-signin needs the admin listener (it serves the app and the sign-in)"
    if not is_loopback(config.admin_host):
        return f"--demo-signin mints tokens for anyone who asks: it needs a loopback --admin-host (127.0.0.1, ::1, localhost), not {config.admin_host!r}"
    return None


def web_routes(gateway: WebHost) -> list[BaseRoute]:
    """The app's routes for the admin application; none when no app directory is configured.

    Raises ValueError when the demo sign-in is enabled where it may not run.
    """
    config = gateway.config
    refusal = demo_signin_refusal(config)
    if refusal is not None:
        raise ValueError(refusal)
    if config.web_app_dir is None:
        return []
    app_dir: Path = config.web_app_dir

    async def to_app(request: Request) -> Response:
        return RedirectResponse(APP_PATH, status_code=308)

    async def app_config(request: Request) -> Response:
        listening = gateway.listening
        assert listening is not None  # the admin listener starts before the gateway says where it is
        ws_url = listening.ws_url
        if config.host in _WILDCARD_HOSTS:
            # bound to every address: the page reaches the WebSocket where it reached the page
            scheme = "wss" if listening.tls else "ws"
            ws_url = f"{scheme}://{request.url.hostname}:{listening.ws_port}/ws"
        return JSONResponse({"wsURL": ws_url, "demoSignin": config.demo_signin})

    async def demo_signin(request: Request) -> Response:
        if not config.demo_signin:
            return JSONResponse({"error": "the demo sign-in is off (hubbub serve --demo-signin)"}, status_code=404)
        if request.client is None or not is_loopback(request.client.host):
            return JSONResponse({"error": "the demo sign-in answers loopback clients only"}, status_code=403)
        # JSON only: a page of another origin cannot send it without a CORS
        # preflight, which this route never grants, so it cannot mint tokens.
        if request.headers.get("content-type", "").split(";", 1)[0].strip() != "application/json":
            return JSONResponse({"error": "send JSON: {\"userID\": ...}"}, status_code=415)
        body = await request.body()
        if len(body) > _MAX_BODY_BYTES:
            return JSONResponse({"error": "request body too large"}, status_code=413)
        try:
            parsed = _json_object(body)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        user_id = parsed.get("userID")
        if not isinstance(user_id, str) or not 1 <= len(user_id) <= 128 or not set(user_id) <= _ID_CHARS:
            return JSONResponse({"error": "userID must be 1-128 characters of [A-Za-z0-9_.@:-]"}, status_code=400)
        token = mint_token(config.auth_secret, user_id, DEMO_TOKEN_TTL_S)
        return JSONResponse({"userID": user_id, "token": token, "expiresInSeconds": int(DEMO_TOKEN_TTL_S)})

    return [
        Route("/app", to_app),
        Route(APP_PATH + "config.json", app_config, methods=["GET"]),
        Route(APP_PATH + "demo-signin", demo_signin, methods=["POST"]),
        Mount(APP_PATH.rstrip("/"), app=StaticFiles(directory=app_dir, html=True)),
    ]


def _json_object(body: bytes) -> dict[str, object]:
    """`body` as a JSON object. Raises ValueError with a message for the caller."""
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        raise ValueError("the body is not JSON") from None
    if not isinstance(parsed, dict):
        raise ValueError("the body must be a JSON object")
    return parsed
