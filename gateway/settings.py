"""Where each server setting comes from: a TOML file, HUBBUB_* variables, command-line flags.

Every field of `Config` is a setting with three spellings:

    TOML key     port               (the field name; the file is flat)
    environment  HUBBUB_PORT        (HUBBUB_ + the name in capitals)
    flag         --port             (the name with dashes; a few keep older short names)

Precedence, highest first: flag, environment, config file, built-in default.
Values are checked and converted once, here; a bad one raises ConfigError
naming where it came from (`--port`, `HUBBUB_PORT`, `hubbub.toml: port`).
Durations (settings ending in `_s`) take seconds or `90s`, `15m`, `1h`, `30d`.
"""

from __future__ import annotations

import json
import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from actors.account.policy import LoginPolicy

from .config import Config

ENV_PREFIX = "HUBBUB_"
CONFIG_ENV = "HUBBUB_CONFIG"  # the config file, when --config is not given
SECRETS = frozenset({"auth_secret", "admin_token", "store_url", "bus_url"})  # the URLs may hold a password
PRESETS = ("single", "dual", "multi", "easemob")

# One line per setting: `hubbub serve --help`, `config show` and docs/operating.md use it.
HELP: dict[str, str] = {
    "host": "WebSocket listen address",
    "port": "WebSocket port; 0 picks a free one",
    "admin_host": "admin API listen address (keep it on loopback)",
    "admin_port": "admin API port; 0 picks a free one, off: no admin API",
    "data_dir": "where the SQLite store, the lock and generated secrets live",
    "store_url": "a postgresql://user:password@host/database URL: keep state in PostgreSQL instead of DATA_DIR/hubbub.sqlite3",
    "auth_secret": "JWT HS256 secret (default: DATA_DIR/auth-secret, generated)",
    "admin_token": "admin API bearer token (default: DATA_DIR/admin-token, generated)",
    "auth_jwks": "JWKS of the application backend's keys (RS256, ES256, EdDSA): an https:// URL or a file",
    "auth_issuer": "require this `iss` in every token",
    "auth_audience": "require this `aud` in every token",
    "tls_cert": "PEM certificate chain: serve WebSocket as wss:// (reloaded on SIGHUP)",
    "tls_key": "PEM private key of tls_cert (default: in the same file)",
    "policy": "login policy at first start: single, dual, multi, easemob, a JSON file, or a TOML table; PUT /v1/policy replaces it, persisted",
    "node": "this node's name (cluster placement)",
    "workers": "run this many nodes on this machine behind one WebSocket port, named NODE-1 ... NODE-N (needs a PostgreSQL store; more than one needs the cluster bus)",
    "reuse_port": "share the WebSocket port with other hubbub processes (SO_REUSEPORT); set for the workers of --workers",
    "bus_url": "a redis://host:port URL: run as one node of a cluster (needs a postgresql:// store_url and a node name of its own)",
    "bus_lease_s": "a node that cannot renew its membership lease this long stops (devices reconnect elsewhere); its actors move",
    "wait_for_nodes": "comma-separated node names: listen only once this node's view of the cluster holds them too (set for the workers of --workers)",
    "max_frame_bytes": "largest accepted frame, bytes",
    "rate_per_s": "requests per second per connection",
    "rate_burst": "request burst per connection",
    "login_timeout_s": "time from connecting to login",
    "max_connections": "open connections at most; more get HTTP 503",
    "outbound_queue": "frames queued for one device before it counts as slow (close 1013)",
    "outbound_queue_bytes": "bytes of frames queued for one device before it counts as slow (close 1013)",
    "ping_interval_s": "keepalive ping interval (±25%)",
    "pong_timeout_s": "time a pong may take before close 1011",
    "close_timeout_s": "time a close handshake may take",
    "token_warning_s": "tokenWillExpire is sent this long before expiry",
    "max_group_members": "members one group may have",
    "max_group_threads": "live threads one group may have; more: error 1003 on createThread",
    "max_devices_per_account": "online devices per account whatever the login policy allows; more: error 2004",
    "account_messages_per_s": "messages per second per account, all its devices together; more: error 1005",
    "account_messages_burst": "message burst per account, all its devices together",
    "max_rooms_per_user": "live rooms one user may have created; more: error 1003",
    "max_lingering_rooms_per_user": "of those, empty rooms waiting for their destroy delay; more: error 1003",
    "ask_timeout_s": "time an actor has to answer a request (error 9000 after)",
    "actor_idle_s": "an idle actor is retired after this long",
    "actor_inbox": "messages one actor's inbox holds before senders wait",
    "stream_keep_count": "durable events kept per account for resumeFrom",
    "stream_keep_s": "age past which durable events may be dropped (resume beyond: resumeGap)",
    "shutdown_grace_s": "time connections get to close at shutdown",
    "test_hooks": "enable test-only admin routes (crash injection); never in production",
    "web_app_dir": "the built browser app served on the admin listener (web/app/dist); off: none",
    "demo_signin": "POST /app/demo-signin mints tokens for anyone: loopback only",
    "webhook_url": "the application backend's endpoint for notifications and before-send (PROTOCOL.md §17); off: none",
    "webhook_secret": "signs every call to the backend (X-Hubbub-Signature: sha256= HMAC of the body)",
    "webhook_events": "notifications to send, comma-separated: userOnline, userOffline, messageSent, offlinePush",
    "webhook_timeout_s": "time one notification call may take",
    "webhook_max_in_flight": "notification calls open at once (one per account at a time)",
    "webhook_queue_max": "notification calls waiting on disk at most; more are dropped, counted and logged",
    "webhook_retry_s": "a failing notification is retried with back-off this long, then set aside",
    "webhook_claim_s": "a node holds each notification call it makes this long (more than webhook_timeout_s); a dead node's calls go out from another node after it",
    "push_preview": "offlinePush carries the start of a text message",
    "before_send": "ask the backend (beforeSendMessage) before a peer or group message is stored",
    "before_send_timeout_s": "time the before-send call may take",
    "before_send_fail": "when before-send fails or times out: open sends the message, closed refuses it (6004)",
    "log_level": "DEBUG, INFO, WARNING or ERROR",
    "log_format": "text lines, or json: one object per line",
}

