"""`hubbub` command line: serve, config check/show, token, backup."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import re
import secrets
import signal
import sqlite3
import ssl
import sys
from dataclasses import replace
from importlib import metadata
from pathlib import Path
from typing import NoReturn

import trio

from actors.account.policy import LoginPolicy
from actors.store.sqlite import backup_sqlite_store

from actors.errors import StorageUnavailable
from actors.store.engine import is_postgres_url

from .auth import mint_token, parse_ttl
from .config import Config
from .settings import CONFIG_ENV, SECRETS, ConfigError, Effective, environment, resolve, settings, show
from .logs import configure as configure_logging
from .datadir import DataDirInUse, make_data_dir
from .server import Gateway, serve, tls_context
from .cluster import NodesNotSeen
from .workers import WorkerFailedToStart, run_workers, stop_when_supervisor_gone
from .tokens import TokenVerifier
from .webapp import APP_PATH, demo_signin_refusal
from .webhooks import parse_events

log = logging.getLogger("hubbub.cli")

_SECRET_FILE = "auth-secret"
_ADMIN_TOKEN_FILE = "admin-token"
_BUILT_APP = Path(__file__).resolve().parent.parent / "web" / "app" / "dist"  # `make web` builds it


def _stored_secret(data_dir: Path, name: str, *, create: bool) -> str | None:
    """Read DATA_DIR/name, creating it (mode 600) with a random value if asked."""
    path = data_dir / name
    if path.exists():
        return path.read_text().strip()
    if not create:
        return None
    data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(value + "\n")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage mistake told in one line (the usage text is one --help away)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="hubbub",
        description="Self-hosted instant-messaging server: CBOR over WebSocket, multi-device login.",
    )
    parser.add_argument("--version", action="version", version=f"hubbub {hubbub_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("serve", help="run the server (on the embedded SQLite store, or on PostgreSQL with --store)")
    _add_settings(run)

    config = commands.add_parser("config", help="check or show the effective configuration")
    config_commands = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    _add_settings(config_commands.add_parser("check", help="check the settings (file, environment, flags); exit 2 if one is unusable"))
    _add_settings(config_commands.add_parser("show", help="print the effective settings as TOML, each with its source, secrets masked"))

    token = commands.add_parser("token", help="mint a login token for a user")
    token.add_argument("user_id", metavar="USER_ID")
    token.add_argument("--ttl", default="1h", help="lifetime: 90s, 15m, 1h, 7d (default %(default)s)")
    token.add_argument("--auth-secret", default=os.environ.get("HUBBUB_AUTH_SECRET"), help="secret (env HUBBUB_AUTH_SECRET; default: DATA_DIR/auth-secret)")
    token.add_argument("--data-dir", type=Path, default=Path("data"), help="where `serve` keeps its secret (default %(default)s)")

    backup = commands.add_parser("backup", help="copy the store to a file, consistent while the server runs")
    backup.add_argument("destination", metavar="FILE", type=Path, help="where the copy goes (replaced if it exists)")
    backup.add_argument("--data-dir", type=Path, default=Path("data"), help="the server's data directory (default %(default)s)")
    return parser


# `hubbub serve` listens on fixed ports unless told otherwise (Config's 0 suits tests).
_SERVE_DEFAULTS: dict[str, object] = {"port": 8765, "admin_port": 8766}


def hubbub_version() -> str:
    """The installed package's version ("unknown" when run from a tree that is not installed)."""
    try:
        return metadata.version("hubbub")
    except metadata.PackageNotFoundError:
        return "unknown"


def _add_settings(parser: argparse.ArgumentParser) -> None:
    """--config and one flag per setting; a flag not given leaves the setting to the environment, file or default."""
    parser.add_argument("--config", type=Path, default=None, help=f"TOML config file (env {CONFIG_ENV}); HUBBUB_* variables and flags override it")
    defaults = {**{s.name: s.default for s in settings()}, **_SERVE_DEFAULTS}
    for setting in settings():
        default = defaults[setting.name]
        shown = "generated" if setting.name in SECRETS and setting.name not in ("store_url", "bus_url") else ("off" if default is None else default)
        if isinstance(shown, LoginPolicy):
            shown = shown.mode
        help_text = f"{setting.help} (env {setting.env}; default {shown})".replace("%", "%%")
        if setting.kind == "bool":
            parser.add_argument(*setting.flags, dest=setting.name, action="store_const", const="true", default=argparse.SUPPRESS, help=help_text)
        else:
            parser.add_argument(*setting.flags, dest=setting.name, default=argparse.SUPPRESS, metavar=setting.name.upper(), help=help_text)


