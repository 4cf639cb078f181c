"""Chart builders checked through ``to_dict()``: encodings, scales, and no NaN/inf in the data."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from ui import charts


def _datasets(spec: dict) -> list[list[dict]]:
    return list(spec.get("datasets", {}).values())


def _layers(spec: dict) -> list[dict]:
    return spec.get("layer", [spec])


def _all_numbers_finite(spec: dict) -> bool:
    for rows in _datasets(spec):
        for row in rows:
            for v in row.values():
                if isinstance(v, float) and not math.isfinite(v):
                    return False
    return True


@pytest.fixture
def curves():
    return pd.DataFrame(
        {
            "epoch": [0, 1, 2, 0, 1, 2],
            "loss": [1.0, np.nan, 0.1, np.inf, 0.5, -1.0],
            "run": ["he", "he", "he", "small", "small", "small"],
        }
    )


def test_line_chart_log_scale_drops_nonfinite_and_nonpositive(curves):
    spec = charts.line_chart(curves, "epoch", "loss", "run", log_y=True).to_dict()
    layer = _layers(spec)[0]
    assert layer["mark"]["type"] == "line"
    assert layer["encoding"]["y"]["scale"]["type"] == "log"
    assert layer["encoding"]["x"]["field"] == "epoch"
    rows = _datasets(spec)[0]
    # NaN, inf and the non-positive -1.0 are gone: 3 of 6 rows are left
    assert sorted(r["loss"] for r in rows) == [0.1, 0.5, 1.0]
    assert _all_numbers_finite(spec)


def test_line_chart_colours_follow_the_shared_palette(curves):
    spec = charts.line_chart(curves, "epoch", "loss", "run").to_dict()
    scale = _layers(spec)[0]["encoding"]["color"]["scale"]
    assert scale["domain"] == ["he", "small"]
    assert scale["range"] == [charts.COLORS["he"], charts.COLORS["small"]]


def test_line_chart_has_interactive_legend_and_tooltips(curves):
    spec = charts.line_chart(curves, "epoch", "loss", "run").to_dict()
    layer = _layers(spec)[0]
    params = layer.get("params") or spec.get("params")
    assert params and params[0]["bind"] == "legend"
    assert "opacity" in layer["encoding"]
    fields = {t["field"] for t in layer["encoding"]["tooltip"]}
    assert {"run", "epoch", "loss"} <= fields


def test_line_chart_rules_and_guide_line(curves):
    rules = pd.DataFrame({"x": [1.0, np.nan], "label": ["best", "bad"]})
    spec = charts.line_chart(curves, "epoch", "loss", "run", rules=rules, hline=1e-3, log_y=True).to_dict()
    marks = [lay["mark"]["type"] if isinstance(lay["mark"], dict) else lay["mark"] for lay in _layers(spec)]
    assert marks.count("rule") == 2 and "text" in marks
    assert _all_numbers_finite(spec)


def test_unknown_labels_get_distinct_fallback_colours():
    scale = charts.color_scale(["a", "b", "he"]).to_dict()
    assert scale["range"][2] == charts.COLORS["he"]
    assert scale["range"][0] != scale["range"][1]


def test_bar_chart_log_and_offset():
    df = pd.DataFrame({"variant": ["a", "b", "c"], "acc": [0.9, np.nan, 0.5], "bn": ["x", "y", "x"]})
    spec = charts.bar_chart(df, "variant", "acc", "bn", xoffset="bn").to_dict()
    enc = spec["encoding"]
    assert spec["mark"]["type"] == "bar"
    assert enc["xOffset"]["field"] == "bn"
    assert len(_datasets(spec)[0]) == 2
    assert _all_numbers_finite(spec)


# --- memo: same inputs give the same chart object, so a rerun skips Altair --------------------


def test_memo_returns_the_same_chart_for_equal_frames_and_a_new_one_when_data_change():
    df = pd.DataFrame({"epoch": [0, 1, 2], "loss": [1.0, 0.5, 0.25], "run": ["a", "a", "a"]})
    first = charts.line_chart(df.copy(), "epoch", "loss", "run", log_y=True)
    assert charts.line_chart(df.copy(), "epoch", "loss", "run", log_y=True) is first
    assert charts.line_chart(df.copy(), "epoch", "loss", "run", log_y=False) is not first
    changed = df.assign(loss=[1.0, 0.5, 0.125])
    other = charts.line_chart(changed, "epoch", "loss", "run", log_y=True)
    assert other is not first
    values = [r["loss"] for r in other.to_dict()["datasets"].popitem()[1]]
    assert values == [1.0, 0.5, 0.125]


def test_memo_keys_frames_by_column_names_and_charts_by_identity():
    a = pd.DataFrame({"x": [0, 1], "y": [1.0, 2.0], "p": [5, 6]})
    b = a.rename(columns={"p": "q"})  # same values, another column name: another dataset
    assert charts.line_chart(a, "x", "y") is not charts.line_chart(b, "x", "y")
    chart = charts.line_chart(a.copy(), "x", "y")
    assert charts.gradients_axes(chart) is charts.gradients_axes(charts.line_chart(a.copy(), "x", "y"))
