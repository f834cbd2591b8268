"""The login policy set with PUT /v1/policy survives a restart; the configured policy is only the first value."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import trio

from hubbub_client import ClientError

from .conftest import ADMIN_TOKEN, Login, StartServer

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def test_a_policy_put_over_the_admin_api_is_in_force_after_a_restart(
    start_server: StartServer, login: Login, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    chosen: dict[str, object] = {"mode": "multi", "maxDevices": 2, "onLimit": "rejectNew"}
    with trio.fail_after(60):
        first = await start_server("single", data_dir=data_dir)
        assert first.listening is not None and first.listening.admin_url is not None
        async with httpx.AsyncClient(base_url=first.listening.admin_url, timeout=10) as admin:
            assert (await admin.get("/v1/policy", headers=AUTH)).json()["mode"] == "single"
            put = await admin.put("/v1/policy", headers=AUTH, json=chosen)
            assert put.status_code == 200, put.text
            in_force = put.json()
            assert {k: in_force[k] for k in chosen} == chosen
            refused = await admin.put("/v1/policy", headers=AUTH, content=b'{"mode": "none"}')
            assert refused.status_code == 400  # a bad policy is not saved either
        first.stop()
        await first.stopped.wait()

        # started again with `single` configured: the stored policy wins
        again = await start_server("single", data_dir=data_dir)
        assert again.listening is not None and again.listening.admin_url is not None
        async with httpx.AsyncClient(base_url=again.listening.admin_url, timeout=10) as admin:
            assert (await admin.get("/v1/policy", headers=AUTH)).json() == in_force
        phone = await login(again, "alice", device="phone", platform="iOS")
        await login(again, "alice", device="tablet", platform="Android")  # under `single` this would kick the phone
        assert (await phone.request("queryDevices"))["ok"]
        assert len((await phone.request("queryDevices"))["devices"]) == 2
        with pytest.raises(ClientError):  # the stored onLimit: rejectNew, beyond maxDevices 2
            await login(again, "alice", device="laptop", platform="Mac")


async def test_a_fresh_data_dir_starts_with_the_configured_policy(start_server: StartServer, tmp_path: Path) -> None:
    with trio.fail_after(30):
        server = await start_server("dual", data_dir=tmp_path / "fresh")
        assert server.policy.current.mode == "dual"
        assert await server.store.load_setting("policy") is None
