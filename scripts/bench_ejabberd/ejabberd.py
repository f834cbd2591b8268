"""Debian's ejabberd, configured and started by the benchmark on loopback: nothing installed, nothing shared.

`find_ejabberd()` looks for the package's files (`apt-get install ejabberd`
puts them there; the benchmark never installs anything). `ejabberd_server()`
writes a configuration of its own into the run's temporary directory (one
virtual host, plain TCP c2s on a free loopback port, carbons, MUC, and MAM
on or off), and runs the Erlang VM directly as a child of this process, the
way Debian's `ejabberdctl foreground` does but with the run's own spool and
log directories and without Erlang distribution (no node name, no epmd, no
cookie), so it cannot meet a system ejabberd or any other Erlang node.
`register_accounts()` creates accounts in band (XEP-0077), which the
configuration allows from loopback without the usual per-address delay.
"""

from __future__ import annotations

import glob
import os
import socket
import subprocess
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import trio

from scripts.load import ServerLog, stop_process

from .xmpp import XmppClient, XmppError

ERL = "/usr/bin/erl"
# ejabberd's own .app lies under the multiarch lib directory; its deps (p1_*) are in /usr/lib/erlang/lib.
_APP_GLOB = "/usr/lib/*/ejabberd-*/ebin/ejabberd.app"
_SQLITE_GLOB = "/usr/lib/erlang/lib/p1_sqlite3-*/ebin/sqlite3.app"  # Debian's erlang-p1-sqlite3
DOMAIN = "bench.localhost"
MUC_DOMAIN = f"muc.{DOMAIN}"
PASSWORD = "bench-password"
_READY_TIMEOUT_S = 60.0
_STOP_TIMEOUT_S = 20.0


@dataclass(frozen=True, slots=True)
class EjabberdInstall:
    """Where the package put ejabberd: the Erlang library root to run it from, its version, its SQLite driver."""

    erl_libs: str
    version: str
    sqlite: bool  # erlang-p1-sqlite3 is installed: MAM can be kept in SQLite


@dataclass(frozen=True, slots=True)
class XmppTarget:
    """A started ejabberd: where its c2s listens and which process tree is the server."""

    host: str
    port: int
    domain: str
    muc_domain: str
    pid: int  # beam.smp, a child of this process
    archive: str | None  # where MAM keeps its archive ("mnesia", ejabberd's default, or "sqlite"); None: no MAM

    def client(self) -> XmppClient:
        return XmppClient(self.host, self.port, self.domain)

    def jid(self, user: str) -> str:
        return f"{user}@{self.domain}"


