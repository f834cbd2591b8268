"""Who a logged-in session is: fixed once by the admission step, owned by the session."""

from __future__ import annotations

from dataclasses import dataclass

from actors.runtime import Address


@dataclass(frozen=True, slots=True)
class Identity:
    """One admitted device of one account, and the address its events go to."""

    user_id: str
    login_id: str
    device_id: str
    platform: str
    address: Address
