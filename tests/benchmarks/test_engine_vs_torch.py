"""benchmarks/engine_vs_torch.py: its FLOP count by hand, and one tiny run of both workers."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "engine_vs_torch.py"
_spec = importlib.util.spec_from_file_location("engine_vs_torch", _PATH)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def test_step_flops_counts_three_matmuls_per_linear():
    # depth 2, width 16, batch 32 on digits: Linears 64x16, 16x16, 16x10; each of x @ W,
    # x.T @ dy and dy @ W.T costs 2 * 32 * fan_in * fan_out.
    assert bench.step_flops(2, 16, 32) == 3 * 2 * 32 * (64 * 16 + 16 * 16 + 16 * 10) == 276480


def test_batch_starts_drop_a_last_batch_of_one_as_train_does():
    assert bench._batch_starts(10, 4) == [0, 4, 8]
    assert bench._batch_starts(9, 4) == [0, 4]  # 8..9 would be one sample: BatchNorm can't train on it


def test_a_tiny_run_reports_consistent_figures(tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "bench.json"
    cmd = [
        sys.executable,
        str(_PATH),
        "--configs",
        "2x16x32",
        "--rounds",
        "1",
        "--epochs",
        "3",
        "--blocks",
        "1",
        "--retries",
        "0",
        "--json",
        str(out),
    ]
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=600)
    (row,) = json.loads(out.read_text())["results"]
    flops = bench.step_flops(2, 16, 32)
    for key in ("engine_s_per_epoch", "torch_s_per_epoch", "step_ms", "torch_step_ms", "matmul_step_ms"):
        assert math.isfinite(row[key]) and row[key] > 0, key
    assert row["ratio"] == pytest.approx(row["engine_s_per_epoch"] / row["torch_s_per_epoch"])
    assert row["step_gflops"] == pytest.approx(flops / row["step_ms"] / 1e6)
    assert row["torch_step_gflops"] == pytest.approx(flops / row["torch_step_ms"] / 1e6)
    assert row["pct_of_matmul"] == pytest.approx(100 * row["matmul_step_ms"] / row["step_ms"])
    assert row["torch_pct_of_matmul"] == pytest.approx(100 * row["matmul_step_ms"] / row["torch_step_ms"])
    # both sides learnt the task: well above chance (0.1) after three epochs
    assert row["val_acc_engine"] > 0.3 and row["val_acc_torch"] > 0.3  # 3x chance on 1079 images