def find_ejabberd() -> EjabberdInstall | None:
    """The installed Debian ejabberd, or None when `erl` or the package's files are missing."""
    if not os.access(ERL, os.X_OK):
        return None
    apps = sorted(glob.glob(_APP_GLOB))
    if not apps:
        return None
    app = Path(apps[-1])
    sqlite = bool(glob.glob(_SQLITE_GLOB))
    return EjabberdInstall(str(app.parent.parent.parent), app.parent.parent.name.removeprefix("ejabberd-"), sqlite)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (the kernel's pick for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def config_text(port: int, archive: str | None, sqlite_file: Path, log_level: str = "warning") -> str:
    """ejabberd.yml for the benchmark: `archive` (mnesia or sqlite) turns on MAM for accounts and rooms.

    With sqlite, MAM's rows go to `sqlite_file`, which ejabberd creates with
    the schema it ships (priv/sql/lite.sql); accounts stay in mnesia.

    No shaper, no session cap below the benchmark's devices, a listen
    backlog for connection storms, rooms big enough for the group workload,
    only the owner's presence broadcast in rooms (so 1,000 joins are not a
    million presence stanzas), and no history sent on join.
    """
    mam_module = f"  mod_mam:\n    db_type: {'sql' if archive == 'sqlite' else 'mnesia'}\n    default: always\n" if archive else ""
    sql = f'sql_type: sqlite\nsql_database: "{sqlite_file}"\n' if archive == "sqlite" else ""
    return f"""\
hosts: ["{DOMAIN}"]
loglevel: {log_level}
log_rotate_count: 0
certfiles: []
{sql}listen:
  - port: {port}
    ip: "127.0.0.1"
    module: ejabberd_c2s
    backlog: 4096
    max_stanza_size: 262144
    shaper: none
    starttls: false
    starttls_required: false
auth_method: internal
auth_password_format: plain
registration_timeout: infinity
acl:
  local:
    user_regexp: ""
access_rules:
  register:
    allow: all
shaper_rules:
  max_user_sessions: 64
  c2s_shaper: none
modules:
  mod_register:
    access: register
    ip_access: all
  mod_carboncopy: {{}}
  mod_muc:
    host: "{MUC_DOMAIN}"
    access_create: all
    max_users: 100000
    max_users_presence: 100000
    history_size: 0
    default_room_options:
      mam: {"true" if archive else "false"}
      persistent: false
      max_users: 100000
      presence_broadcast: [moderator]
{mam_module}"""


def _prepare(workdir: Path, spool: Path, port: int, archive: str | None) -> Path:
    """Create the run's directories and write its ejabberd.yml; returns the config's path."""
    workdir.mkdir(parents=True, exist_ok=True)
    spool.mkdir(parents=True, exist_ok=True)
    config = workdir / "ejabberd.yml"
    config.write_text(config_text(port, archive, workdir / "mam.sqlite3"))
    return config


def _environment(install: EjabberdInstall, config: Path, log: Path, workdir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        EJABBERD_CONFIG_PATH=str(config),
        EJABBERD_LOG_PATH=str(log),
        ERL_LIBS=install.erl_libs,
        ERL_MAX_PORTS="65536",  # one port per socket: the idle workload holds 10,000
        ERL_MAX_ETS_TABLES="1400",  # as Debian's ejabberdctl.cfg
        ERL_CRASH_DUMP_BYTES="0",
        HOME=str(workdir),
    )
    return env


@asynccontextmanager
async def ejabberd_server(
    install: EjabberdInstall, workdir: Path, spool: Path, archive: str | None, erl_flags: Sequence[str] = ()
) -> AsyncIterator[tuple[XmppTarget, ServerLog]]:
    """Run ejabberd with its own config in `workdir` and mnesia in `spool` until the block ends.

    Ready when its c2s port answers a stream with features (at most 60 s,
    else RuntimeError with its log's tail). On exit: SIGTERM (the VM's
    orderly stop), then SIGKILL after 20 s; its log is scanned for errors.
    """
    port = free_port()
    config = _prepare(workdir, spool, port, archive)
    log = ServerLog(workdir / "ejabberd.log")
    command = [ERL, "-noinput", "+K", "true", "+P", "250000", *erl_flags, "-mnesia", "dir", f'"{spool}"', "-s", "ejabberd"]
    with (workdir / "console.log").open("wb") as console:
        process = await trio.lowlevel.open_process(
            command, stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT,
            cwd=spool, env=_environment(install, config, log.path, workdir),
        )  # fmt: skip
    target = XmppTarget("127.0.0.1", port, DOMAIN, MUC_DOMAIN, process.pid, archive)
    try:
        await _wait_ready(target, process, workdir)
        yield target, log
    finally:
        with trio.CancelScope(shield=True):
            await stop_process(process, _STOP_TIMEOUT_S)
        if log.path.exists():
            _scan_erlang_log(log)


async def _wait_ready(target: XmppTarget, process: trio.Process, workdir: Path) -> None:
    with trio.move_on_after(_READY_TIMEOUT_S):
        while process.returncode is None:
            client = target.client()
            try:
                with trio.fail_after(5):
                    await client.connect()
                return
            except (OSError, XmppError, trio.TooSlowError):
                await trio.sleep(0.2)
            finally:
                await client.close()
    tail = (workdir / "console.log").read_text(errors="replace")[-2000:]
    raise RuntimeError(f"ejabberd did not start (exit status {process.returncode}); its console ends:\n{tail}")


def _scan_erlang_log(log: ServerLog) -> None:
    """Count ejabberd's `[warning]` and `[error]`/`[critical]` lines, keeping a few of each."""
    kept = 0
    for line in log.path.read_text(errors="replace").splitlines():
        if "[error]" in line or "[critical]" in line:
            log.errors += 1
        elif "[warning]" in line:
            # mod_mam names its own backend's 2 GB limit at every start: not a fault of the run
            if "Mnesia backend for mod_mam is not recommended" in line:
                continue
            log.warnings += 1
        else:
            continue
        if kept < 6:
            kept += 1
            log.samples.append(line[:300])


async def register_accounts(target: XmppTarget, users: Sequence[str], concurrency: int, timeout_s: float) -> list[str]:
    """Create each of `users` (password PASSWORD) in band; an existing account counts as done.

    At most `concurrency` streams at a time, each within `timeout_s`.
    Returns one line per account that could not be created.
    """
    failures: list[str] = []
    limiter = trio.CapacityLimiter(concurrency)

    async def one(user: str) -> None:
        async with limiter:
            client = target.client()
            try:
                with trio.fail_after(timeout_s):
                    await client.connect()
                    await client.register(user, PASSWORD)
            except (OSError, XmppError, trio.TooSlowError) as exc:
                failures.append(f"register {user}: {type(exc).__name__}: {exc}"[:200])
            finally:
                await client.close()

    async with trio.open_nursery() as nursery:
        for user in users:
            nursery.start_soon(one, user)
    return failures