def _effective(args: argparse.Namespace) -> Effective:
    """The settings of `args` over HUBBUB_* variables, the config file and the defaults; checked. Raises ConfigError."""
    flags = {s.name: getattr(args, s.name) for s in settings() if hasattr(args, s.name)}
    effective = resolve(args.config, environment(), flags, defaults=_SERVE_DEFAULTS)
    config = effective.config
    if config.tls_cert is not None:
        try:
            tls_context(config.tls_cert, config.tls_key)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"--tls-cert/--tls-key unusable: {exc}") from None
    if config.web_app_dir is not None and not (config.web_app_dir / "index.html").is_file():
        raise ConfigError(f"--web-app {config.web_app_dir}: no index.html there (build the app with `make web`)")
    if effective.sources["web_app_dir"] == "default" and (_BUILT_APP / "index.html").is_file():
        config = replace(config, web_app_dir=_BUILT_APP)
    try:
        TokenVerifier(config.auth_secret, jwks=config.auth_jwks, issuer=config.auth_issuer, audience=config.auth_audience)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    refusal = demo_signin_refusal(config)
    if refusal is not None:
        raise ConfigError(refusal)
    if config.store_url is not None and not is_postgres_url(config.store_url):
        raise ConfigError("--store takes a postgresql:// URL (omit it for SQLite in --data-dir)")
    refusal = _cluster_refusal(config)
    if refusal is not None:
        raise ConfigError(refusal)
    refusal = _webhook_refusal(config)
    if refusal is not None:
        raise ConfigError(refusal)
    refusal = _workers_refusal(config)
    if refusal is not None:
        raise ConfigError(refusal)
    return Effective(config, effective.sources)


def _workers_refusal(config: Config) -> str | None:
    """Why `--workers` cannot run with these settings, if it cannot."""
    if config.workers is None:
        return None
    if config.store_url is None:
        return "--workers needs --store postgresql://...: its workers are nodes that share one store"
    if config.workers > 1 and config.bus_url is None:
        # two nodes on one store without the bus would each hold a copy of the same actors
        return "--workers above 1 needs the cluster bus (--bus redis://...): its nodes share their actors through it"
    return None


def _cluster_refusal(config: Config) -> str | None:
    """Why these settings cannot run as a cluster node, or None when they can (or are no node at all)."""
    if config.bus_url is None:
        return "--wait-for-nodes needs the cluster bus (--bus redis://...)" if config.wait_for_nodes else None
    if not config.bus_url.startswith(("redis://", "rediss://", "unix://")):
        return "--bus takes a redis:// URL"
    if config.store_url is None:
        return "--bus needs --store postgresql://...: the nodes of a cluster share one store"
    named = config.workers is not None or config.node != "local"  # workers are named NODE-1 ... NODE-N
    if not named or not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", config.node):
        return "--bus needs --node NAME: a name of its own for this node (letters, digits, _ . -)"
    if config.bus_lease_s <= 0:
        return "--bus-lease-s must be positive"
    return None


def _config(args: argparse.Namespace) -> int:
    effective = _effective(args)
    if args.config_command == "show":
        sys.stdout.write(show(effective))
        return 0
    given = [f"{source} settings" for source in ("file", "env", "flag") if source in effective.sources.values()]
    print(f"hubbub: config OK ({', '.join(given) or 'all defaults'})")
    return 0


def _serve(args: argparse.Namespace) -> int:
    config = _effective(args).config  # checked before anything is written to the data directory
    configure_logging(config.log_level, config.log_format)
    make_data_dir(config.data_dir)
    config = replace(
        config,
        auth_secret=config.auth_secret or _stored_secret(config.data_dir, _SECRET_FILE, create=True) or "",
        admin_token=config.admin_token or _stored_secret(config.data_dir, _ADMIN_TOKEN_FILE, create=True) or "",
    )
    if config.workers is not None:
        return trio.run(run_workers, config, args.argv[args.argv.index("serve") + 1 :])
    lapsed = trio.run(_serve_until_signalled, config)
    if lapsed:
        print(f"hubbub: node {config.node} stopped: its cluster lease lapsed (start it again to rejoin)", file=sys.stderr)
        return 3
    return 0


def _webhook_refusal(config: Config) -> str | None:
    """What is wrong with the webhook settings, if anything (checked before anything is written)."""
    url = config.webhook_url
    if url is not None and not url.startswith(("http://", "https://")):
        return f"--webhook-url {url!r}: must be an http:// or https:// URL"
    if url is None and config.before_send:
        return "--before-send needs --webhook-url"
    if url is not None and not config.webhook_secret:
        return "--webhook-url needs --webhook-secret (or HUBBUB_WEBHOOK_SECRET): every call is signed"
    if url is not None and config.webhook_claim_s <= config.webhook_timeout_s:
        return f"--webhook-claim-s ({config.webhook_claim_s:g}) must be longer than --webhook-timeout-s ({config.webhook_timeout_s:g}): a claim covers the call and the write of its outcome"
    try:
        parse_events(config.webhook_events)
    except ValueError as exc:
        return f"--webhook-events: {exc}"
    return None


