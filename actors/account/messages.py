"""The account actor's inbox: one class per message."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..runtime import Address


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """One logged-in device (PROTOCOL.md §3 DeviceInfo)."""

    login_id: str
    device_id: str
    platform: str
    device_name: str
    login_time: int

    def to_wire(self) -> dict[str, Any]:
        return {
            "loginID": self.login_id,
            "deviceID": self.device_id,
            "platform": self.platform,
            "deviceName": self.device_name,
            "loginTime": self.login_time,
        }


@dataclass(frozen=True, slots=True)
class LoginAccepted:
    """Answer to Login; the login reply frame itself was already queued."""

    login_id: str
    head_seq: int
    resume_gap: bool
    devices: tuple[DeviceInfo, ...]


@dataclass(frozen=True, slots=True)
class Login:
    """Admit `device` under the login policy; kicks others if the policy says so.

    `session` receives the login reply (request `request_id`), the replay
    from `resume_from`, and every live event after it, in that order.
    """

    device: DeviceInfo
    session: Address
    request_id: int
    user_name: str = ""
    resume_from: int | None = None


@dataclass(frozen=True, slots=True)
class Logout:
    """The device logs out on purpose (answered, then its session closes)."""

    login_id: str


@dataclass(frozen=True, slots=True)
class DeviceGone:
    """The device's connection ended (dropped, closed, expired). Told, not asked."""

    login_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class QueryDevices:
    """Answer with the online devices, in login order."""


@dataclass(frozen=True, slots=True)
class ForceOffline:
    """Admin: close one device (`login_id`) or all (None) with close 4001; answers the count."""

    login_id: str | None


@dataclass(frozen=True, slots=True)
class Acked:
    """The device processed every durable event up to `seq`. Told, not asked."""

    login_id: str
    seq: int


AccountMsg = Login | Logout | DeviceGone | QueryDevices | ForceOffline | Acked