# Older flag spellings kept beside the generated ones.
FLAG_ALIASES: dict[str, tuple[str, ...]] = {
    "rate_per_s": ("--rate",),
    "rate_burst": ("--burst",),
    "web_app_dir": ("--web-app",),
    "store_url": ("--store",),
    "bus_url": ("--bus",),
}
# Older environment names, read when the regular one is not set.
ENV_ALIASES: dict[str, str] = {"store_url": "HUBBUB_STORE", "bus_url": "HUBBUB_BUS"}
CHOICES: dict[str, tuple[str, ...]] = {
    "log_level": ("DEBUG", "INFO", "WARNING", "ERROR"),
    "log_format": ("text", "json"),
    "before_send_fail": ("open", "closed"),
}
_PORTS = frozenset({"port", "admin_port"})
_URLS = frozenset({"store_url", "bus_url"})  # secret, yet off by default rather than generated
_OFF = ("off", "none", "")


class ConfigError(Exception):
    """A setting that cannot be used; the message names where it came from."""


@dataclass(frozen=True, slots=True)
class Setting:
    """One Config field and how it is spelled and typed."""

    name: str
    kind: str  # the field's annotation: "int", "float", "str", "bool", "Path", "Path | None", ...
    default: object

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def flags(self) -> tuple[str, ...]:
        return (self.flag, *FLAG_ALIASES.get(self.name, ()))

    @property
    def help(self) -> str:
        return HELP[self.name]


def settings() -> list[Setting]:
    """Every setting, in Config's field order."""
    defaults = Config()
    return [Setting(f.name, str(f.type), getattr(defaults, f.name)) for f in fields(Config)]


def parse_duration(text: str) -> float:
    """'90', '90s', '15m', '1h', '30d' -> seconds. Raises ValueError."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = text.strip().lower()
    scale = units.get(text[-1:])
    value = float(text[:-1] if scale else text) * (scale or 1)
    if not math.isfinite(value):
        raise ValueError("not a finite duration")
    return value


def convert(setting: Setting, raw: object, where: str) -> object:
    """`raw` (from TOML, or text from a flag or the environment) as the setting's type.

    Raises ConfigError naming `where`.
    """
    try:
        value = _convert(setting, raw)
    except (ValueError, TypeError, OSError) as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return value


def _convert(setting: Setting, raw: object) -> object:
    kind = setting.kind
    optional = kind.endswith("| None")
    base = kind.removesuffix("| None").strip()
    if optional and (raw is False or (isinstance(raw, str) and raw.strip().lower() in _OFF)):
        return None
    if setting.name == "policy":
        return _policy(raw)
    if base == "bool":
        return _bool(raw)
    if base == "str":
        if not isinstance(raw, str):
            raise TypeError(f"expected text, got {_type_name(raw)}")
        if setting.name in CHOICES:
            raw = raw.upper() if setting.name == "log_level" else raw.lower()
            if raw not in CHOICES[setting.name]:
                raise ValueError(f"{raw!r} is not one of {', '.join(CHOICES[setting.name])}")
        return raw
    if base == "Path":
        if not isinstance(raw, str) or not raw:
            raise TypeError(f"expected a path, got {_type_name(raw)}")
        return Path(raw)
    if base == "int":
        number = _int(raw)
        if setting.name in _PORTS:
            if not 0 <= number <= 65535:
                raise ValueError(f"{number} is not a port (0-65535)")
        elif number <= 0:
            raise ValueError(f"must be positive, got {number}")
        return number
    if base == "float":
        seconds = _float(raw, duration=setting.name.endswith("_s"))
        if seconds <= 0:
            raise ValueError(f"must be positive, got {raw!r}")
        return seconds
    raise TypeError(f"setting {setting.name} has a type this loader does not know: {kind}")


def _type_name(raw: object) -> str:
    return {bool: "true/false", int: "a number", float: "a number", str: "text", dict: "a table", list: "a list"}.get(type(raw), type(raw).__name__)


def _bool(raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if isinstance(raw, str) and raw.strip().lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {raw!r}")


def _int(raw: object) -> int:
    if isinstance(raw, bool):
        raise TypeError("expected a whole number, got true/false")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str):
        try:
            return int(raw.strip().replace("_", ""))
        except ValueError:
            raise ValueError(f"expected a whole number, got {raw!r}") from None
    raise TypeError(f"expected a whole number, got {_type_name(raw)}")


def _float(raw: object, *, duration: bool) -> float:
    if isinstance(raw, bool):
        raise TypeError("expected a number, got true/false")
    if isinstance(raw, (int, float)):
        value = float(raw)
    elif isinstance(raw, str):
        try:
            value = parse_duration(raw) if duration else float(raw)
        except ValueError:
            hint = " (seconds, or 90s, 15m, 1h, 30d)" if duration else ""
            raise ValueError(f"expected a number{hint}, got {raw!r}") from None
    else:
        raise TypeError(f"expected a number, got {_type_name(raw)}")
    if not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {raw!r}")
    return value


def _policy(raw: object) -> LoginPolicy:
    """A preset name, a path to a JSON file with the §3 field names, or (TOML) a table of them."""
    if isinstance(raw, Mapping):
        return LoginPolicy.from_json(dict(raw))
    if not isinstance(raw, str):
        raise TypeError(f"expected a preset name, a file or a table, got {_type_name(raw)}")
    if raw in PRESETS:
        return LoginPolicy.preset(raw)
    path = Path(raw)
    if not path.is_file():
        raise ValueError(f"{raw!r} is neither a preset ({', '.join(PRESETS)}) nor a file")
    try:
        document = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{raw}: not JSON ({exc.msg}, line {exc.lineno})") from None
    return LoginPolicy.from_json(document)


def read_file(path: Path) -> dict[str, Any]:
    """The settings of a TOML config file. Raises ConfigError for a missing, unreadable or invalid file."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"config file {path}: {exc.strerror or exc}") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: not valid TOML: {exc}") from None
    known = {s.name for s in settings()}
    for key in document:
        if key not in known:
            raise ConfigError(f"config file {path}: unknown setting {key!r} (see `hubbub config show`)")
    return document


