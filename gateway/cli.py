"""`hubbub` command line: serve, token, backup."""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import secrets
import signal
import sqlite3
import ssl
import sys
from dataclasses import replace
from datetime import datetime, UTC
from pathlib import Path
from typing import NoReturn

import trio

from actors.account.policy import LoginPolicy
from actors.store.sqlite import backup_sqlite_store

from actors.errors import StorageUnavailable
from actors.store.engine import is_postgres_url

from .auth import mint_token, parse_ttl
from .config import Config
from .datadir import DataDirInUse, make_data_dir
from .server import serve, tls_context
from .webapp import APP_PATH, demo_signin_refusal

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


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: time (ISO 8601, UTC), level, logger, message, and the traceback if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def load_policy(spec: str) -> LoginPolicy:
    """A preset name, or a path to a JSON file with the §3 field names."""
    if spec in ("single", "dual", "multi", "easemob"):
        return LoginPolicy.preset(spec)
    path = Path(spec)
    if not path.is_file():
        raise ValueError(f"--policy: {spec!r} is neither a preset (single, dual, multi, easemob) nor a file")
    return LoginPolicy.from_json(json.loads(path.read_text()))


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage mistake told in one line (the usage text is one --help away)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="hubbub",
        description="Self-hosted instant-messaging server: CBOR over WebSocket, multi-device login.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("serve", help="run the server (on the embedded SQLite store, or on PostgreSQL with --store)")
    run.add_argument("--host", default="127.0.0.1", help="WebSocket listen address (default %(default)s)")
    run.add_argument("--port", type=int, default=8765, help="WebSocket port; 0 picks a free one (default %(default)s)")
    run.add_argument("--admin-host", default="127.0.0.1", help="admin API listen address (default %(default)s)")
    run.add_argument("--admin-port", type=int, default=8766, help="admin API port; 0 picks a free one (default %(default)s)")
    run.add_argument("--data-dir", type=Path, default=Path("data"), help="where the SQLite store and secrets live (default %(default)s)")
    run.add_argument("--store", metavar="URL", default=os.environ.get("HUBBUB_STORE"), help="a postgresql://user:password@host/database URL: keep state in PostgreSQL instead of DATA_DIR/hubbub.sqlite3 (env HUBBUB_STORE; default: SQLite)")
    run.add_argument("--auth-secret", default=os.environ.get("HUBBUB_AUTH_SECRET"), help="JWT HS256 secret (env HUBBUB_AUTH_SECRET; default: DATA_DIR/auth-secret, generated)")
    run.add_argument("--admin-token", default=os.environ.get("HUBBUB_ADMIN_TOKEN"), help="admin API bearer token (env HUBBUB_ADMIN_TOKEN; default: DATA_DIR/admin-token, generated)")
    run.add_argument("--tls-cert", type=Path, help="PEM certificate chain: serve WebSocket as wss://")
    run.add_argument("--tls-key", type=Path, help="PEM private key of --tls-cert (default: in the same file)")
    run.add_argument("--policy", default="single", help="login policy: single, dual, multi, easemob, or a JSON file (default %(default)s)")
    run.add_argument("--max-frame-bytes", type=int, default=64 * 1024, help="largest accepted frame (default %(default)s)")
    run.add_argument("--rate", type=float, default=100.0, help="requests per second per connection (default %(default)s)")
    run.add_argument("--burst", type=int, default=200, help="request burst per connection (default %(default)s)")
    run.add_argument("--max-connections", type=int, default=100_000, help="open connections at most; more get HTTP 503 (default %(default)s)")
    run.add_argument("--max-group-members", type=int, default=10_000, help="members one group may have (default %(default)s)")
    run.add_argument("--web-app", type=Path, help="the built browser app to serve on the admin listener at /app/ (default: web/app/dist when built)")
    run.add_argument("--demo-signin", action="store_true", help="let the app mint login tokens for any userID: for a local trial, loopback --admin-host only")
    run.add_argument("--test-hooks", action="store_true", help="enable test-only admin routes (crash injection)")
    run.add_argument("--log-level", default="INFO", type=str.upper, choices=("DEBUG", "INFO", "WARNING", "ERROR"), help="DEBUG, INFO, WARNING, ERROR (default %(default)s)")
    run.add_argument("--log-format", choices=("text", "json"), default="text", help="text lines, or one JSON object per line (default %(default)s)")

    token = commands.add_parser("token", help="mint a login token for a user")
    token.add_argument("user_id", metavar="USER_ID")
    token.add_argument("--ttl", default="1h", help="lifetime: 90s, 15m, 1h, 7d (default %(default)s)")
    token.add_argument("--auth-secret", default=os.environ.get("HUBBUB_AUTH_SECRET"), help="secret (env HUBBUB_AUTH_SECRET; default: DATA_DIR/auth-secret)")
    token.add_argument("--data-dir", type=Path, default=Path("data"), help="where `serve` keeps its secret (default %(default)s)")

    backup = commands.add_parser("backup", help="copy the store to a file, consistent while the server runs")
    backup.add_argument("destination", metavar="FILE", type=Path, help="where the copy goes (replaced if it exists)")
    backup.add_argument("--data-dir", type=Path, default=Path("data"), help="the server's data directory (default %(default)s)")
    return parser


