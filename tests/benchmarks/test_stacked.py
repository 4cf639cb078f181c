"""benchmarks/stacked.py: one tiny run reports consistent ratios from sides that trained the same members."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "stacked.py"


def test_a_tiny_run_reports_consistent_ratios(tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "stacked.json"
    cmd = [
        sys.executable,
        str(_PATH),
        "--widths",
        "16",
        "--k",
        "2",
        "--epochs",
        "2",
        "--rounds",
        "2",
        "--json",
        str(out),
    ]
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=600)
    (row,) = json.loads(out.read_text())["results"]
    s = row["seconds"]
    assert set(s) == {"one", "stack", "lone", "torch"} and all(v > 0 for v in s.values())
    for key in ("stack_over_one", "lone_over_stack", "stack_over_torch"):
        lo, hi = row["spread"][key]
        assert lo <= row["ratios"][key] <= hi, key
    # the timed sides trained the same members: the stack's numbers are the lone runs' (float32, bit for bit)
    acc = row["val_acc"]
    assert acc["stack"] == acc["lone"] and acc["stack"][0] == acc["one"]
    assert len(acc["torch"]) == 2 and all(0 < a <= 1 for a in acc["torch"])