@dataclass(frozen=True, slots=True)
class Effective:
    """The config in force and where each setting came from ("default", "file", "env", "flag")."""

    config: Config
    sources: dict[str, str]


def resolve(
    file: Path | None, environ: Mapping[str, str], flags: Mapping[str, str], *, defaults: Mapping[str, object] | None = None
) -> Effective:
    """Merge defaults, the config file, HUBBUB_* variables and flags (highest last).

    `flags` holds the flags given, by setting name, as text; `defaults`
    replaces some of Config's defaults. `file` None means HUBBUB_CONFIG if
    set, else no file. Raises ConfigError.
    """
    if file is None and environ.get(CONFIG_ENV):
        file = Path(environ[CONFIG_ENV])
    document = read_file(file) if file is not None else {}
    values: dict[str, Any] = dict(defaults or {})
    sources: dict[str, str] = {}
    for setting in settings():
        sources[setting.name] = "default"
        if setting.name in document:
            values[setting.name] = convert(setting, document[setting.name], f"config file {file}: {setting.name}")
            sources[setting.name] = "file"
        for env in (ENV_ALIASES.get(setting.name), setting.env):  # the regular name wins over the older one
            if env is not None and environ.get(env) is not None:
                values[setting.name] = convert(setting, environ[env], env)
                sources[setting.name] = "env"
        if setting.name in flags:
            values[setting.name] = convert(setting, flags[setting.name], setting.flag)
            sources[setting.name] = "flag"
    config = replace(Config(), **values)
    if config.tls_key is not None and config.tls_cert is None:
        raise ConfigError("tls_key (--tls-key) needs tls_cert (--tls-cert)")
    return Effective(config, sources)


def environment() -> dict[str, str]:
    """This process's HUBBUB_* variables."""
    return {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIX)}


def show(effective: Effective) -> str:
    """The effective config as a TOML document (secrets masked), each line commented with its source."""
    lines = ["# hubbub effective configuration: `hubbub serve --config FILE` reads this format"]
    for setting in settings():
        value = getattr(effective.config, setting.name)
        source = effective.sources[setting.name]
        if setting.name in SECRETS:
            shown = '"********"' if value else '""'
            note = "set" if value else ("off" if setting.name in _URLS else "generated in DATA_DIR when empty")
            lines.append(f"{setting.name} = {shown}  # {source}; {note}")
            continue
        if value is None:
            lines.append(f'{setting.name} = "off"  # {source}')
            continue
        if isinstance(value, LoginPolicy):
            value = {k: v for k, v in value.to_json().items() if v is not None}
        lines.append(f"{setting.name} = {_toml(value)}  # {source}")
    return "\n".join(lines) + "\n"


def _toml(value: object) -> str:
    """A TOML value for a setting (text, number, bool, path, or a table of them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (str, Path)):
        return json.dumps(str(value))  # a JSON string is a TOML basic string
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {type(value).__name__}")
