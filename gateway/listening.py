"""Where a started server accepts connections (what the CLI prints and the web app is told)."""

from __future__ import annotations

from dataclasses import dataclass

WS_PATH = "/ws"


@dataclass(frozen=True, slots=True)
class Listening:
    """Where a started server accepts connections."""

    host: str
    ws_port: int
    admin_port: int | None
    tls: bool = False

    @property
    def ws_url(self) -> str:
        return f"{'wss' if self.tls else 'ws'}://{self.host}:{self.ws_port}{WS_PATH}"

    @property
    def admin_url(self) -> str | None:
        return None if self.admin_port is None else f"http://{self.host}:{self.admin_port}"
