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

import pytest

from tests.support import exported_metrics

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "maskline.json"
IDENTIFIER = re.compile(r"\bmaskline_[A-Za-z0-9_]+")


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
    exported = exported_metrics(f"sqlite:///{tmp_path / 'maskline.db'}")
    # The scrape is the real thing: the pool gauges of the account are in it.
    assert {"maskline_http_request_duration_seconds_bucket", "maskline_pool_headroom"} <= exported
    assert unknown_metrics(dashboard, exported) == []
    # A name the server does not export is caught by the same check.
    misspelt = json.loads(json.dumps(dashboard).replace("maskline_pool_headroom", "maskline_pool_headrom"))
    assert unknown_metrics(misspelt, exported) == ["Headroom: maskline_pool_headrom"]
