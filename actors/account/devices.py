"""DeviceTable: the online devices of one account and the sessions that serve them.

Pushing never blocks: the sink queues an item for a session or reports it
gone or too slow (the gateway then closes it, and the device resumes later).
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


class DeviceTable:
    """The account's online devices in login order, and pushing to them."""

    def __init__(self, sink: DeviceSink) -> None:
        self.sink = sink
        self.online: dict[str, OnlineLogin] = {}

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
                self.online[record.login_id] = OnlineLogin(info_of(record), session)
            else:
                lost.append(record.login_id)
        return lost

    def infos(self) -> list[DeviceInfo]:
        """Every online device, in login order."""
        return [d.info for d in self.online.values()]

    def for_policy(self) -> list[OnlineDevice]:
        """The online devices as the login policy sees them."""
        return [OnlineDevice(d.info.login_id, d.info.device_id, d.info.platform, d.info.login_time) for d in self.online.values()]

    def admit(self, info: DeviceInfo, session: Address) -> None:
        self.online[info.login_id] = OnlineLogin(info, session)

    def drop(self, login_id: str) -> OnlineLogin | None:
        """Forget one device; None if it was not online."""
        return self.online.pop(login_id, None)

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

    def announce(self, exclude: str | None = None) -> None:
        """Tell the devices (but `exclude`) which devices are online now."""
        self.send(DeviceEvent(SelfDevicesChanged(self.infos())), exclude=exclude)


def record_of(info: DeviceInfo) -> DeviceRecord:
    return DeviceRecord(info.login_id, info.device_id, info.platform, info.device_name, info.login_time)


def info_of(record: DeviceRecord) -> DeviceInfo:
    return DeviceInfo(
        login_id=record.login_id, device_id=record.device_id, platform=record.platform,
        device_name=record.device_name, login_time=record.login_time,
    )
