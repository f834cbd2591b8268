"""beforeSendMessage (PROTOCOL.md §17): the backend allows, rejects or rewrites a message before it is stored.

Called on the sender's request path, before the message reaches its actor,
and bounded by its timeout (default 2 s). The answer:

    {"action": "allow"}                    the message goes on as it is
    {"action": "reject", "reason": "..."}  error 6003 MessageRejected, nothing stored or delivered
    {"action": "modify", "message": {...}} the returned body is stored and delivered instead

A returned body is checked like a client's (type 1-65535, text or base64
with `binary`, extendedData at most 4 KiB, 32 KiB at most). A failure (no
answer in time, a refused connection, a non-2xx status, an answer that is
not one of the three) follows the operator's choice: send the message as it
is (fail open, the default) or refuse it with 6004 CallbackUnavailable.
"""

from __future__ import annotations

import base64
import binascii
import logging
import secrets
from typing import Any, Literal

import httpx
import msgspec
import trio

from actors.errors import CallbackUnavailable, MessageRejected
from actors.wire import Body
from actors.wire.messages import MAX_MESSAGE_BYTES, MessageBody, SendMessage, message_size

from ..identity import Identity
from .delivery import post
from .metrics import WebhookMetrics

log = logging.getLogger("hubbub.webhooks")

# Calls open at once: each holds one sender's request; beyond it senders wait
# for a connection, still within their timeout.
MAX_CONNECTIONS = 32


class HookBody(Body, frozen=True):
    """A message body in JSON: text, or base64 when `binary`."""

    type: int
    message: str
    extended_data: str = ""
    binary: bool = False


class BeforeSendMessage(Body, frozen=True):
    """What the backend is asked about."""

    user_id: str
    login_id: str
    conversation_id: str
    conversation_type: int
    client_message_id: str | None
    message: HookBody


class Verdict(Body, frozen=True):
    action: Literal["allow", "reject", "modify"]
    reason: str = ""
    message: HookBody | None = None


class _BadAnswer(Exception):
    """The backend answered, but not with a verdict this server can follow."""


class BeforeSend:
    """The callback client; `run` keeps its HTTP connections for the server's life."""

    def __init__(self, url: str, secret: str, timeout_s: float, fail_closed: bool, metrics: WebhookMetrics) -> None:
        self.url = url
        self.secret = secret
        self.timeout_s = timeout_s
        self.fail_closed = fail_closed
        self.metrics = metrics
        self._client: httpx.AsyncClient | None = None
        self._decoder = msgspec.json.Decoder(Verdict)
        self._encoder = msgspec.json.Encoder()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Hold the connection pool until cancelled."""
        limits = httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS)
        async with httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(self.timeout_s)) as client:
            self._client = client
            try:
                task_status.started()
                await trio.sleep_forever()
            finally:
                self._client = None

    async def check(self, identity: Identity, req: SendMessage) -> SendMessage:
        """The request to go on with (perhaps with the backend's body). Raises MessageRejected or CallbackUnavailable."""
        body = req.message
        user_id = identity.user_id
        asked = BeforeSendMessage(
            user_id=user_id, login_id=identity.login_id, conversation_id=req.to_conversation_id, conversation_type=req.conversation_type,
            client_message_id=req.client_message_id, message=_hook_body(body),
        )
        started = trio.current_time()
        try:
            verdict = await self._ask(self._encoder.encode(asked))
        except (httpx.HTTPError, trio.TooSlowError, _BadAnswer, msgspec.DecodeError) as exc:
            self.metrics.before_send.labels("failed").observe(trio.current_time() - started)
            why = f"no answer within {self.timeout_s:g} s" if isinstance(exc, trio.TooSlowError) else str(exc) or type(exc).__name__
            log.warning("beforeSendMessage user=%s failed (%s): %s", user_id, "rejecting" if self.fail_closed else "sending", why)
            if self.fail_closed:
                raise CallbackUnavailable("the before-send callback is unavailable: retry later") from None
            return req
        self.metrics.before_send.labels(verdict.action).observe(trio.current_time() - started)
        if verdict.action == "reject":
            raise MessageRejected(verdict.reason or "rejected by the before-send callback")
        if verdict.action == "modify":
            assert verdict.message is not None  # _ask checked it
            return msgspec.structs.replace(req, message=_message_body(verdict.message))
        return req

    async def _ask(self, payload: bytes) -> Verdict:
        if self._client is None:
            raise _BadAnswer("the callback client is not running")
        delivery_id = f"b{secrets.token_hex(12)}"
        response = await post(self._client, self.url, self.timeout_s, "beforeSendMessage", delivery_id, self.secret, payload)
        if not 200 <= response.status_code < 300:
            raise _BadAnswer(f"HTTP {response.status_code}")
        try:
            verdict = self._decoder.decode(response.content)
        except msgspec.ValidationError as exc:
            raise _BadAnswer(f"not a verdict: {exc}") from None
        if verdict.action == "modify":
            if verdict.message is None:
                raise _BadAnswer("modify without a message")
            _message_body(verdict.message)  # checked here, so a bad body counts as a failed call
        return verdict


def _hook_body(body: MessageBody) -> HookBody:
    text = body.message
    if isinstance(text, bytes):
        return HookBody(type=body.type, message=base64.b64encode(text).decode(), extended_data=body.extended_data, binary=True)
    return HookBody(type=body.type, message=text, extended_data=body.extended_data)


def _message_body(hook: HookBody) -> MessageBody:
    """The backend's body as a client's would be checked; raises _BadAnswer."""
    content: str | bytes = hook.message
    if hook.binary:
        try:
            content = base64.b64decode(hook.message, validate=True)
        except (binascii.Error, ValueError):
            raise _BadAnswer("modify: message is not base64 although binary is true") from None
    fields: dict[str, Any] = {"type": hook.type, "message": content, "extendedData": hook.extended_data}
    try:
        body = msgspec.convert(fields, MessageBody)
    except msgspec.ValidationError as exc:
        raise _BadAnswer(f"modify: {exc}") from None
    if message_size(body) > MAX_MESSAGE_BYTES:
        raise _BadAnswer(f"modify: the message exceeds {MAX_MESSAGE_BYTES} bytes")
    return body
