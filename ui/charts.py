"""Altair chart builders: tidy pandas DataFrames in, ``alt.Chart`` out (never rendered here).

Every builder drops non-finite values (and non-positive ones on log scales) before charting,
so NaN and inf can never reach the browser. One colour per technique across all pages.
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

#: One colour per technique or setting, the same on every page.
COLORS = {
    # recipes
    "classic": "#7f7f7f",
    "modern": "#1f77b4",
    # initialisation
    "small": "#9467bd",
    "large": "#d62728",
    "xavier": "#ff7f0e",
    "glorot": "#8c564b",
    "he": "#2ca02c",
    # batch norm
    "with BN": "#1f77b4",
    "no BN": "#d62728",
    "train mode": "#1f77b4",
    "eval mode": "#ff7f0e",
    # schedules
    "constant": "#7f7f7f",
    "step": "#9467bd",
    "exponential": "#8c564b",
    "cosine": "#17becf",
    "warmup_cosine": "#1f77b4",
    # activations
    "relu": "#2ca02c",
    "leaky_relu": "#bcbd22",
    "sigmoid": "#e377c2",
    "tanh": "#ff7f0e",
    # generic
    "train": "#1f77b4",
    "validation": "#ff7f0e",
    "plain": "#d62728",
    "with skips": "#2ca02c",
    "article (simulated)": "#aaaaaa",
}
_FALLBACK = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]

HEIGHT = 320


def color_scale(labels) -> alt.Scale:
    """A colour scale that gives known labels their fixed colour and others a stable fallback."""
    labels = [str(x) for x in pd.unique(pd.Series(list(labels)))]
    rng, i = [], 0
    for lab in labels:
        if lab in COLORS:
            rng.append(COLORS[lab])
        else:
            rng.append(_FALLBACK[i % len(_FALLBACK)])
            i += 1
    return alt.Scale(domain=labels, range=rng)


def clean(df: pd.DataFrame, cols, log=False) -> pd.DataFrame:
    """Rows of ``df`` where every column in ``cols`` is finite (and > 0 when ``log``)."""
    out = df.copy()
    for c in cols:
        v = pd.to_numeric(out[c], errors="coerce").astype(float)
        ok = np.isfinite(v)
        if log:
            ok &= v > 0
        out = out[ok.to_numpy()]
        out[c] = v[ok]
    return out


def _tooltip(df, cols):
    tips = []
    for c in cols:
        if c is None or c not in df.columns:
            continue
        if pd.api.types.is_float_dtype(df[c]):
            tips.append(alt.Tooltip(c, format=".4g"))
        else:
            tips.append(alt.Tooltip(c))
    return tips


def line_chart(
    df: pd.DataFrame,
    x: str,
    y: str,
    color: str | None = None,
    *,
    log_y: bool = False,
    log_x: bool = False,
    title: str = "",
    x_title: str | None = None,
    y_title: str | None = None,
    dash: str | None = None,
    points: bool = False,
    tooltip: list | None = None,
    rules: pd.DataFrame | None = None,
    hline: float | None = None,
    hline_label: str | None = None,
    height: int = HEIGHT,
) -> alt.LayerChart | alt.Chart:
    """Lines of ``y`` against ``x``, one per ``color`` value, with an interactive legend.

    ``rules`` (columns ``x`` and ``label``) draws labelled vertical markers; ``hline`` a dashed
    horizontal guide (e.g. the 1e-3 update:data ratio).
    """
    data = clean(df, [x, y])
    for col, log in ((y, log_y), (x, log_x)):
        if log:
            data = clean(data, [col], log=True)
    yscale = alt.Scale(type="log") if log_y else alt.Scale(zero=False)
    xscale = alt.Scale(type="log") if log_x else alt.Scale(zero=False)
    enc = {
        "x": alt.X(x, type="quantitative", title=x_title or x, scale=xscale),
        "y": alt.Y(y, type="quantitative", title=y_title or y, scale=yscale),
        "tooltip": _tooltip(data, [color, dash, x, y] + (tooltip or [])),
    }
    base = alt.Chart(data, title=title).properties(height=height)
    layers = []
    if color:
        sel = alt.selection_point(fields=[color], bind="legend")
        enc["color"] = alt.Color(color, type="nominal", scale=color_scale(data[color]), title=color)
        enc["opacity"] = alt.condition(sel, alt.value(1.0), alt.value(0.15))
        line = base.mark_line(point=points, strokeWidth=2).encode(**enc)
        if dash:
            line = line.encode(strokeDash=alt.StrokeDash(dash, type="nominal", title=dash))
        layers.append(line.add_params(sel))
    else:
        layers.append(base.mark_line(point=points, strokeWidth=2).encode(**enc))
    if rules is not None and len(rules):
        r = clean(rules, ["x"])
        rule = alt.Chart(r).mark_rule(strokeDash=[4, 4], color="#444").encode(
            x=alt.X("x", type="quantitative"), tooltip=_tooltip(r, list(r.columns))
        )
        text = alt.Chart(r).mark_text(align="left", dx=4, dy=-4, baseline="top", color="#444").encode(
            x=alt.X("x", type="quantitative"), y=alt.value(4), text="label"
        )
        layers += [rule, text]
    if hline is not None and np.isfinite(hline) and (hline > 0 or not log_y):
        h = pd.DataFrame({"y": [hline], "label": [hline_label or f"{hline:g}"]})
        layers.append(
            alt.Chart(h).mark_rule(strokeDash=[6, 3], color="#444").encode(
                y=alt.Y("y", type="quantitative"), tooltip=["label"]
            )
        )
    return alt.layer(*layers) if len(layers) > 1 else layers[0]


def bar_chart(
    df: pd.DataFrame,
    x: str,
    y: str,
    color: str | None = None,
    *,
    log_y: bool = False,
    title: str = "",
    x_title: str | None = None,
    y_title: str | None = None,
    sort=None,
    xoffset: str | None = None,
    tooltip: list | None = None,
    height: int = HEIGHT,
) -> alt.Chart:
    """Bars of ``y`` per nominal ``x`` (grouped by ``xoffset`` when given)."""
    data = clean(df, [y], log=log_y)
    enc = {
        "x": alt.X(x, type="nominal", title=x_title or x, sort=sort, axis=alt.Axis(labelAngle=0)),
        "y": alt.Y(y, type="quantitative", title=y_title or y, scale=alt.Scale(type="log") if log_y else alt.Scale()),
        "tooltip": _tooltip(data, [x, xoffset, color, y] + (tooltip or [])),
    }
    if color:
        enc["color"] = alt.Color(color, type="nominal", scale=color_scale(data[color]), title=color)
    if xoffset:
        enc["xOffset"] = alt.XOffset(xoffset, type="nominal")
    return alt.Chart(data, title=title).mark_bar().encode(**enc).properties(height=height)


def histogram(
    df: pd.DataFrame,
    value: str,
    color: str | None = None,
    *,
    bins: int = 40,
    title: str = "",
    x_title: str | None = None,
    facet: str | None = None,
    height: int = 200,
) -> alt.Chart:
    """Histogram of ``value`` (overlaid per ``color``, one panel per ``facet``), counts on y."""
    data = clean(df, [value])
    enc = {
        "x": alt.X(value, type="quantitative", bin=alt.Bin(maxbins=bins), title=x_title or value),
        "y": alt.Y("count()", title="count"),
        "tooltip": [alt.Tooltip("count()", title="count")],
    }
    if color:
        enc["color"] = alt.Color(color, type="nominal", scale=color_scale(data[color]), title=color)
    chart = alt.Chart(data, title=title).mark_bar(opacity=0.7).encode(**enc).properties(height=height)
    if facet:
        chart = chart.facet(column=alt.Column(facet, type="nominal"))
    return chart
