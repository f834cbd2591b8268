"""The admission step: a login request becomes the session's Identity, or leaves nothing behind.

The session is reachable (registered in the device directory) from before
the account is asked, so the login reply and replay the account queues for
it arrive. If the ask fails in any way (a refusal, an actor error, a
timeout, or the session being cancelled while waiting: a drop, a stop,
shutdown) the account may have admitted the device already or may still
do so, since the Login waits in its inbox. So every failure ends with
`DeviceGone` told to the account, behind the Login, shielded and bounded:
the account never keeps a device no session owns.
"""

from __future__ import annotations

import logging
import time
from typing import Protocol

import trio

from actors import wire as p
from actors.account import messages as account
from actors.runtime import ActorError

from .identity import Identity
from .services import Services, random_id, session_address
from .logs import bind_login



class Seat(Protocol):
    """The session being admitted: reachable from `begin_admission` on, owner of the identity at `admitted`."""

    def begin_admission(self, identity: Identity) -> None: ...
    def admission_failed(self) -> None: ...
    def admitted(self, token_expires_at: float) -> Identity: ...

log = logging.getLogger("hubbub.admission")


async def admit(services: Services, session: Seat, req: p.Login) -> Identity:
    """Log `session` in as `req` asks; returns the identity the session now owns.

    The account queues the login reply itself. Raises the account's
    refusal (a HubbubError), AlreadyLoggedIn, or ActorError (AskTimeout
    after ask_timeout_s); on any of them, and on cancellation, the account
    is told the device is gone.
    """
    config = services.config
    bind_login(req.user_id, req.device_id, req.platform)  # a refusal is logged with who tried, and from where
    claims = await services.tokens.verify(req.token, req.user_id)
    login_id = services.new_id()
    identity = Identity(
        user_id=req.user_id,
        login_id=login_id,
        device_id=req.device_id or random_id("auto-"),
        platform=req.platform,
        address=session_address(login_id),
    )
    device = account.DeviceInfo(
        login_id=login_id,
        device_id=identity.device_id,
        platform=req.platform,
        device_name=req.device_name,
        login_time=int(time.time() * 1000),
    )
    session.begin_admission(identity)
    ref = services.account(req.user_id)
    admitted = False
    try:
        await ref.ask(account.Login(device, identity.address, req.id, req.user_name, req.resume_from), timeout=config.ask_timeout_s)
        admitted = True
    finally:
        if not admitted:
            session.admission_failed()
            # Shielded: this runs when the session is being cancelled too.
            with trio.move_on_after(config.close_timeout_s, shield=True) as telling:
                try:
                    await ref.tell(account.DeviceGone(login_id, "loginFailed"))
                except ActorError as exc:
                    log.warning("account=%s login=%s could not report a failed login: %s", req.user_id, login_id, exc)
            if telling.cancelled_caught:
                log.warning("account=%s login=%s inbox full: a failed login was not reported", req.user_id, login_id)
    bind_login(req.user_id, identity.device_id, req.platform, login_id)
    return session.admitted(claims.expires_at)
