"""The pure multi-device login rules (PROTOCOL.md §3), tested without a server."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.account.policy import (
    NATIVE_PLATFORMS,
    PLATFORMS,
    Kick,
    LoginPlan,
    LoginPolicy,
    OnlineDevice,
    plan_login,
)


def _devices(*specs: tuple[str, str]) -> list[OnlineDevice]:
    """Devices named by (name, platform), logged in in that order at times 0, 1, 2, ..."""
    return [OnlineDevice(f"L-{name}", f"dev-{name}", platform, t) for t, (name, platform) in enumerate(specs)]


def _new(name: str, platform: str, login_time: int = 1000) -> OnlineDevice:
    return OnlineDevice(f"L-{name}", f"dev-{name}", platform, login_time)


def _policy(
    *,
    max_devices: int | None = None,
    limits: dict[str, int] | None = None,
    groups: Sequence[Sequence[str]] = (),
    on_limit: str = "kickOldest",
) -> LoginPolicy:
    return LoginPolicy(
        "multi", max_devices, tuple((limits or {}).items()), tuple(tuple(g) for g in groups), on_limit
    )


def _kicked(plan: LoginPlan) -> list[str]:
    assert not plan.rejected
    return [k.login_id for k in plan.kicks]


# --- presets -----------------------------------------------------------------


def test_platform_lists() -> None:
    assert len(PLATFORMS) == 9
    assert set(PLATFORMS) - set(NATIVE_PLATFORMS) == {"Web", "MiniProgram"}


def test_preset_single() -> None:
    policy = LoginPolicy.preset("single")
    assert (policy.mode, policy.max_devices, policy.on_limit) == ("single", 1, "kickOldest")
    assert policy.kick_groups == (PLATFORMS,)
    assert all(policy.slot_limit(policy.slot_of(p)) == 1 for p in PLATFORMS)
    # Any second device, on any platform, replaces the first.
    assert _kicked(plan_login(policy, _devices(("a", "iOS")), _new("b", "Web"))) == ["L-a"]


def test_preset_dual() -> None:
    policy = LoginPolicy.preset("dual")
    assert (policy.max_devices, policy.on_limit) == (2, "kickOldest")
    assert policy.kick_groups == (NATIVE_PLATFORMS,)
    assert {p: policy.slot_limit(policy.slot_of(p)) for p in PLATFORMS} == {p: 1 for p in PLATFORMS}
    # One native plus one Web live side by side.
    assert _kicked(plan_login(policy, _devices(("phone", "iOS")), _new("web", "Web"))) == []
    # A second native replaces the first, whatever the native platform.
    online = _devices(("phone", "iOS"), ("web", "Web"))
    assert _kicked(plan_login(policy, online, _new("pc", "Windows"))) == ["L-phone"]
    # A second Web replaces the first Web.
    assert _kicked(plan_login(policy, online, _new("web2", "Web"))) == ["L-web"]
    # MiniProgram has its own slot of 1, but the account-wide 2 then kicks the oldest.
    assert _kicked(plan_login(policy, online, _new("mini", "MiniProgram"))) == ["L-phone"]


def test_preset_multi() -> None:
    policy = LoginPolicy.preset("multi")
    assert (policy.max_devices, policy.kick_groups, policy.on_limit) == (None, (), "kickOldest")
    assert {p: policy.platform_limit(p) for p in NATIVE_PLATFORMS} == {p: 2 for p in NATIVE_PLATFORMS}
    assert policy.platform_limit("Web") == 5
    assert policy.platform_limit("MiniProgram") == 1
    # Fill every slot to its limit: 7 natives x 2 + 5 Web + 1 MiniProgram = 20 devices, all fine.
    specs = [(f"{p}{i}", p) for p in NATIVE_PLATFORMS for i in range(2)]
    specs += [(f"web{i}", "Web") for i in range(5)] + [("mini0", "MiniProgram")]
    online = _devices(*specs)
    assert len(online) == 20
    assert _kicked(plan_login(policy, online[:-1], _new("mini0", "MiniProgram"))) == []
    # A third iOS kicks the older iOS only; a sixth Web kicks the oldest Web only.
    assert _kicked(plan_login(policy, online, _new("ios", "iOS"))) == ["L-iOS0"]
    assert _kicked(plan_login(policy, online, _new("web", "Web"))) == ["L-web0"]
    assert _kicked(plan_login(policy, online, _new("mini", "MiniProgram"))) == ["L-mini0"]


def test_preset_easemob() -> None:
    policy = LoginPolicy.preset("easemob")
    assert (policy.max_devices, policy.kick_groups, policy.on_limit) == (None, (), "kickOldest")
    assert all(policy.platform_limit(p) == 4 for p in PLATFORMS)
    online = _devices(*[(f"w{i}", "Windows") for i in range(4)], ("m", "Mac"))
    assert _kicked(plan_login(policy, online, _new("mac2", "Mac"))) == []
    assert _kicked(plan_login(policy, online, _new("w4", "Windows"))) == ["L-w0"]


def test_unknown_preset_lists_valid_names() -> None:
    with pytest.raises(ValueError, match="single, dual, multi, easemob"):
        LoginPolicy.preset("triple")


# --- per-platform limits and kick groups ---------------------------------------


def test_platform_limit_overrides_default() -> None:
    policy = _policy(limits={"default": 1, "Web": 3})
    online = _devices(("w1", "Web"), ("w2", "Web"), ("i1", "iOS"))
    assert _kicked(plan_login(policy, online, _new("w3", "Web"))) == []
    assert _kicked(plan_login(policy, online, _new("i2", "iOS"))) == ["L-i1"]


def test_platform_without_limit_or_default_is_unlimited() -> None:
    policy = _policy(limits={"iOS": 1})
    online = _devices(*[(f"w{i}", "Web") for i in range(50)])
    assert _kicked(plan_login(policy, online, _new("w", "Web"))) == []
    assert policy.platform_limit("Web") is None


def test_kick_group_counts_as_one_platform() -> None:
    policy = _policy(limits={"default": 2}, groups=[["Android", "HarmonyOS", "iOS"], ["Windows", "Mac"]])
    online = _devices(("a", "Android"), ("h", "HarmonyOS"), ("w", "Windows"), ("l", "Linux"))
    # The phone group already holds 2: a new iOS kicks the oldest phone, not Windows or Linux.
    assert _kicked(plan_login(policy, online, _new("i", "iOS"))) == ["L-a"]
    # The desktop group holds 1 of 2.
    assert _kicked(plan_login(policy, online, _new("m", "Mac"))) == []


def test_kick_group_limit_is_smallest_of_its_platforms() -> None:
    policy = _policy(limits={"Android": 3, "iOS": 1}, groups=[["Android", "iOS", "Web"]])
    assert policy.slot_limit(policy.slot_of("Android")) == 1  # Web has no limit: ignored
    online = _devices(("a", "Android"))
    assert _kicked(plan_login(policy, online, _new("w", "Web"))) == ["L-a"]
    unlimited = _policy(limits={"Linux": 1}, groups=[["Android", "iOS"]])
    assert unlimited.slot_limit(unlimited.slot_of("iOS")) is None


def test_oldest_is_by_login_time_then_list_order() -> None:
    policy = _policy(limits={"default": 2})
    # Listed in login order, but the second device carries the earliest time.
    online = [
        OnlineDevice("L-x", "dev-x", "iOS", 50),
        OnlineDevice("L-y", "dev-y", "iOS", 10),
    ]
    assert _kicked(plan_login(policy, online, _new("z", "iOS"))) == ["L-y"]
    tied = [OnlineDevice("L-x", "dev-x", "iOS", 7), OnlineDevice("L-y", "dev-y", "iOS", 7)]
    assert _kicked(plan_login(policy, tied, _new("z", "iOS"))) == ["L-x"]


def test_kicks_as_few_as_needed() -> None:
    # After a policy change the slot may be over its new limit: kick down to limit-1, no more.
    policy = _policy(limits={"Web": 2})
    online = _devices(*[(f"w{i}", "Web") for i in range(4)])
    assert _kicked(plan_login(policy, online, _new("w", "Web"))) == ["L-w0", "L-w1", "L-w2"]


# --- account-wide limit ---------------------------------------------------------


def test_zim_example_limit_3_kicks_a() -> None:
    policy = _policy(max_devices=3)
    online = _devices(("A", "iOS"), ("B", "Android"), ("C", "Web"))
    plan = plan_login(policy, online, _new("D", "Mac"))
    assert plan == LoginPlan((Kick("L-A", "policy"),), rejected=False)
    # Same answer when all four share a platform with no platform limit.
    same = _devices(("A", "iOS"), ("B", "iOS"), ("C", "iOS"))
    assert plan_login(policy, same, _new("D", "iOS")) == plan


def test_slot_limit_first_then_account_limit() -> None:
    online = _devices(("web", "Web"), ("ios", "iOS"), ("android", "Android"))
    # The iOS slot frees one; the total of 3 is then within maxDevices 3.
    roomy = _policy(max_devices=3, limits={"iOS": 1})
    assert _kicked(plan_login(roomy, online, _new("ios2", "iOS"))) == ["L-ios"]
    # With maxDevices 2 the oldest remaining device (Web) goes as well.
    tight = _policy(max_devices=2, limits={"iOS": 1})
    assert _kicked(plan_login(tight, online, _new("ios2", "iOS"))) == ["L-ios", "L-web"]


def test_account_limit_after_policy_change_kicks_down_to_fit() -> None:
    policy = _policy(max_devices=2)
    online = _devices(("a", "iOS"), ("b", "Web"), ("c", "Mac"), ("d", "Linux"))
    assert _kicked(plan_login(policy, online, _new("e", "iOS"))) == ["L-a", "L-b", "L-c"]


# --- rejectNew ------------------------------------------------------------------


def test_reject_new_on_slot_limit_kicks_nothing() -> None:
    policy = _policy(limits={"iOS": 1}, on_limit="rejectNew")
    online = _devices(("a", "iOS"), ("b", "Web"))
    assert plan_login(policy, online, _new("c", "iOS")) == LoginPlan((), rejected=True)
    assert plan_login(policy, online, _new("c", "Web")) == LoginPlan((), rejected=False)


def test_reject_new_on_account_limit_kicks_nothing() -> None:
    policy = _policy(max_devices=3, on_limit="rejectNew")
    online = _devices(("A", "iOS"), ("B", "Android"), ("C", "Web"))
    assert plan_login(policy, online, _new("D", "Mac")) == LoginPlan((), rejected=True)
    assert plan_login(policy, online[:2], _new("D", "Mac")) == LoginPlan((), rejected=False)


def test_reject_new_drops_the_same_device_kick_too() -> None:
    policy = _policy(max_devices=2, on_limit="rejectNew")
    online = _devices(("a", "iOS"), ("b", "Web"), ("c", "Mac"))  # over the limit after a change
    relogin = OnlineDevice("L-new", "dev-a", "iOS", 1000)
    assert plan_login(policy, online, relogin) == LoginPlan((), rejected=True)


# --- same device ------------------------------------------------------------------


@pytest.mark.parametrize("on_limit", ["kickOldest", "rejectNew"])
def test_same_device_is_replaced_and_frees_its_place(on_limit: str) -> None:
    policy = LoginPolicy.from_json({"mode": "single", "onLimit": on_limit})
    online = _devices(("phone", "iOS"))
    relogin = OnlineDevice("L-again", "dev-phone", "iOS", 1000)
    assert plan_login(policy, online, relogin) == LoginPlan((Kick("L-phone", "sameDevice"),), False)


@pytest.mark.parametrize("on_limit", ["kickOldest", "rejectNew"])
def test_same_device_on_another_platform_is_still_replaced(on_limit: str) -> None:
    policy = _policy(max_devices=2, limits={"default": 1}, on_limit=on_limit)
    online = _devices(("x", "Windows"), ("y", "Web"))
    relogin = OnlineDevice("L-again", "dev-x", "Linux", 1000)
    assert plan_login(policy, online, relogin) == LoginPlan((Kick("L-x", "sameDevice"),), False)


def test_same_device_kick_comes_before_policy_kicks() -> None:
    policy = _policy(max_devices=2)
    online = _devices(("a", "iOS"), ("b", "Web"), ("c", "Mac"))
    relogin = OnlineDevice("L-new", "dev-c", "Mac", 1000)
    plan = plan_login(policy, online, relogin)
    assert plan.kicks == (Kick("L-c", "sameDevice"), Kick("L-a", "policy"))


def test_unknown_platform_of_new_device_is_refused() -> None:
    with pytest.raises(ValueError, match="platform"):
        plan_login(LoginPolicy.preset("multi"), [], _new("x", "Symbian"))


# --- from_json / to_json ------------------------------------------------------------


def test_from_json_defaults_to_single() -> None:
    assert LoginPolicy.from_json({}) == LoginPolicy.preset("single")


@pytest.mark.parametrize("mode", ["single", "dual", "multi", "easemob"])
def test_from_json_mode_picks_preset(mode: str) -> None:
    assert LoginPolicy.from_json({"mode": mode}) == LoginPolicy.preset(mode)


def test_from_json_fields_override_the_preset() -> None:
    policy = LoginPolicy.from_json(
        {
            "mode": "multi",
            "maxDevices": 3,
            "platformLimits": {"default": 2, "Web": 1},
            "kickGroups": [["Android", "HarmonyOS", "iOS"], ["Windows", "Mac"]],
            "onLimit": "rejectNew",
        }
    )
    assert policy == LoginPolicy(
        "multi",
        3,
        (("default", 2), ("Web", 1)),
        (("Android", "HarmonyOS", "iOS"), ("Windows", "Mac")),
        "rejectNew",
    )


def test_from_json_fields_left_out_keep_the_preset() -> None:
    policy = LoginPolicy.from_json({"mode": "dual", "onLimit": "rejectNew"})
    dual = LoginPolicy.preset("dual")
    assert (policy.max_devices, policy.platform_limits, policy.kick_groups) == (
        dual.max_devices,
        dual.platform_limits,
        dual.kick_groups,
    )
    assert policy.on_limit == "rejectNew"


def test_from_json_null_max_devices_is_unlimited() -> None:
    assert LoginPolicy.from_json({"mode": "single", "maxDevices": None}).max_devices is None


def test_from_json_platform_limits_replace_whole() -> None:
    policy = LoginPolicy.from_json({"mode": "multi", "platformLimits": {"Web": 3}})
    assert policy.platform_limits == (("Web", 3),)
    assert policy.platform_limit("iOS") is None


@pytest.mark.parametrize(
    ("obj", "field"),
    [
        ([], "policy"),
        ("single", "policy"),
        (None, "policy"),
        ({"mode": "multi", "maxdevices": 2}, "maxdevices"),
        ({"mode": 1}, "mode"),
        ({"mode": None}, "mode"),
        ({"mode": "quad"}, "mode"),
        ({"maxDevices": True}, "maxDevices"),
        ({"maxDevices": "2"}, "maxDevices"),
        ({"maxDevices": 2.0}, "maxDevices"),
        ({"maxDevices": 0}, "maxDevices"),
        ({"maxDevices": -1}, "maxDevices"),
        ({"platformLimits": [["Web", 1]]}, "platformLimits"),
        ({"platformLimits": None}, "platformLimits"),
        ({"platformLimits": {"Symbian": 1}}, "platformLimits"),
        ({"platformLimits": {"web": 1}}, "platformLimits"),
        ({"platformLimits": {"Web": True}}, "platformLimits.Web"),
        ({"platformLimits": {"Web": 0}}, "platformLimits.Web"),
        ({"platformLimits": {"default": -3}}, "platformLimits.default"),
        ({"platformLimits": {"Web": None}}, "platformLimits.Web"),
        ({"platformLimits": {"Web": 1.5}}, "platformLimits.Web"),
        ({"kickGroups": {"a": ["iOS"]}}, "kickGroups"),
        ({"kickGroups": ["iOS", "Android"]}, "kickGroups"),
        ({"kickGroups": [["iOS", "Symbian"]]}, "kickGroups"),
        ({"kickGroups": [["iOS", 3]]}, "kickGroups"),
        ({"kickGroups": [["iOS", "Android"], ["Android", "Mac"]]}, "kickGroups"),
        ({"kickGroups": [["iOS", "iOS"]]}, "kickGroups"),
        ({"kickGroups": [[]]}, "kickGroups"),
        ({"onLimit": "kickNewest"}, "onLimit"),
        ({"onLimit": None}, "onLimit"),
        ({"onLimit": 1}, "onLimit"),
    ],
)
def test_from_json_rejects(obj: object, field: str) -> None:
    with pytest.raises(ValueError, match=rf"^{field}\b|'{field}'"):
        LoginPolicy.from_json(obj)


def test_constructor_validates_too() -> None:
    with pytest.raises(ValueError, match="platformLimits: 'Web' is given twice"):
        LoginPolicy("multi", None, (("Web", 1), ("Web", 2)), (), "kickOldest")
    with pytest.raises(ValueError, match="^mode"):
        LoginPolicy("zim", None, (), (), "kickOldest")


@pytest.mark.parametrize("mode", ["single", "dual", "multi", "easemob"])
def test_to_json_round_trips_presets(mode: str) -> None:
    policy = LoginPolicy.preset(mode)
    as_json = policy.to_json()
    assert set(as_json) == {"mode", "maxDevices", "platformLimits", "kickGroups", "onLimit"}
    assert LoginPolicy.from_json(as_json) == policy
    assert LoginPolicy.from_json(json.loads(json.dumps(as_json))) == policy


def test_to_json_shape() -> None:
    policy = _policy(limits={"Web": 2}, groups=[["iOS", "Android"]], on_limit="rejectNew")
    assert policy.to_json() == {
        "mode": "multi",
        "maxDevices": None,
        "platformLimits": {"Web": 2},
        "kickGroups": [["iOS", "Android"]],
        "onLimit": "rejectNew",
    }


# --- property: the plan always leaves a valid, minimally disturbed account ---------------


@st.composite
def policies(draw: st.DrawFn) -> LoginPolicy:
    grouped = draw(st.permutations(PLATFORMS))[: draw(st.integers(0, len(PLATFORMS)))]
    groups: list[tuple[str, ...]] = []
    while grouped:
        size = draw(st.integers(1, len(grouped)))
        groups.append(tuple(grouped[:size]))
        grouped = grouped[size:]
    keys = draw(st.lists(st.sampled_from((*PLATFORMS, "default")), unique=True, max_size=5))
    limits = tuple((key, draw(st.integers(1, 4))) for key in keys)
    max_devices = draw(st.none() | st.integers(1, 6))
    on_limit = draw(st.sampled_from(["kickOldest", "rejectNew"]))
    mode = draw(st.sampled_from(["single", "dual", "multi", "easemob"]))
    return LoginPolicy(mode, max_devices, limits, tuple(groups), on_limit)


def _slots(policy: LoginPolicy) -> list[tuple[str, ...]]:
    grouped = {p for g in policy.kick_groups for p in g}
    return list(policy.kick_groups) + [(p,) for p in PLATFORMS if p not in grouped]


def _slot_limit(policy: LoginPolicy, slot: Sequence[str]) -> int | None:
    """The limit of a slot worked out from the fields alone, not from the policy's helpers."""
    limits = dict(policy.platform_limits)
    found = [limits.get(p, limits.get("default")) for p in slot]
    return min((lim for lim in found if lim is not None), default=None)