async def _serve_until_signalled(config: Config) -> bool:
    """Serve until a signal asks to stop, or the node stops itself; True when its cluster lease lapsed."""
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
        async with trio.open_nursery() as nursery:
            gateway: Gateway = await nursery.start(serve, config)
            nursery.start_soon(_end_when_stopped, gateway, nursery.cancel_scope)
            nursery.start_soon(stop_when_supervisor_gone, gateway.stop)
            _tune_gc()
            where = gateway.listening
            assert where is not None, "serve reports where it listens before it starts"
            print(f"hubbub listening {where.ws_url} admin {where.admin_url}", flush=True)
            if config.web_app_dir is not None and where.admin_url is not None:
                print(f"hubbub web app {where.admin_url}{APP_PATH}", flush=True)
            elif config.web_app_dir is None:
                log.info("no web app: build it with `make web` (or pass --web-app DIR)")
            log.info("mint a login token with `hubbub token USER_ID --data-dir %s`", config.data_dir)
            async for signum in signals:
                if signum == signal.SIGHUP:
                    _reload_tls(gateway)
                    continue
                log.info("signal %s: shutting down", signal.Signals(signum).name)
                gateway.stop()
                break
    return gateway.cluster is not None and gateway.cluster.lapsed


async def _end_when_stopped(gateway: Gateway, scope: trio.CancelScope) -> None:
    """The server stopped by itself (a cluster node whose lease lapsed): stop waiting for signals."""
    await gateway.stopped.wait()
    scope.cancel()


def _reload_tls(gateway: Gateway) -> None:
    """SIGHUP: load the renewed certificate; a bad one is logged and the old one kept."""
    if gateway.config.tls_cert is None:
        log.info("signal SIGHUP: no certificate to reload")
        return
    try:
        gateway.reload_tls()
    except (OSError, ssl.SSLError) as exc:
        log.error("signal SIGHUP: certificate not reloaded, the old one stays in use: %s", exc)
        return
    log.info("signal SIGHUP: certificate reloaded from %s; new connections use it", gateway.config.tls_cert)


def _tune_gc() -> None:
    """Fewer, cheaper collections for a long-running server.

    Profiling the login load (BENCHMARKS.md) put a third of the CPU in full
    collections walking long-lived objects: freeze what start-up made, and
    let the young generation grow before it is collected.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def _token(args: argparse.Namespace) -> int:
    secret = args.auth_secret or _stored_secret(args.data_dir, _SECRET_FILE, create=False)
    if not secret:
        print(f"hubbub: no secret: pass --auth-secret, set HUBBUB_AUTH_SECRET, or run `hubbub serve --data-dir {args.data_dir}` once", file=sys.stderr)
        return 2
    try:
        ttl = parse_ttl(args.ttl)
    except ValueError:
        print(f"hubbub: --ttl {args.ttl!r}: use a positive number of seconds or 90s, 15m, 1h, 7d", file=sys.stderr)
        return 2
    try:
        print(mint_token(secret, args.user_id, ttl))
    except ValueError as exc:
        print(f"hubbub: {exc}", file=sys.stderr)
        return 2
    return 0


def _backup(args: argparse.Namespace) -> int:
    try:
        size = backup_sqlite_store(args.data_dir, args.destination)
    except (OSError, sqlite3.Error) as exc:
        print(f"hubbub: backup of {args.data_dir} failed: {exc}", file=sys.stderr)
        return 2
    print(f"hubbub: backed up {args.data_dir} to {args.destination} ({size} bytes)", file=sys.stderr)
    return 0


# What a user can get wrong (a port in use, an unusable data dir, a bad
# setting): one line and exit code 2, never a traceback.
_USER_MISTAKES = (OSError, ConfigError, DataDirInUse, StorageUnavailable, WorkerFailedToStart, NodesNotSeen)


def main(argv: list[str] | None = None) -> int:
    """Run one `hubbub` command; returns the exit status (2: a user mistake, told in one line)."""
    args = _parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # as given: --workers hands them on to its workers
    try:
        if args.command == "serve":
            return _serve(args)
        if args.command == "backup":
            return _backup(args)
        if args.command == "config":
            return _config(args)
        return _token(args)
    except BaseException as exc:  # inspected, then re-raised unless it is a user mistake
        mistake = user_mistake(exc)
        if mistake is None:
            raise
        print(f"hubbub: {describe(mistake)}", file=sys.stderr)
        return 2


def user_mistake(exc: BaseException) -> BaseException | None:
    """The user mistake `exc` stands for, looking through exception groups; None if it is anything else."""
    if isinstance(exc, BaseExceptionGroup):
        found = [user_mistake(inner) for inner in exc.exceptions]
        if not found or any(inner is None for inner in found):
            return None
        return found[0]
    return exc if isinstance(exc, _USER_MISTAKES) else None


def describe(exc: BaseException) -> str:
    """One line in hubbub's words: the file or address concerned, then what is wrong."""
    if isinstance(exc, OSError) and exc.strerror:
        if exc.filename is None:
            return exc.strerror
        return f"{exc.filename}: {exc.strerror[0].lower()}{exc.strerror[1:]}"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
