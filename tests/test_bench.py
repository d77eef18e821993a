"""`make bench` at small scale (BENCH_SCALE=small), so that the harness never rots: each
benchmark runs the real stack on small numbers and writes its figures. The figures' sizes are
not judged here (bench/ reports them, with their goals): only that each is measured."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.__main__ import BENCHMARKS

ROOT = Path(__file__).resolve().parents[1]
FIGURES = {
    "engine": {"engine_rate", "engine_starts_per_second"},
    "sync": {"sync_10k", "incremental_sync"},
    "quickbooks": {"quickbooks_sync_10k"},
    "fan_out": {"fan_out_5k", "fan_out_5k_planned", "fan_out_5k_planned_split"},
    "webhooks": {"webhook_to_ledger", "webhook_storm"},
    "dashboard": {"dashboard_100k", "invoice_list_100k"},
    "wakeup": {"mass_wakeup"},
    "memory": {"worker_memory"},
}


def test_every_benchmark_is_checked_here():
    assert set(FIGURES) == set(BENCHMARKS)


@pytest.mark.e2e
@pytest.mark.timeout(900)
@pytest.mark.parametrize("name", list(FIGURES))
def test_the_benchmark_measures_its_figures_at_small_scale(name, tmp_path):
    out = tmp_path / "results.json"
    env = {**os.environ, "BENCH_SCALE": "small", "BENCH_OUT": str(out)}
    done = subprocess.run(
        [sys.executable, "-m", "bench", name],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=840,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert FIGURES[name] <= set(figures), sorted(figures)
    for figure, measured in figures.items():
        assert measured["value"] > 0 and math.isfinite(measured["value"]), figure
        assert measured["unit"] and measured["note"], figure
        if measured["baseline"]:
            assert measured["ratio"] == pytest.approx(
                measured["value"] / measured["baseline"], rel=0.01
            ), figure
    assert "every figure (small scale)" in done.stdout
