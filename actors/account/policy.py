"""The multi-device login policy (PROTOCOL.md §3) as pure rules.

Nothing here does I/O or awaits. The account actor serialises the logins of
one account, asks `plan_login` which devices to kick, then carries the plan
out; tests call the same functions directly.

A "slot" is what a per-platform limit counts: a kick group when the platform
is in one, else the platform alone. A kick group's limit is the smallest limit
among its platforms.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

PLATFORMS: tuple[str, ...] = (
    "Android", "iOS", "HarmonyOS", "Windows", "Mac", "Linux", "iPad", "Web", "MiniProgram",
)
NATIVE_PLATFORMS: tuple[str, ...] = tuple(p for p in PLATFORMS if p not in ("Web", "MiniProgram"))
ON_LIMIT_VALUES: tuple[str, ...] = ("kickOldest", "rejectNew")
PRESETS: tuple[str, ...] = ("single", "dual", "multi", "easemob")
DEFAULT_MODE = "single"  # the server's default policy, so a bare {} means it too

_DEFAULT_KEY = "default"
_JSON_FIELDS = ("mode", "maxDevices", "platformLimits", "kickGroups", "onLimit")


@dataclass(frozen=True, slots=True)
class LoginPolicy:
    """How many devices of one account may be online, and what a login over the limit does.

    Construction validates every field and raises ValueError naming it, so a
    LoginPolicy that exists is always usable by `plan_login`.
    """

    mode: str
    max_devices: int | None  # None: no account-wide limit
    # Keys are platform names or "default"; a platform with neither is unlimited.
    platform_limits: tuple[tuple[str, int], ...]
    kick_groups: tuple[tuple[str, ...], ...]
    on_limit: str

    def __post_init__(self) -> None:
        _check_mode(self.mode)
        _check_limit("maxDevices", self.max_devices, allow_none=True)
        keys: set[str] = set()
        for key, value in self.platform_limits:
            if key != _DEFAULT_KEY:
                _check_platform("platformLimits", key)
            if key in keys:
                raise ValueError(f"platformLimits: {key!r} is given twice")
            _check_limit(f"platformLimits.{key}", value, allow_none=False)
            keys.add(key)
        seen: set[str] = set()
        for group in self.kick_groups:
            if not group:
                raise ValueError("kickGroups: a group must name at least one platform")
            for platform in group:
                _check_platform("kickGroups", platform)
                if platform in seen:
                    raise ValueError(f"kickGroups: {platform!r} appears more than once")
                seen.add(platform)
        if self.on_limit not in ON_LIMIT_VALUES:
            raise ValueError(f"onLimit: {self.on_limit!r} is not one of {', '.join(ON_LIMIT_VALUES)}")

    @classmethod
    def preset(cls, name: str) -> LoginPolicy:
        """Return the preset `name` (single, dual, multi, easemob); raises ValueError if unknown."""
        _check_mode(name)
        if name == "single":
            return cls(name, 1, ((_DEFAULT_KEY, 1),), (PLATFORMS,), "kickOldest")
        if name == "dual":
            # Natives share one slot of 1; Web and MiniProgram get 1 each via default.
            return cls(name, 2, ((_DEFAULT_KEY, 1),), (NATIVE_PLATFORMS,), "kickOldest")
        if name == "multi":
            limits = ((_DEFAULT_KEY, 2), ("Web", 5), ("MiniProgram", 1))
            return cls(name, None, limits, (), "kickOldest")
        return cls(name, None, ((_DEFAULT_KEY, 4),), (), "kickOldest")

    @classmethod
    def from_json(cls, obj: object) -> LoginPolicy:
        """Parse the §3 JSON form: `mode` picks a preset (default "single"), given fields replace its.

        A given field replaces the preset's field whole (`platformLimits` is
        not merged key by key). Raises ValueError naming the offending field.
        """
        if not isinstance(obj, Mapping):
            raise ValueError(f"policy: expected a JSON object, got {type(obj).__name__}")
        for key in obj:
            if key not in _JSON_FIELDS:
                raise ValueError(f"policy: unknown field {key!r} (known: {', '.join(_JSON_FIELDS)})")
        mode = obj.get("mode", DEFAULT_MODE)
        if not isinstance(mode, str):
            raise ValueError(f"mode: expected a string, got {type(mode).__name__}")
        base = cls.preset(mode)
        max_devices = base.max_devices
        if "maxDevices" in obj:
            value = obj["maxDevices"]
            _check_limit("maxDevices", value, allow_none=True)
            max_devices = value
        platform_limits = base.platform_limits
        if "platformLimits" in obj:
            raw = obj["platformLimits"]
            if not isinstance(raw, Mapping):
                raise ValueError(f"platformLimits: expected an object, got {type(raw).__name__}")
            platform_limits = tuple(raw.items())  # entries are checked by __post_init__
        kick_groups = base.kick_groups
        if "kickGroups" in obj:
            kick_groups = _parse_kick_groups(obj["kickGroups"])
        on_limit = obj.get("onLimit", base.on_limit)
        if not isinstance(on_limit, str):
            raise ValueError(f"onLimit: expected a string, got {type(on_limit).__name__}")
        return cls(mode, max_devices, platform_limits, kick_groups, on_limit)

    def to_json(self) -> dict[str, object]:
        """Return the §3 JSON form; `from_json` of it gives an equal policy."""
        return {
            "mode": self.mode,
            "maxDevices": self.max_devices,
            "platformLimits": dict(self.platform_limits),
            "kickGroups": [list(group) for group in self.kick_groups],
            "onLimit": self.on_limit,
        }

    def slot_of(self, platform: str) -> tuple[str, ...]:
        """Return the platforms that share a limit with `platform`: its kick group, or itself."""
        for group in self.kick_groups:
            if platform in group:
                return group
        return (platform,)

    def slot_limit(self, slot: Sequence[str]) -> int | None:
        """Return the limit of `slot`, the smallest among its platforms; None means unlimited."""
        found = [lim for lim in (self.platform_limit(p) for p in slot) if lim is not None]
        return min(found) if found else None

    def platform_limit(self, platform: str) -> int | None:
        """Return the limit written for `platform` (or "default"); None means unlimited."""
        limits = dict(self.platform_limits)
        return limits.get(platform, limits.get(_DEFAULT_KEY))


@dataclass(frozen=True, slots=True)
class OnlineDevice:
    """One logged-in device of an account, as the policy sees it."""

    login_id: str
    device_id: str
    platform: str
    login_time: int  # ms since the epoch


@dataclass(frozen=True, slots=True)
class Kick:
    """Log `login_id` out; `reason` is "sameDevice" or "policy" (the event's extendedData.reason)."""

    login_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class LoginPlan:
    """What a login does: the kicks to carry out, or `rejected` (then `kicks` is empty)."""

    kicks: tuple[Kick, ...]
    rejected: bool


def plan_login(policy: LoginPolicy, online: Sequence[OnlineDevice], new: OnlineDevice) -> LoginPlan:
    """Decide what logging in `new` does to `online` (the account's devices, in login order).

    Same-deviceID devices are replaced first, then the new device's slot limit
    and then `max_devices` are made room for by kicking the oldest (earliest
    `login_time`, ties by position in `online`), as few as needed. Under
    rejectNew a broken limit rejects the login with no kicks at all. Only the
    new device's slot and the total are enforced: other slots that are over a
    limit (after a policy change) stay as they are. Raises ValueError if
    `new.platform` is not a known platform.
    """
    _check_platform("platform", new.platform)
    kicks = [Kick(d.login_id, "sameDevice") for d in online if d.device_id == new.device_id]
    # Stable sort: equal login times keep their order in `online`.
    remaining = sorted((d for d in online if d.device_id != new.device_id), key=lambda d: d.login_time)
    reject = policy.on_limit == "rejectNew"

    slot = policy.slot_of(new.platform)
    slot_limit = policy.slot_limit(slot)
    if slot_limit is not None:
        in_slot = [d for d in remaining if d.platform in slot]
        excess = len(in_slot) + 1 - slot_limit
        if excess > 0:
            if reject:
                return LoginPlan((), True)
            kicks.extend(Kick(d.login_id, "policy") for d in in_slot[:excess])
            evicted = {id(d) for d in in_slot[:excess]}
            remaining = [d for d in remaining if id(d) not in evicted]

    if policy.max_devices is not None:
        excess = len(remaining) + 1 - policy.max_devices
        if excess > 0:
            if reject:
                return LoginPlan((), True)
            kicks.extend(Kick(d.login_id, "policy") for d in remaining[:excess])

    return LoginPlan(tuple(kicks), False)


def _check_mode(mode: str) -> None:
    if mode not in PRESETS:
        raise ValueError(f"mode: {mode!r} is not one of {', '.join(PRESETS)}")


def _check_platform(where: str, platform: object) -> None:
    if not isinstance(platform, str) or platform not in PLATFORMS:
        raise ValueError(f"{where}: unknown platform {platform!r} (known: {', '.join(PLATFORMS)})")


def _check_limit(where: str, value: object, *, allow_none: bool) -> None:
    if value is None and allow_none:
        return
    # bool is an int subclass; `true` is not a device count.
    if not isinstance(value, int) or isinstance(value, bool):
        expected = "an integer or null" if allow_none else "an integer"
        raise ValueError(f"{where}: expected {expected}, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{where}: must be at least 1, got {value}")


def _parse_kick_groups(raw: object) -> tuple[tuple[str, ...], ...]:
    if not isinstance(raw, list):
        raise ValueError(f"kickGroups: expected a list of lists, got {type(raw).__name__}")
    groups: list[tuple[str, ...]] = []
    for group in raw:
        if not isinstance(group, list):
            raise ValueError(f"kickGroups: expected a list of lists, found {type(group).__name__}")
        for platform in group:
            _check_platform("kickGroups", platform)
        groups.append(tuple(group))
    return tuple(groups)
