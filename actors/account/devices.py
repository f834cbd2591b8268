"""DeviceTable: the online devices of one account and the sessions that serve them.

Pushing never blocks: the sink queues an item for a session or reports it
gone or too slow (the gateway then closes it, and the device resumes later).

The device list is announced once per burst of changes, not once per change:
every change bumps `version`, each device remembers the version it was last
told (its login reply lists the devices too), and `announce` sends one
`selfDevicesChanged` to each device that is behind. The actor announces when
its inbox runs empty, so 64 devices logging in at once cost each device one
event, not one per later login (O(n) events in all instead of O(n²)).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..ids import session_address
from ..outbound import DeviceEvent, DeviceSink, Outbound
from ..runtime import Address
from ..store.base import DeviceRecord
from ..wire.session import DeviceInfo, SelfDevicesChanged
from .policy import OnlineDevice


@dataclass(slots=True)
class OnlineLogin:
    """One online device: what it is, where its session is, what it has processed."""

    info: DeviceInfo
    session: Address
    acked_seq: int = 0
    told: int = 0  # the version of the device list this device was last told


class DeviceTable:
    """The account's online devices in login order, and pushing to them."""

    def __init__(self, sink: DeviceSink) -> None:
        self.sink = sink
        self.online: dict[str, OnlineLogin] = {}
        self.version = 0  # bumped by every change to the online devices
        self._announced = 0  # the version at the last announce

    def __len__(self) -> int:
        return len(self.online)

    def __contains__(self, login_id: object) -> bool:
        return login_id in self.online

    def restore(self, records: list[DeviceRecord]) -> list[str]:
        """Take back the stored devices whose sessions are still connected; the logins that are not."""
        self.online = {}
        lost = []
        for record in records:
            session = session_address(record.login_id)
            if self.sink.is_connected(session):
                self.online[record.login_id] = OnlineLogin(info_of(record), session, told=self.version)
            else:
                lost.append(record.login_id)
        if lost:
            self.version += 1  # the devices still online hear of the lost ones
        return lost

    def infos(self) -> list[DeviceInfo]:
        """Every online device, in login order."""
        return [d.info for d in self.online.values()]

    def for_policy(self) -> list[OnlineDevice]:
        """The online devices as the login policy sees them."""
        return [OnlineDevice(d.info.login_id, d.info.device_id, d.info.platform, d.info.login_time) for d in self.online.values()]

    def admit(self, info: DeviceInfo, session: Address) -> None:
        """Add a device whose login reply lists the devices online now (so it is told this version)."""
        self.version += 1
        self.online[info.login_id] = OnlineLogin(info, session, told=self.version)

    def drop(self, login_id: str) -> OnlineLogin | None:
        """Forget one device; None if it was not online."""
        online = self.online.pop(login_id, None)
        if online is not None:
            self.version += 1
        return online

    def acked(self, login_id: str, seq: int) -> None:
        if (online := self.online.get(login_id)) is not None:
            online.acked_seq = max(online.acked_seq, seq)

    def device_id_of(self, login_id: str | None) -> str | None:
        """The deviceID of an online login (None if it is not online)."""
        online = None if login_id is None else self.online.get(login_id)
        return None if online is None else online.info.device_id

    def push(self, session: Address, item: Outbound) -> None:
        self.sink.push(session, item)

    def send(self, item: Outbound, *, exclude: str | None = None, only: str | None = None) -> None:
        """Queue `item` for every online device but `exclude`, or for `only` alone."""
        if only is not None:
            if (target := self.online.get(only)) is not None:
                self.sink.push(target.session, item)
            return
        for login_id, online in list(self.online.items()):
            if login_id != exclude:
                self.sink.push(online.session, item)

    @property
    def changed(self) -> bool:
        """Whether the devices changed since the last announce (some device may be behind)."""
        return self._announced != self.version

    def announce(self) -> int:
        """Tell every device that is behind which devices are online now (one frame, encoded once); how many were told."""
        self._announced = self.version
        behind = [d for d in self.online.values() if d.told != self.version]
        if not behind:
            return 0
        event = DeviceEvent(SelfDevicesChanged(self.infos()))
        for online in behind:
            online.told = self.version
            self.sink.push(online.session, event)
        return len(behind)


def record_of(info: DeviceInfo) -> DeviceRecord:
    return DeviceRecord(info.login_id, info.device_id, info.platform, info.device_name, info.login_time)


def info_of(record: DeviceRecord) -> DeviceInfo:
    return DeviceInfo(
        login_id=record.login_id, device_id=record.device_id, platform=record.platform,
        device_name=record.device_name, login_time=record.login_time,
    )
