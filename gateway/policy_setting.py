"""The login policy set at run time (PUT /v1/policy) survives restarts: it is kept in the store.

At start the stored policy, if any, wins over the configured one (the
config gives the initial value only); when they differ the start-up log
warns which is in force. A PUT is saved before it takes effect, so an acknowledged change is
never lost.
"""

from __future__ import annotations

import json
import logging
import time
from actors.account.context import PolicyBox
from actors.errors import HubbubError, StorageUnavailable
from actors.account.policy import LoginPolicy
from actors.store.base import SettingsStore

log = logging.getLogger("hubbub.policy")

POLICY_SETTING = "policy"


async def restore_policy(store: SettingsStore, box: PolicyBox, configured: LoginPolicy) -> None:
    """Put the stored policy in `box`, if one was saved; otherwise leave the configured one there."""
    stored = await store.load_setting(POLICY_SETTING)
    if stored is None:
        log.debug("login policy %s (from the configuration)", configured.mode)
        return
    policy = LoginPolicy.from_json(json.loads(stored))
    box.current = policy
    if policy != configured:
        log.warning(
            "login policy %s from the store (set with PUT /v1/policy); the configured policy %s is not used",
            policy.mode,
            configured.mode,
        )
    else:
        log.debug("login policy %s (stored, the same as configured)", policy.mode)


async def reload_policy(store: SettingsStore, box: PolicyBox) -> HubbubError | None:
    """Another node saved a policy: put the stored one in force (kept as it is if none is stored).

    Returns the refusal, and keeps the policy in force, if the store is unreachable.
    """
    try:
        stored = await store.load_setting(POLICY_SETTING)
    except StorageUnavailable as exc:
        log.warning("login policy not reloaded, %s stays in force: %s", box.current.mode, exc)
        return exc
    if stored is not None:
        box.current = LoginPolicy.from_json(json.loads(stored))
        log.info("login policy reloaded: %s", stored)
    return None


async def set_policy(store: SettingsStore, box: PolicyBox, policy: LoginPolicy) -> None:
    """Save `policy` in the store, then put it in force. Raises StorageUnavailable (and changes nothing) if it cannot be saved."""
    await store.save_setting(POLICY_SETTING, json.dumps(policy.to_json()), int(time.time() * 1000))
    box.current = policy
    log.info("login policy set to %s", json.dumps(policy.to_json()))
