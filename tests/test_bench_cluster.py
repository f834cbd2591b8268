"""The cluster benchmark, run --quick (scripts/bench_cluster.py): every mix on every setup, every count as expected."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from scripts.bench_cluster import MIXES, SETUPS, Run, render

REPO = Path(__file__).resolve().parents[1]


def test_quick_run_measures_both_mixes_on_sqlite_one_node_and_two_nodes(tmp_path: Path) -> None:
    """The real command, --quick: SQLite, one node and two nodes on PostgreSQL + Redis; a full table, no problems."""
    out = tmp_path / "bench.json"
    done = subprocess.run([sys.executable, "-m", "scripts.bench_cluster", "--quick", "--json", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no problems" in done.stdout
    assert "nan×" not in done.stdout  # every ratio had both its figures
    runs = json.loads(out.read_text())["runs"]
    assert sorted((r["mix"], r["setup"]) for r in runs) == sorted((m, s) for m in MIXES for s in SETUPS)
    for run in runs:
        assert run["problems"] == [], run
        assert run["deliveries"] == run["expected"] > 0, run
        assert run["delivered_per_s"] > 0 and run["cpu_us_per_delivery"] > 0, run
    # 20 accounts x 2 devices: each chat message is 3 deliveries; a 20-member group message 29 (30 devices, less the sender's)
    assert all(r["deliveries"] % 3 == 0 for r in runs if r["mix"] == "chat")
    assert all(r["deliveries"] == 5 * 29 for r in runs if r["mix"] == "groups")


def test_an_unknown_setup_is_one_line() -> None:
    done = subprocess.run([sys.executable, "-m", "scripts.bench_cluster", "--setups", "pg-3"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--setups: pick from sqlite, pg-1, pg-2" in done.stderr


def test_a_baseline_that_is_no_checkout_is_one_line(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "scripts.bench_cluster", "--baseline", str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "is no checkout of this repository (no gateway/cli.py)" in done.stderr


def test_the_table_gives_this_tree_over_the_baseline_per_setup() -> None:
    runs = [Run("chat", setup, 1, tree, delivered_per_s=rate, cpu_us_per_delivery=cpu, deliveries=10, expected=10)
            for setup, tree, rate, cpu in [("sqlite", "", 100, 200), ("sqlite", "baseline", 100, 200), ("pg-1", "", 300, 400),
                                           ("pg-1", "baseline", 150, 800), ("pg-2", "", 600, 500), ("pg-2", "baseline", 100, 2000)]]  # fmt: skip
    table = render(runs, 1)
    assert "| chat | pg-2 (baseline) | 100 | 2,000 µs |" in table
    assert "| chat | 2.00× | 1.25× | 2.00× | 3.00× |" in table  # this tree: pg-2 ÷ pg-1, pg-1 ÷ sqlite
    assert "| chat (baseline) | 0.67× | 2.50× | 4.00× | 1.50× |" in table
    assert "| chat | pg-1 | 2.00× | 0.50× |" in table and "| chat | pg-2 | 6.00× | 0.25× |" in table
