"""The side-by-side table: each figure per server, hubbub's ratios to both ejabberd sides, and the targets."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

from .sides import DEFAULT_SIDES, SIDE_TITLES, SIDES, SideResult

SIDE_SHORT = {"ejabberd_mam": "MAM", "ejabberd_mam_sqlite": "MAM in SQLite", "ejabberd_plain": "no archive"}


@dataclass(frozen=True, slots=True)
class Goal:
    """hubbub's figure over the `against` side's must be at most (`lower`) or at least (`higher`) `ratio`."""

    against: str
    ratio: float
    better: Literal["lower", "higher"]

    def text(self) -> str:
        sign = "≤" if self.better == "lower" else "≥"
        return f"{sign} {self.ratio:g}× {SIDE_TITLES[self.against].removeprefix('ejabberd, ')}"

    def met(self, ratio: float) -> bool:
        return ratio <= self.ratio if self.better == "lower" else ratio >= self.ratio


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the table: the figure `figure` of workload `workload` on every side."""

    title: str
    workload: str
    figure: str
    unit: str
    goal: Goal | None = None


def rows(sizes: dict[str, Any]) -> list[Row]:
    """The issue's table for the sizes this run used."""
    mam, plain = "ejabberd_mam", "ejabberd_plain"
    group = sizes["group_size"]
    return [
        Row(f"chat at saturation, {sizes['chat_accounts']:,} accounts × 2 devices: deliveries/s", "chat", "delivered_per_s", "/s"),
        Row("chat: server CPU per delivery", "chat", "server_cpu_us_per_delivery", "µs", Goal(mam, 0.5, "lower")),
        Row(f"chat at {sizes['chat_rate']:g} msg/s: p99", "chat_rate", "delivery_p99_ms", "ms", Goal(mam, 1.0, "lower")),
        Row(f"{group:,}-member group (MUC room), one message at a time: server CPU per delivery", "group",
            f"g{group}_cpu_us_per_delivery", "µs", Goal(mam, 1.0, "lower")),
        Row("the same: p99 delivery latency (send to arrival, every member's copy)", "group", f"g{group}_delivery_p99_ms", "ms",
            Goal(mam, 1.0, "lower")),
        Row("the same: until the last member has it (p99 over messages)", "group", f"g{group}_last_member_p99_ms", "ms"),
        Row(f"logins, {sizes['login_devices']:,} devices: logins/s", "login", "logins_per_s", "/s", Goal(plain, 1.0, "higher")),
        Row("logins: server CPU per login", "login", "server_cpu_ms_per_login", "ms"),
        Row(f"idle logged-in devices, {sizes['idle_devices']:,}: memory per device", "idle", "kib_per_device", "KiB", Goal(plain, 0.5, "lower")),
    ]  # fmt: skip


def value(sides: dict[str, SideResult], side: str, row: Row) -> float:
    """The row's figure on `side`; NaN where that side or workload did not run or measured nothing."""
    result = sides[side].results.get(row.workload) if side in sides else None
    if result is None:
        return math.nan
    try:
        return result.figure(row.figure).value
    except KeyError:
        return math.nan


def _number(number: float, unit: str) -> str:
    if math.isnan(number):
        return "—"
    text = f"{number:,.0f}" if abs(number) >= 100 else f"{number:.3g}"
    return f"{text} {unit}" if unit not in ("/s",) else text


def _ratio(hubbub: float, other: float) -> float:
    return hubbub / other if other and not math.isnan(other) and not math.isnan(hubbub) else math.nan


def table(sides: dict[str, SideResult], sizes: dict[str, Any]) -> str:
    """The markdown table: figures, ratios hubbub ÷ each ejabberd side, target, met or not.

    Columns for the issue's three configurations always, MAM in SQLite when it ran.
    """
    shown = [side for side in SIDES if side in sides or side in DEFAULT_SIDES]
    others = [side for side in shown if side != "hubbub"]
    head = ["figure", *(SIDE_TITLES[s] for s in shown), *(f"hubbub ÷ {SIDE_SHORT[s]}" for s in others), "target", ""]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows(sizes):
        values = [value(sides, side, row) for side in shown]
        ratios = {other: _ratio(value(sides, "hubbub", row), value(sides, other, row)) for other in others}
        judged = ""
        if row.goal is not None:
            ratio = ratios.get(row.goal.against, math.nan)
            judged = "n/a" if math.isnan(ratio) else ("**met**" if row.goal.met(ratio) else "**not met**")
        cells = [row.title, *(_number(v, row.unit) for v in values)]
        cells += [("—" if math.isnan(r) else f"{r:.2f}×") for r in ratios.values()]
        cells += [row.goal.text() if row.goal else "", judged]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def problems(sides: dict[str, SideResult]) -> list[str]:
    """Every failed check of the run: mismatched counts, failed logins, server errors."""
    found: list[str] = []
    for name, side in sides.items():
        found += [f"{name}: {p}" for p in side.problems]
        for workload, result in side.results.items():
            found += [f"{name} {workload}: {p}" for p in result.problems]
            found += [f"{name} {workload}: {f.name} = {f.value:g}, expected {f.expected:g}" for f in result.mismatches() if f.expected is not None]
        for label, log in side.logs:
            if log.errors:
                found.append(f"{name}: the {label} server logged {log.errors} errors, e.g. {log.samples[:1]}")
    return found


def as_json(sides: dict[str, SideResult], sizes: dict[str, Any], header: dict[str, Any]) -> dict[str, Any]:
    """Every figure of every workload on every side, the table's rows with ratios, and the run's header."""

    def finite(number: float) -> float | None:
        return None if math.isnan(number) else number

    table_rows = []
    for row in rows(sizes):
        values = {side: finite(value(sides, side, row)) for side in SIDES if side in sides}
        table_rows.append({"title": row.title, "workload": row.workload, "figure": row.figure, "unit": row.unit, "values": values,
                           "goal": None if row.goal is None else asdict(row.goal)})  # fmt: skip
    return {
        "header": header,
        "sizes": sizes,
        "table": table_rows,
        "sides": {
            name: {
                workload: {"elapsed_s": result.elapsed_s, "problems": result.problems,
                           "figures": {f.name: finite(f.value) for f in result.figures}}  # fmt: skip
                for workload, result in side.results.items()
            }
            for name, side in sides.items()
        },
        "problems": problems(sides),
    }
