"""Charts every student can read: a colour-blind-safe palette, dashes that back colour up, and a
text description on every chart (its accessible label)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from ui import charts

# Machado, Oliveira & Fernandes (2009), severity 1: linear-RGB matrices that simulate how a
# protanope, deuteranope or tritanope sees a colour.
CVD = {
    "protanopia": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]],
    "deuteranopia": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.011820, 0.042940, 0.968881]],
    "tritanopia": [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602], [0.004733, 0.691367, 0.303900]],
}

#: Labels drawn together on one chart somewhere in the app.
GROUPS = [
    ["small", "large", "xavier", "glorot", "he"],
    ["with BN", "no BN"],
    ["train mode", "eval mode"],
    ["constant", "step", "exponential", "cosine", "warmup_cosine"],
    ["relu", "leaky_relu", "sigmoid", "tanh"],
    ["plain", "with skips"],
    ["classic", "modern"],
    ["train", "validation"],
]
#: Smallest CIE76 colour difference between two series, as a colour-blind reader sees them. The
#: old palette's red/green pairs (he vs large, with skips vs plain) measure 7.3 for deuteranopes.
MIN_DELTA_E = 15.0


def _linear(hex_colour: str) -> np.ndarray:
    c = np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)]) / 255
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _lab(rgb_linear: np.ndarray) -> np.ndarray:
    """CIE L*a*b* (D65) of a linear sRGB colour."""
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ np.clip(
        rgb_linear, 0, 1
    )
    xyz = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def delta_e(a: str, b: str, deficiency: str | None = None) -> float:
    la, lb = _linear(a), _linear(b)
    if deficiency:
        m = np.array(CVD[deficiency])
        la, lb = m @ la, m @ lb
    return float(np.linalg.norm(_lab(la) - _lab(lb)))


def test_delta_e_matches_hand_worked_values():
    # white vs black is L* 100 vs 0; a colour against itself is 0 whatever the deficiency
    assert delta_e("#FFFFFF", "#000000") == pytest.approx(100.0, abs=0.05)
    assert delta_e("#D55E00", "#D55E00", "deuteranopia") == 0.0
    # the classic red/green confusion: far apart for most readers, close for a deuteranope
    assert delta_e("#d62728", "#2ca02c") > 100
    assert delta_e("#d62728", "#2ca02c", "deuteranopia") < MIN_DELTA_E


PALETTES = [charts.COLORS] * len(GROUPS) + [charts.LADDER_COLORS, charts.ADD_ONE_IN_COLORS]
GROUPS = GROUPS + [list(charts.LADDER_COLORS), list(charts.ADD_ONE_IN_COLORS)]


@pytest.mark.parametrize("palette,group", list(zip(PALETTES, GROUPS, strict=True)), ids=lambda g: "/".join(list(g)[:2]))
@pytest.mark.parametrize("deficiency", sorted(CVD))
def test_series_drawn_together_stay_apart_for_colour_blind_readers(palette, group, deficiency):
    for a, b in itertools.combinations(group, 2):
        d = delta_e(palette[a], palette[b], deficiency)
        assert d >= MIN_DELTA_E, f"{a} vs {b} under {deficiency}: delta E {d:.1f}"


def test_fallback_colours_stay_apart_for_colour_blind_readers():
    for a, b in itertools.combinations(charts._FALLBACK[:5], 2):
        for deficiency in CVD:
            assert delta_e(a, b, deficiency) >= MIN_DELTA_E, (a, b, deficiency)


def test_line_chart_backs_colour_up_with_a_dash_per_series():
    df = pd.DataFrame({"epoch": [0, 1, 0, 1], "val_acc": [0.1, 0.5, 0.2, 0.6], "run": ["a", "a", "b", "b"]})
    spec = charts.line_chart(df, "epoch", "val_acc", "run").to_dict()
    enc = spec["encoding"]
    assert enc["strokeDash"]["field"] == "run" and enc["color"]["field"] == "run"
    # an explicit dash field still wins
    df["mode"] = ["x", "y", "x", "y"]
    enc = charts.line_chart(df, "epoch", "val_acc", "run", dash="mode").to_dict()["encoding"]
    assert enc["strokeDash"]["field"] == "mode"


def test_describe_names_the_kind_the_axes_and_the_series():
    df = pd.DataFrame({"epoch": [0, 1], "val_acc": [0.1, 0.5], "run": ["a", "a"]})
    chart = charts.line_chart(df, "epoch", "val_acc", "run", title="Accuracy per epoch", y_title="validation accuracy")
    assert charts.describe(chart.to_dict()) == (
        "Accuracy per epoch. Line chart: validation accuracy against epoch, one series per run."
    )
    bars = charts.bar_chart(pd.DataFrame({"k": ["a", "b"], "v": [1.0, 2.0]}), "k", "v")
    assert charts.describe(bars.to_dict()) == "Bar chart: v against k."
    assert charts.describe({}) == "Chart."