def _serve(args: argparse.Namespace) -> int:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter() if args.log_format == "json" else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logging.basicConfig(level=args.log_level.upper(), handlers=[handler])
    logging.captureWarnings(True)  # library warnings go out in the same format
    try:
        policy = load_policy(args.policy)
    except ValueError as exc:
        print(f"hubbub: {exc}", file=sys.stderr)
        return 2
    if args.tls_key is not None and args.tls_cert is None:
        print("hubbub: --tls-key needs --tls-cert", file=sys.stderr)
        return 2
    if args.tls_cert is not None:
        try:
            tls_context(args.tls_cert, args.tls_key)
        except (OSError, ssl.SSLError) as exc:
            print(f"hubbub: --tls-cert/--tls-key unusable: {exc}", file=sys.stderr)
            return 2
    web_app_dir = args.web_app
    if web_app_dir is not None and not (web_app_dir / "index.html").is_file():
        print(f"hubbub: --web-app {web_app_dir}: no index.html there (build the app with `make web`)", file=sys.stderr)
        return 2
    if web_app_dir is None and (_BUILT_APP / "index.html").is_file():
        web_app_dir = _BUILT_APP
    # checked before anything is written to the data directory
    refusal = demo_signin_refusal(replace(Config(), admin_host=args.admin_host, admin_port=args.admin_port, demo_signin=args.demo_signin))
    if refusal is not None:
        print(f"hubbub: {refusal}", file=sys.stderr)
        return 2
    if args.store and not is_postgres_url(args.store):
        print("hubbub: --store takes a postgresql:// URL (omit it for SQLite in --data-dir)", file=sys.stderr)
        return 2
    make_data_dir(args.data_dir)
    secret = args.auth_secret or _stored_secret(args.data_dir, _SECRET_FILE, create=True)
    admin_token = args.admin_token or _stored_secret(args.data_dir, _ADMIN_TOKEN_FILE, create=True)
    assert secret and admin_token
    config = replace(
        Config(),
        host=args.host,
        port=args.port,
        admin_host=args.admin_host,
        admin_port=args.admin_port,
        data_dir=args.data_dir,
        store_url=args.store or None,
        auth_secret=secret,
        admin_token=admin_token,
        policy=policy,
        max_frame_bytes=args.max_frame_bytes,
        rate_per_s=args.rate,
        rate_burst=args.burst,
        max_group_members=args.max_group_members,
        max_connections=args.max_connections,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        test_hooks=args.test_hooks,
        web_app_dir=web_app_dir,
        demo_signin=args.demo_signin,
    )
    trio.run(_serve_until_signalled, config)
    return 0


async def _serve_until_signalled(config: Config) -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:
            gateway = await nursery.start(serve, config)
            _tune_gc()
            where = gateway.listening
            print(f"hubbub listening {where.ws_url} admin {where.admin_url}", flush=True)
            if config.web_app_dir is not None and where.admin_url is not None:
                print(f"hubbub web app {where.admin_url}{APP_PATH}", flush=True)
            elif config.web_app_dir is None:
                log.info("no web app: build it with `make web` (or pass --web-app DIR)")
            log.info("mint a login token with `hubbub token USER_ID --data-dir %s`", config.data_dir)
            async for signum in signals:
                log.info("signal %s: shutting down", signal.Signals(signum).name)
                gateway.stop()
                break


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
_USER_MISTAKES = (OSError, DataDirInUse, StorageUnavailable)


def main(argv: list[str] | None = None) -> int:
    """Run one `hubbub` command; returns the exit status (2: a user mistake, told in one line)."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            return _serve(args)
        if args.command == "backup":
            return _backup(args)
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