def _satisfies(policy: LoginPolicy, devices: Sequence[OnlineDevice]) -> bool:
    if policy.max_devices is not None and len(devices) > policy.max_devices:
        return False
    for slot in _slots(policy):
        limit = _slot_limit(policy, slot)
        if limit is not None and sum(d.platform in slot for d in devices) > limit:
            return False
    return True


@st.composite
def scenarios(
    draw: st.DrawFn, *, valid_online: bool = True
) -> tuple[LoginPolicy, list[OnlineDevice], OnlineDevice]:
    policy = draw(policies())
    # Few platforms per scenario, often from one kick group, so slots fill up and limits bite.
    pool = draw(st.sampled_from([PLATFORMS, *policy.kick_groups]))
    platforms = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=4, unique=True))
    candidates = draw(st.lists(st.tuples(st.sampled_from(platforms), st.integers(0, 5)), max_size=20))
    online: list[OnlineDevice] = []
    for i, (platform, login_time) in enumerate(candidates):
        device = OnlineDevice(f"L{i}", f"dev{i}", platform, login_time)
        if not valid_online or _satisfies(policy, [*online, device]):
            online.append(device)
    platform = draw(st.sampled_from(platforms) | st.sampled_from(PLATFORMS))
    device_ids = [d.device_id for d in online]
    device_id = draw(st.sampled_from(["dev-new", *device_ids]))
    return policy, online, OnlineDevice("L-new", device_id, platform, draw(st.integers(0, 6)))


