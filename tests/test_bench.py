"""The benchmark program runs: `python -m bench --quick` on two cheap scenarios prints the table and writes
the JSON with the expected columns and sane counts. Timings are never asserted."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ["scenario", "measure", "unit", "api_median", "api_p95", "direct_median", "direct_p95", "ratio",
           "couch_requests_per_api_request", "peak_rss_mb", "rss_growth_mb", "goal", "met", "notes"]


def bench(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def test_quick_run_prints_the_table_and_writes_the_json(tmp_path):
    output, chart = tmp_path / "results.json", tmp_path / "chart.svg"
    result = bench("--quick", "--only", "message_get,vmboxes", "--output", str(output), "--chart", str(chart))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "| scenario | measure | unit | API p50 |" in result.stdout
    document = json.loads(output.read_text())
    assert document["columns"] == COLUMNS
    assert document["meta"]["quick"] is True
    assert document["meta"]["machine"]["nproc"] >= 1
    rows = document["rows"]
    assert [row["scenario"] for row in rows] == ["message_get", "message_get", "vmboxes", "vmboxes"]
    floor = rows.pop(1)  # the bare relay of the same GET: a ratio, no goal, no service memory
    assert "bare aiohttp relay" in floor["measure"] and floor["goal"] is None
    assert isinstance(floor["ratio"], float) and floor["ratio"] > 0 and floor["extra"]["samples"] == 30
    for row in rows:
        assert set(COLUMNS) <= set(row), row
        assert row["unit"] == "ms"
        for name in ("api_median", "api_p95", "direct_median", "direct_p95", "ratio",
                     "couch_requests_per_api_request", "peak_rss_mb", "rss_growth_mb"):
            assert isinstance(row[name], (int, float)) and row[name] >= 0, (name, row)
        assert row["couch_requests_per_api_request"] >= 1  # every API request here reads CouchDB
        assert row["met"] in (True, False, None)
    assert all(goal["met"] in (True, False) for goal in document["goals"])
    assert {goal["scenario"] for goal in document["goals"]} == {"message_get", "vmboxes"}
    assert rows[0]["goal_ratio"] == 1.3
    if importlib.util.find_spec("matplotlib") is not None:  # the `bench` extra
        assert chart.read_text().lstrip().startswith("<?xml"), chart.read_text()[:200]


def test_unknown_target_is_refused():
    result = bench("--target", "mongodb", timeout=60)
    assert result.returncode == 2
    assert "--target must be one of pouchdb, couchdb, cluster or an http(s) URL" in result.stderr


def test_unknown_scenario_is_refused():
    result = bench("--only", "no_such_scenario", timeout=60)
    assert result.returncode == 2
    assert "unknown scenario no_such_scenario" in result.stderr
