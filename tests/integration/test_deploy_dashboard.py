"""``deploy/grafana/maskline.json`` draws only metrics the server really exports.

The dashboard is checked against a live scrape of ``/metrics`` from a real server with an account,
numbers and sessions, so that a metric renamed in the code, or misspelt in the dashboard, fails
here instead of drawing an empty panel in production.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support import FakeClock, ServerThread, fresh_number

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "maskline.json"
IDENTIFIER = re.compile(r"\bmaskline_[A-Za-z0-9_]+")


def exported_names(exposition: str) -> set[str]:
    """Every sample name an exposition offers, whether or not the family has samples yet.

    A labelled counter nothing has counted yet has a family and no samples, so the names follow
    from each family's type: a counter ``X`` is sampled as ``X_total``, a histogram ``X`` as
    ``X_bucket``, ``X_sum`` and ``X_count``, a gauge ``X`` as ``X``.
    """
    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_sum", "_count", "_created"),
        "summary": ("", "_sum", "_count", "_created"),
    }
    names: set[str] = set()
    for family in text_string_to_metric_families(exposition):
        names.update(family.name + suffix for suffix in suffixes.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """The dashboard's panels that draw something (rows only group them), nested ones included."""
    found = []
    for panel in dashboard["panels"]:
        if panel.get("type") == "row":
            found.extend(panels(panel))
        else:
            found.append(panel)
    return found


def unknown_metrics(dashboard: dict[str, Any], exported: set[str]) -> list[str]:
    """``title: name`` for each ``maskline_`` name the dashboard queries and the server lacks.

    >>> unknown_metrics(
    ...     {"panels": [{"title": "Made up", "targets": [{"expr": "rate(maskline_made_up_total[5m])"}]}],
    ...      "templating": {"list": []}},
    ...     {"maskline_http_requests_total"},
    ... )
    ['Made up: maskline_made_up_total']
    """
    missing = []
    for panel in panels(dashboard):
        for target in panel["targets"]:
            missing += [
                f"{panel['title']}: {name}"
                for name in IDENTIFIER.findall(target["expr"])
                if name not in exported
            ]
    for variable in dashboard["templating"]["list"]:
        query = variable.get("query")
        text = query.get("query", "") if isinstance(query, dict) else str(query or "")
        missing += [
            f"${variable['name']}: {name}" for name in IDENTIFIER.findall(text) if name not in exported
        ]
    return missing


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


def test_the_dashboard_has_the_shape_grafana_imports(dashboard: dict[str, Any]) -> None:
    assert dashboard["schemaVersion"] >= 36 and dashboard["title"] and dashboard["uid"]
    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert "label_values(maskline_pool_" in variables["pool"]["query"]["query"]
    drawn = panels(dashboard)
    assert len(drawn) >= 15
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in drawn:
        assert panel["title"] and panel["type"] in {"timeseries", "stat", "gauge", "table"}, panel
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert set(panel["gridPos"]) == {"h", "w", "x", "y"}, panel["title"]
        assert panel["targets"], f"{panel['title']} has no query"
        for target in panel["targets"]:
            assert IDENTIFIER.search(target["expr"]), (panel["title"], target)
            assert target["datasource"]["uid"] == "${datasource}"
    # What the operator asked of it: each figure has a panel.
    every_expr = " ".join(target["expr"] for panel in drawn for target in panel["targets"])
    for needed in (
        'status=~"5.."',
        "histogram_quantile(0.5,",
        "histogram_quantile(0.99,",
        "maskline_pool_headroom",
        "maskline_pool_delta",
        "maskline_edge_refusals_total",
    ):
        assert needed in every_expr, needed


def test_every_metric_the_dashboard_draws_is_exported(dashboard: dict[str, Any], tmp_path: Path) -> None:
    server = ServerThread(f"sqlite:///{tmp_path / 'maskline.db'}", FakeClock()).start()
    try:
        tenant = server.tenant(numbers=3)
        reply = httpx.post(
            f"{server.url}/v1/Account/{tenant.auth_id}/Masking/Session/",
            json={"first_party": fresh_number(), "second_party": fresh_number()},
            auth=(tenant.auth_id, tenant.auth_token),
            trust_env=False,
        )
        assert reply.status_code == 201, reply.text
        scrape = httpx.get(f"{server.url}/metrics", trust_env=False)  # loopback: no token needed
        assert scrape.status_code == 200
    finally:
        server.stop()
    exported = exported_names(scrape.text)
    # The scrape is the real thing: the pool gauges of this account are in it.
    assert f'maskline_pool_headroom{{country="US",pool="{tenant.auth_id}"}}' in scrape.text
    assert {"maskline_http_request_duration_seconds_bucket", "maskline_pool_headroom"} <= exported
    assert unknown_metrics(dashboard, exported) == []
    # A name the server does not export is caught by the same check.
    misspelt = json.loads(json.dumps(dashboard).replace("maskline_pool_headroom", "maskline_pool_headrom"))
    assert unknown_metrics(misspelt, exported) == ["Headroom: maskline_pool_headrom"]
