"""Configuration: TOML file, HUBBUB_* variables and flags, their precedence, `config check` and `config show`."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import trio

from gateway.config import Config
from gateway.settings import HELP, ConfigError, resolve, settings, show
from hubbub_client import open_client

from .cli_support import SECRET, mint, run_hubbub, serve_subprocess


def test_every_setting_is_documented_and_reachable_three_ways(tmp_path: Path) -> None:
    names = [s.name for s in settings()]
    assert set(names) == set(HELP), "every Config field needs one line in settings.HELP"
    assert {"ask_timeout_s", "outbound_queue", "actor_idle_s", "ping_interval_s", "stream_keep_count", "stream_keep_s"} <= set(names)
    # show() of a config is a config file giving the same config back
    changed = resolve(
        None,
        {},
        {"ping_interval_s": "5m", "outbound_queue": "64", "policy": "dual", "admin_port": "off", "tls_cert": "", "test_hooks": "true"},
    )
    file = tmp_path / "shown.toml"
    file.write_text(show(changed))
    again = resolve(file, {}, {})
    assert again.config == changed.config
    assert again.config.ping_interval_s == 300.0 and again.config.admin_port is None and again.config.test_hooks is True
    assert set(again.sources.values()) == {"file"}


def test_precedence_is_flag_then_environment_then_file_then_default(tmp_path: Path) -> None:
    file = tmp_path / "hubbub.toml"
    file.write_text('port = 1000\nask_timeout_s = "30s"\nstream_keep_count = 50\n')
    env = {"HUBBUB_PORT": "2000", "HUBBUB_ASK_TIMEOUT_S": "20"}
    effective = resolve(file, env, {"port": "3000"})
    assert (effective.config.port, effective.sources["port"]) == (3000, "flag")
    assert (effective.config.ask_timeout_s, effective.sources["ask_timeout_s"]) == (20.0, "env")
    assert (effective.config.stream_keep_count, effective.sources["stream_keep_count"]) == (50, "file")
    assert (effective.config.outbound_queue, effective.sources["outbound_queue"]) == (Config().outbound_queue, "default")
    assert resolve(file, env, {}).config.port == 2000
    assert resolve(file, {}, {}).config.port == 1000
    # HUBBUB_CONFIG names the file when --config is not given
    assert resolve(None, {"HUBBUB_CONFIG": str(file)}, {}).config.stream_keep_count == 50


def test_retention_defaults_are_the_contracts() -> None:
    assert Config().stream_keep_count == 10_000
    assert Config().stream_keep_s == 30 * 24 * 3600.0


@pytest.mark.parametrize(
    ("document", "env", "message"),
    [
        ('port = "x"', {}, "config file {file}: port: expected a whole number, got 'x'"),
        ("port = 70000", {}, "config file {file}: port: 70000 is not a port (0-65535)"),
        ("colour = 1", {}, "config file {file}: unknown setting 'colour' (see `hubbub config show`)"),
        ("port = ", {}, "config file {file}: not valid TOML: "),
        ("", {"HUBBUB_STREAM_KEEP_S": "soon"}, "HUBBUB_STREAM_KEEP_S: expected a number (seconds, or 90s, 15m, 1h, 30d), got 'soon'"),
        ("", {"HUBBUB_OUTBOUND_QUEUE": "0"}, "HUBBUB_OUTBOUND_QUEUE: must be positive, got 0"),
        ('policy = "mine"', {}, "config file {file}: policy: 'mine' is neither a preset (single, dual, multi, easemob) nor a file"),
        ('policy = { mode = "multi", maxDevices = "3" }', {}, "config file {file}: policy: "),
        ('log_level = "loud"', {}, "config file {file}: log_level: 'LOUD' is not one of DEBUG, INFO, WARNING, ERROR"),
        ('tls_key = "k.pem"', {}, "tls_key (--tls-key) needs tls_cert (--tls-cert)"),
    ],
)
def test_bad_settings_name_where_they_came_from(tmp_path: Path, document: str, env: dict[str, str], message: str) -> None:
    file = tmp_path / "bad.toml"
    file.write_text(document + "\n")
    with pytest.raises(ConfigError) as refused:
        resolve(file, env, {})
    assert str(refused.value).startswith(message.format(file=file))
    assert "\n" not in str(refused.value)


async def test_config_check_and_show_on_the_command_line(tmp_path: Path) -> None:
    file = tmp_path / "hubbub.toml"
    file.write_text(f'data_dir = "{tmp_path / "d"}"\nadmin_token = "from-the-file"\nactor_idle_s = "10m"\npolicy = {{ mode = "multi", maxDevices = 3 }}\n')
    # each run is bounded on its own (cli_support.ONE_RUN_S)
    checked = await run_hubbub("config", "check", "--config", str(file), "--port", "9999")
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.decode() == "hubbub: config OK (file settings, flag settings)\n"

    shown = await run_hubbub("config", "show", "--config", str(file), "--port", "9999", "--auth-secret", "s3cret-value")
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout.decode()
    assert "s3cret-value" not in text and "from-the-file" not in text  # secrets masked
    document = tomllib.loads(text)
    assert document["port"] == 9999 and document["admin_port"] == 8766 and document["actor_idle_s"] == 600.0
    assert document["policy"]["maxDevices"] == 3 and document["auth_secret"] == "********"
    lines = {line.split(" = ", 1)[0]: line for line in text.splitlines() if " = " in line}
    assert lines["port"].endswith("# flag") and lines["actor_idle_s"].endswith("# file")
    assert lines["ping_interval_s"].endswith("# default")

    bad = await run_hubbub("config", "check", "--config", str(tmp_path / "missing.toml"))
    assert bad.returncode == 2 and bad.stderr.decode().splitlines() == [
        f"hubbub: config file {tmp_path / 'missing.toml'}: No such file or directory"
    ]
    flag = await run_hubbub("serve", "--ping-interval-s", "often")
    assert flag.returncode == 2 and flag.stderr.decode().splitlines() == [
        "hubbub: --ping-interval-s: expected a number (seconds, or 90s, 15m, 1h, 30d), got 'often'"
    ]


async def test_resume_gap_through_a_config_file_end_to_end(tmp_path: Path) -> None:
    file = tmp_path / "hubbub.toml"
    file.write_text('policy = "multi"\nstream_keep_count = 10\nstream_keep_s = "30d"\n')
    with trio.fail_after(120):
        async with serve_subprocess(tmp_path, "--config", str(file)) as server:
            tokens = {u: (await mint(u, "--auth-secret", SECRET)).stdout.decode().strip() for u in ("alice", "bob")}
            async with open_client(server.ws_url) as bob, open_client(server.ws_url) as away:
                await bob.login("bob", tokens["bob"], platform="Mac")
                await away.login("alice", tokens["alice"], platform="iOS", device_id="phone")
                for n in range(40):  # 3 durable events each for alice: 120, well past 10 kept
                    await bob.request("sendMessage", toConversationID="alice", conversationType=0, message={"type": 1, "message": f"m{n}"})
                seen = away.last_seq
            async with open_client(server.ws_url) as back:
                reply = await back.login("alice", tokens["alice"], platform="iOS", device_id="phone", resume_from=1)
                assert reply["resumeGap"] is True and reply["seq"] >= seen
            async with open_client(server.ws_url) as near:
                reply = await near.login("alice", tokens["alice"], platform="Web", resume_from=reply["seq"] - 3)
                assert reply["resumeGap"] is False