# No per-example deadline: these are pure functions, and a shared machine makes wall-clock limits flaky.
@settings(max_examples=500, database=None, deadline=None)
@given(scenarios())
def test_plan_keeps_every_limit_and_kicks_the_fewest_oldest(
    scenario: tuple[LoginPolicy, list[OnlineDevice], OnlineDevice],
) -> None:
    policy, online, new = scenario
    assert _satisfies(policy, online)
    survivors = _check_plan(policy, online, new)
    if survivors is not None:
        assert _satisfies(policy, [*survivors, new])


@settings(max_examples=300, database=None, deadline=None)
@given(scenarios(valid_online=False))
def test_plan_after_a_policy_change_fixes_the_new_slot_and_the_total(
    scenario: tuple[LoginPolicy, list[OnlineDevice], OnlineDevice],
) -> None:
    """Devices online may break a policy made stricter since; only the new slot and total are fixed."""
    _check_plan(*scenario)


def _check_plan(
    policy: LoginPolicy, online: list[OnlineDevice], new: OnlineDevice
) -> list[OnlineDevice] | None:
    """Check `plan_login` against the rules worked out independently; return the devices kept."""
    plan = plan_login(policy, online, new)

    same = [d for d in online if d.device_id == new.device_id]
    others = [d for d in online if d.device_id != new.device_id]
    slot = next((g for g in policy.kick_groups if new.platform in g), (new.platform,))
    slot_limit = _slot_limit(policy, slot)
    slot_excess = 0 if slot_limit is None else sum(d.platform in slot for d in others) + 1 - slot_limit
    total_excess = 0 if policy.max_devices is None else len(others) + 1 - policy.max_devices
    needed = max(0, slot_excess, total_excess)

    if plan.rejected:
        assert policy.on_limit == "rejectNew"
        assert plan.kicks == ()
        assert needed > 0  # rejected only when a limit would really break
        return None
    if policy.on_limit == "rejectNew":
        assert needed == 0

    by_id = {d.login_id: d for d in online}
    kicked_ids = [k.login_id for k in plan.kicks]
    assert len(set(kicked_ids)) == len(kicked_ids)
    assert all(k in by_id for k in kicked_ids)
    assert [k.login_id for k in plan.kicks if k.reason == "sameDevice"] == [d.login_id for d in same]
    policy_kicked = [by_id[k.login_id] for k in plan.kicks if k.reason == "policy"]
    assert all(k.reason in ("sameDevice", "policy") for k in plan.kicks)

    survivors = [d for d in online if d.login_id not in kicked_ids]
    if slot_limit is not None:
        assert sum(d.platform in slot for d in survivors) + 1 <= slot_limit
    if policy.max_devices is not None:
        assert len(survivors) + 1 <= policy.max_devices
    assert len(policy_kicked) == needed  # no more than necessary, and the limits above: no fewer

    order = {d.login_id: (d.login_time, i) for i, d in enumerate(online)}
    # Inside the new device's slot, every kicked device is older than every one kept.
    kept_in_slot = [order[d.login_id] for d in survivors if d.platform in slot]
    for d in policy_kicked:
        if d.platform in slot:
            assert all(order[d.login_id] < kept for kept in kept_in_slot)
        else:
            # Outside the slot only the account-wide limit kicks: older than every device kept.
            assert all(order[d.login_id] < order[s.login_id] for s in survivors)
    return survivors
