"""The side-by-side benchmark against Debian's ejabberd, run --quick (scripts/bench_ejabberd).

It needs the package (`make test` installs it through `make ejabberd`); without
it these tests fail with the command that fixes that, never skip.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from scripts.bench_ejabberd.ejabberd import PASSWORD, EjabberdInstall, ejabberd_server, find_ejabberd, register_accounts
from scripts.bench_ejabberd.sides import DEFAULT_SIDES
from scripts.bench_ejabberd.xmpp import XmppError, body_of

REPO = Path(__file__).resolve().parents[1]


def _install() -> EjabberdInstall:
    install = find_ejabberd()
    if install is None:
        raise AssertionError("no ejabberd here: run `apt-get install -y ejabberd erlang-p1-sqlite3` as root (`make ejabberd` does it)")
    if not install.sqlite:
        raise AssertionError("no SQLite driver for ejabberd here: run `apt-get install -y erlang-p1-sqlite3` as root (`make ejabberd` does it)")
    return install


def test_quick_run_measures_every_figure_on_every_server(tmp_path: Path) -> None:
    """The real command, --quick: hubbub and ejabberd with and without MAM, every workload, every count as expected, a full table."""
    _install()
    out = tmp_path / "bench.json"
    command = [sys.executable, "-m", "scripts.bench_ejabberd", "--quick", "--json", str(out)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "| chat: server CPU per delivery |" in done.stdout
    assert "no problems" in done.stdout
    report = json.loads(out.read_text())
    assert report["problems"] == []
    for row in report["table"]:
        for side in DEFAULT_SIDES:
            number = row["values"][side]
            assert number is not None and not math.isnan(number), (row["title"], side)
        if row["unit"] in ("/s", "ms") and "CPU" not in row["title"]:
            assert all(row["values"][side] > 0 for side in DEFAULT_SIDES), row
    for side in DEFAULT_SIDES:
        figures = report["sides"][side]
        # the XMPP workloads count like hubbub's mixes: 3 deliveries per chat message with 2 devices each
        chat = figures["chat"]["figures"]
        assert chat["deliveries"] == 3 * chat["messages_sent"] > 0, side
        assert figures["group"]["figures"]["g15_deliveries"] == 14 * 3, side
        assert figures["login"]["figures"]["logins_ok"] == 30, side
        assert figures["idle"]["figures"]["devices_online"] == 40, side


def test_without_ejabberd_only_hubbub_runs_and_missing_ejabberd_is_one_line(tmp_path: Path) -> None:
    """--servers hubbub needs no ejabberd; asking for ejabberd where the package is absent is a one-line error."""
    command = [sys.executable, "-m", "scripts.bench_ejabberd", "--quick", "--servers", "hubbub", "--workloads", "login"]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "| logins, 30 devices: logins/s |" in done.stdout
    bad = subprocess.run([*command[:3], "--servers", "nothing"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--servers: pick from" in bad.stderr


@pytest.mark.parametrize("archive", ["mnesia", "sqlite", None])
async def test_xmpp_client_carbons_and_rooms_against_ejabberd(tmp_path: Path, archive: str | None) -> None:
    """The minimal XMPP client does what the workloads rely on: register, log in, carbons, a room."""
    install = _install()
    with trio.fail_after(60):
        async with ejabberd_server(install, tmp_path / "run", tmp_path / "spool", archive) as (target, log):
            assert await register_accounts(target, ["a", "b"], 2, 10) == []
            assert await register_accounts(target, ["a"], 1, 10) == []  # existing: counts as done
            clients = {}
            for user, index in (("a", 0), ("a", 1), ("b", 0)):
                client = target.client()
                await client.connect()
                await client.login(user, PASSWORD, f"r{index}")
                await client.enable_carbons()
                await client.available()
                clients[(user, index)] = client
            await clients[("a", 0)].message(target.jid("b"), "to b <&>")
            # b's device gets the message, a's other device its carbon: both with the body
            for key in (("b", 0), ("a", 1)):
                while (body := body_of(await clients[key].next_stanza())) is None:
                    pass
                assert body == "to b <&>"
            room = f"r1@{target.muc_domain}"
            assert await clients[("a", 0)].join_room(room, "a0") is True
            assert await clients[("b", 0)].join_room(room, "b0") is False
            await clients[("a", 0)].message(room, "to the room", "groupchat")
            while (body := body_of(await clients[("b", 0)].next_stanza())) is None:
                pass
            assert body == "to the room"
            wrong = target.client()
            await wrong.connect()
            with pytest.raises(XmppError, match="authentication of a failed"):
                await wrong.login("a", "not the password", "x")
            await wrong.close()
            for client in clients.values():
                await client.close()
    assert log.errors == 0, log.samples
    # the archive is where the configuration says: ejabberd created the SQLite file only when asked to
    assert (tmp_path / "run" / "mam.sqlite3").exists() == (archive == "sqlite")


def test_profile_hubbub_samples_the_server_itself(tmp_path: Path) -> None:
    """--profile-hubbub runs hubbub under py-spy: its stacks are the server's, and the server still stops cleanly."""
    profiles = tmp_path / "profiles"
    command = [sys.executable, "-m", "scripts.bench_ejabberd", "--quick", "--servers", "hubbub", "--workloads", "login",
               "--profile-hubbub", str(profiles)]  # fmt: skip
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    stacks = (profiles / "hubbub.txt").read_text()
    assert "gateway/cli.py" in stacks and "actors/" in stacks
    assert "no problems" in done.stdout
