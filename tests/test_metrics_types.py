"""Metrics: correct types, process and platform collectors, build info, no `_created` noise, and a dashboard that reads them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import trio
from prometheus_client.parser import text_string_to_metric_families

from gateway.server import Gateway

from .cluster_servers import nodes_of
from .conftest import ADMIN_TOKEN, Login

DASHBOARD = Path(__file__).resolve().parent.parent / "docs" / "grafana" / "hubbub.json"
_SERIES = re.compile(r"\b((?:hubbub|process|python)_[a-z_]+)")


async def _scrape(server: Gateway) -> str:
    assert server.listening is not None and server.listening.admin_url is not None
    async with httpx.AsyncClient(base_url=server.listening.admin_url, timeout=10) as admin:
        response = await admin.get("/metrics", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert response.status_code == 200
    return response.text


async def test_metric_types_collectors_and_build_info(server: Gateway, login: Login) -> None:
    with trio.fail_after(30):
        a = await login(server, "u1", device="a")
        b = await login(server, "u2", device="b")
        await a.request("sendMessage", toConversationID="u2", conversationType=0, message={"type": 1, "message": "hi"})
        await b.next_event("peerMessageReceived")
        text = await _scrape(server)
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    assert types["hubbub_account_events_total"] == "counter"  # was typed as a gauge
    assert types["hubbub_logins_total"] == "counter" and types["hubbub_connections_open"] == "gauge"
    assert types["hubbub_message_delivery_seconds"] == "histogram"
    assert "_created" not in text
    families = {family.name: family for family in text_string_to_metric_families(text)}
    for standard in ("process_cpu_seconds", "process_resident_memory_bytes", "process_open_fds", "python_info", "python_gc_collections"):
        assert standard in families, standard
    (build,) = families["hubbub_build_info"].samples
    assert build.name == "hubbub_build_info" and build.value == 1
    assert set(build.labels) == {"version", "python", "implementation"} and build.labels["version"]
    logins = 0.0
    for node in nodes_of(server):  # each account counts its logins on its own node (a cluster's: any of three)
        node_families = text_string_to_metric_families(await _scrape(node))
        logins += sum(s.value for f in node_families for s in f.samples if (s.name, s.labels) == ("hubbub_account_events_total", {"what": "logins"}))
    assert logins == 2


async def test_the_grafana_dashboard_reads_only_series_the_server_exports(server: Gateway, login: Login) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    expressions = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    titles = " ".join(panel["title"].lower() for panel in dashboard["panels"])
    for figure in ("connections", "logins", "kicks", "deliveries", "latency", "store writer", "actors"):
        assert figure in titles, figure
    with trio.fail_after(30):
        await login(server, "u1", device="a", platform="iOS")
        text = await _scrape(server)
    # declared families (a labelled counter with no child yet has no sample) and every sample
    exported = set(re.findall(r"^# TYPE (\S+) ", text, re.M)) | {s.name for f in text_string_to_metric_families(text) for s in f.samples}
    for expr in expressions:
        for series in _SERIES.findall(expr):
            family = re.sub(r"_(bucket|count|sum)$", "", series)
            assert series in exported or family in exported, (series, expr)
