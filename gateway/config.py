"""Server configuration: one frozen dataclass with every limit named and in its unit.

Every field is a setting reachable from a TOML file, a HUBBUB_* variable and
a flag (gateway/settings.py); a new field needs its line in settings.HELP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from actors.account.policy import LoginPolicy


@dataclass(frozen=True, slots=True)
class Config:
    host: str = "127.0.0.1"
    port: int = 0
    admin_host: str = "127.0.0.1"
    admin_port: int | None = 0  # None: no admin listener
    data_dir: Path = Path("data")
    store_url: str | None = None  # a postgresql:// URL: state lives there, not in data_dir/hubbub.sqlite3
    auth_secret: str = ""
    admin_token: str = ""
    auth_jwks: str | None = None  # a JWKS URL or file: tokens signed by the application backend's keys
    auth_issuer: str | None = None  # required `iss` claim, if set
    auth_audience: str | None = None  # required `aud` claim, if set
    tls_cert: Path | None = None  # PEM certificate chain: with tls_key, WebSocket is served as wss://
    tls_key: Path | None = None
    policy: LoginPolicy = field(default_factory=lambda: LoginPolicy.preset("single"))
    node: str = "local"
    workers: int | None = None  # `hubbub serve` runs this many node processes behind one port (gateway/workers.py)
    reuse_port: bool = False  # share the WebSocket port with other processes (SO_REUSEPORT), as workers do
    bus_url: str | None = None  # a redis:// URL: nodes with the same store_url and bus_url form one cluster
    bus_lease_s: float = 10.0  # a node that cannot renew its membership lease this long stops
    # comma-separated: listen only once this node's view of the cluster holds these nodes too (the workers of --workers)
    wait_for_nodes: str | None = None

    # framing and abuse limits (PROTOCOL.md §12)
    max_frame_bytes: int = 64 * 1024
    rate_per_s: float = 100.0
    rate_burst: int = 200
    login_timeout_s: float = 10.0

    # liveness and backpressure
    max_connections: int = 100_000  # open WebSocket connections (about 40 KiB each); more get HTTP 503
    outbound_queue: int = 512  # frames queued for one device before it counts as slow
    outbound_queue_bytes: int = 4 * 1024 * 1024  # bytes of frames queued for one device before it counts as slow
    ping_interval_s: float = 20.0
    pong_timeout_s: float = 20.0
    close_timeout_s: float = 2.0
    token_warning_s: float = 30.0

    # groups: every message fans out to every member, so a group's size is a cost bound
    max_group_members: int = 10_000
    # a group's actor holds its live threads (with their members) and a dismiss destroys each of them
    max_group_threads: int = 1_000

    # devices: every login tells each online device of the account, so their number is a cost bound
    max_devices_per_account: int = 64  # online at once, whatever the login policy allows; more: error 2004

    # messages: one bucket per account, shared by all its devices
    account_messages_per_s: float = 100.0  # sendMessage per account, all its devices together; more: error 1005
    account_messages_burst: int = 200

    # rooms: a room and its destroy delay (up to 3 h) cost memory whoever is in it
    max_rooms_per_user: int = 100  # live rooms one user created; more: error 1003 on createRoom/enterRoom
    max_lingering_rooms_per_user: int = 20  # of those, empty ones waiting for their destroy delay; more: error 1003

    # actors
    ask_timeout_s: float = 10.0
    actor_idle_s: float = 300.0
    actor_inbox: int = 256

    # durable account stream retention (resume beyond it gets resumeGap)
    stream_keep_count: int = 10_000
    stream_keep_s: float = 30 * 24 * 3600.0  # PROTOCOL.md §4: 10,000 events and 30 days

    shutdown_grace_s: float = 3.0
    log_level: str = "INFO"
    log_format: str = "text"  # or "json": one object per line
    test_hooks: bool = False  # enables the crash-injection admin route

    # calls to the application backend (PROTOCOL.md §17, gateway/webhooks)
    webhook_url: str | None = None  # http(s) endpoint of the backend; None: no webhooks and no before-send
    webhook_secret: str = ""  # signs every call (X-Hubbub-Signature: sha256=HMAC of the body)
    webhook_events: str = "userOnline,userOffline,messageSent,offlinePush"  # which notifications, comma-separated
    webhook_timeout_s: float = 5.0  # one notification call, connect to answer
    webhook_max_in_flight: int = 8  # notification calls open at once (one per account at a time)
    webhook_queue_max: int = 100_000  # calls waiting on disk at most; more are dropped, counted and logged
    webhook_retry_s: float = 24 * 3600.0  # a failing call is retried with back-off this long, then set aside
    webhook_claim_s: float = 30.0  # a node holds a call it makes this long; a dead node's calls go out from another after it
    push_preview: bool = True  # offlinePush carries the start of a text message
    before_send: bool = False  # call beforeSendMessage before a peer or group message is stored
    before_send_timeout_s: float = 2.0
    before_send_fail: str = "open"  # when the callback fails or times out: "open" sends, "closed" rejects (6004)

    # the browser app on the admin listener (gateway/webapp.py)
    web_app_dir: Path | None = None  # the built app (web/app/dist); None: no app
    demo_signin: bool = False  # POST /app/demo-signin mints tokens for anyone: loopback only
