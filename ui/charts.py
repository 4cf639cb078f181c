"""Altair chart builders: tidy pandas DataFrames in, ``alt.Chart`` out (never rendered here).

Every builder drops non-finite values (and non-positive ones on log scales) before charting,
so NaN and inf can never reach the browser. One colour per technique across all pages.
"""

from __future__ import annotations

import functools
import hashlib
import pickle
import threading
from collections import OrderedDict

import altair as alt
import numpy as np
import pandas as pd

#: Okabe & Ito's colour-blind-safe palette (2008): distinguishable with every common colour-vision
#: deficiency. Yellow is left out: it has too little contrast on a white page.
OKABE_ITO = {
    "blue": "#0072B2",
    "orange": "#E69F00",
    "bluish green": "#009E73",
    "vermillion": "#D55E00",
    "reddish purple": "#CC79A7",
    "sky blue": "#56B4E9",
    "black": "#000000",
    "grey": "#999999",
}
_O = OKABE_ITO

#: One colour per technique or setting, the same on every page. Series drawn together on one chart
#: never rely on a red/green contrast (tests/ui/test_accessibility.py models colour-blind vision), and
#: line charts back colour up with a dash pattern per series.
COLORS = {
    # recipes
    "classic": _O["grey"],
    "modern": _O["blue"],
    # initialisation
    "small": _O["reddish purple"],
    "large": _O["vermillion"],
    "xavier": _O["orange"],
    "glorot": _O["sky blue"],
    "he": _O["bluish green"],
    # batch norm
    "with BN": _O["blue"],
    "no BN": _O["vermillion"],
    "train mode": _O["blue"],
    "eval mode": _O["orange"],
    # schedules
    "constant": _O["black"],
    "step": _O["reddish purple"],
    "exponential": _O["orange"],
    "cosine": _O["sky blue"],
    "warmup_cosine": _O["blue"],
    # activations
    "relu": _O["bluish green"],
    "leaky_relu": _O["sky blue"],
    "sigmoid": _O["reddish purple"],
    "tanh": _O["orange"],
    # generic
    "train": _O["blue"],
    "validation": _O["orange"],
    "plain": _O["vermillion"],
    "with skips": _O["blue"],
    "article (simulated)": "#aaaaaa",
}
_FALLBACK = [_O[c] for c in ("blue", "orange", "bluish green", "reddish purple", "sky blue", "vermillion", "black")]

HEIGHT = 320


class LRU:
    """A thread-safe mapping that keeps its ``size`` most recently used entries."""

    def __init__(self, size: int):
        self.size, self._data, self._lock = size, OrderedDict(), threading.Lock()

    def get(self, key, default=None):
        with self._lock:
            if key not in self._data:
                return default
            self._data.move_to_end(key)
            return self._data[key]

    def __setitem__(self, key, value) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)


#: Charts kept by :func:`memo` per process (each a few kB of spec plus its data).
MEMO_ENTRIES = 256
_memo = LRU(MEMO_ENTRIES)


#: Frames never modified in place, keyed by :func:`memo` by identity (id -> frame, held so that
#: the id is not reused): the tables of cached results, which every session shares.
_shared = LRU(4 * MEMO_ENTRIES)


def share(frames) -> None:
    """Declare ``frames`` shared and never modified in place (see :data:`_shared`)."""
    for f in frames:
        _shared[id(f)] = f


def _arg_key(v):
    """A hashable key for a builder argument: frames by content (shared ones by identity),
    charts by identity."""
    if isinstance(v, pd.DataFrame):
        if _shared.get(id(v)) is v:
            return ("shared df", id(v))
        # The pickle holds columns, dtypes, index and values: equal bytes mean an equal frame (an
        # equal frame laid out differently in memory only misses). 5x faster than pandas' hashing.
        return ("df", hashlib.blake2b(pickle.dumps(v, protocol=5), digest_size=16).digest())
    if isinstance(v, (alt.TopLevelMixin, alt.SchemaBase)):
        return ("chart", id(v))
    if isinstance(v, (list, tuple)):
        return (type(v).__name__, *map(_arg_key, v))
    if isinstance(v, dict):
        return ("dict", *((k, _arg_key(x)) for k, x in sorted(v.items())))
    if isinstance(v, float) and v != v:
        return ("nan",)
    hash(v)
    return (type(v).__name__, v)


def memo(builder):
    """Return the same chart object for the same arguments (frames compared by content).

    A page rerun with unchanged inputs then skips Altair entirely: building a chart and
    converting it to Vega-Lite (with Altair's schema validation) costs 15-35 ms per chart, a
    lookup well under 1 ms. ``ui.runner.show_chart`` keeps each chart's converted spec, keyed by
    the object. Unhashable arguments just build the chart afresh.
    """

    @functools.wraps(builder)
    def wrapper(*args, **kwargs):
        try:
            key = (builder.__name__, _arg_key(args), _arg_key(kwargs))
        except TypeError:
            return builder(*args, **kwargs)
        hit = _memo.get(key)
        if hit is not None:
            return hit[0]
        chart = builder(*args, **kwargs)
        _memo[key] = (chart, args, kwargs)  # the arguments stay alive: their ids are in keys
        return chart

    return wrapper


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


@memo
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
        # a dash pattern per series backs up its colour (one merged legend when both use ``color``)
        dash_field = dash or color
        line = line.encode(strokeDash=alt.StrokeDash(dash_field, type="nominal", title=dash_field))
        layers.append(line.add_params(sel))
    else:
        layers.append(base.mark_line(point=points, strokeWidth=2).encode(**enc))
    if rules is not None and len(rules):
        r = clean(rules, ["x"])
        rule = (
            alt.Chart(r)
            .mark_rule(strokeDash=[4, 4], color="#444")
            .encode(x=alt.X("x", type="quantitative"), tooltip=_tooltip(r, list(r.columns)))
        )
        text = (
            alt.Chart(r)
            .mark_text(align="left", dx=4, dy=-4, baseline="top", color="#444")
            .encode(x=alt.X("x", type="quantitative"), y=alt.value(4), text="label")
        )
        layers += [rule, text]
    if hline is not None and np.isfinite(hline) and (hline > 0 or not log_y):
        h = pd.DataFrame({"y": [hline], "label": [hline_label or f"{hline:g}"]})
        layers.append(
            alt.Chart(h)
            .mark_rule(strokeDash=[6, 3], color="#444")
            .encode(y=alt.Y("y", type="quantitative"), tooltip=["label"])
        )
    return alt.layer(*layers) if len(layers) > 1 else layers[0]


@memo
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


@memo
def initialization_histogram_chart(
    df: pd.DataFrame,
    *,
    row: str = "strategy",
    column: str = "layer",
    title: str = "",
    width: int = 200,
    height: int = 90,
) -> alt.FacetChart:
    """Pre-binned histograms (columns ``bin_start, bin_end, count``), one panel per (row, column).

    Every panel has its own x and y scale: activations at different inits differ by many orders
    of magnitude, and a shared axis would squash all but one panel to a line.
    """
    data = clean(df, ["bin_start", "bin_end", "count"])
    base = (
        alt.Chart(data)
        .mark_bar(opacity=0.85, binSpacing=0)
        .encode(
            x=alt.X(
                "bin_start",
                type="quantitative",
                bin=alt.Bin(binned=True),
                title="activation value",
                axis=alt.Axis(format=".2~g", tickCount=4),
            ),
            x2="bin_end",
            y=alt.Y("count", type="quantitative", title="count"),
            color=alt.Color(row, type="nominal", scale=color_scale(data[row]), legend=None),
            tooltip=[
                alt.Tooltip(row),
                alt.Tooltip(column),
                alt.Tooltip("bin_start", format=".3~g", title="from"),
                alt.Tooltip("bin_end", format=".3~g", title="to"),
                alt.Tooltip("count"),
                *([alt.Tooltip("zeros_left_out", title="exact zeros (not drawn)")] if "zeros_left_out" in data else []),
            ],
        )
        .properties(width=width, height=height)
    )
    return base.facet(
        row=alt.Row(row, type="nominal", title=None, sort=list(pd.unique(data[row]))),
        column=alt.Column(column, type="ordinal", title=f"{column}"),
        title=title,
    ).resolve_scale(x="independent", y="independent")


@memo
def gradients_axes(chart, *, integer_x: bool = True, compact_y: bool = True):
    """Axis styling for layer-indexed charts: integer ticks on x (layers, epochs), and compact
    y labels ("1e+10" rather than "10,000,000,000") for log scales spanning many decades."""
    if integer_x:
        chart = chart.configure_axisX(tickMinStep=1, format="d")
    if compact_y:
        chart = chart.configure_axisY(format=".2~g")
    return chart


@memo
def batchnorm_hist_chart(df: pd.DataFrame, *, title: str = "", height: int = 260) -> alt.Chart:
    """Overlaid pre-binned histograms (``stage, bin_start, bin_end, count``), one colour per stage."""
    data = clean(df, ["bin_start", "bin_end", "count"])
    palette = {"before BN": COLORS["no BN"], "after BN": COLORS["with BN"]}
    stages = [str(s) for s in pd.unique(data["stage"])]
    scale = alt.Scale(domain=stages, range=[palette.get(s, _FALLBACK[i]) for i, s in enumerate(stages)])
    return (
        alt.Chart(data, title=title)
        .mark_bar(opacity=0.6, binSpacing=0)
        .encode(
            x=alt.X("bin_start", type="quantitative", title="value"),
            x2="bin_end",
            y=alt.Y("count", type="quantitative", title="count", stack=None),
            y2=alt.datum(0),
            color=alt.Color("stage", type="nominal", scale=scale, title="stage"),
            tooltip=[
                alt.Tooltip("stage"),
                alt.Tooltip("bin_start", format=".3~g", title="from"),
                alt.Tooltip("bin_end", format=".3~g", title="to"),
                alt.Tooltip("count"),
            ],
        )
        .properties(height=height)
    )


@memo
def batchnorm_lr_chart(df: pd.DataFrame, *, title: str = "", height: int = HEIGHT) -> alt.LayerChart:
    """Final validation accuracy vs learning rate (log x), one line per ``run``.

    Rows with ``status`` other than "trained" (diverged runs) are drawn as crosses at the
    accuracy measured on their blown-up weights, so the line shows where training breaks.
    """
    data = clean(clean(df, ["lr"], log=True), ["val_acc"])
    data = data.assign(outcome=np.where(data["status"] == "trained", "trained", "diverged"))
    scale = color_scale(data["run"])
    base = alt.Chart(data, title=title).encode(
        x=alt.X("lr", type="quantitative", scale=alt.Scale(type="log"), title="learning rate (log scale)"),
        y=alt.Y("val_acc", type="quantitative", title="final validation accuracy", scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("run", type="nominal", scale=scale, title="run"),
        tooltip=_tooltip(data, ["run", "lr", "val_acc", "best_val_acc", "status"]),
    )
    line = base.mark_line(strokeWidth=2)
    pts = base.mark_point(size=90, filled=True).encode(
        shape=alt.Shape(
            "outcome",
            type="nominal",
            title="outcome",
            scale=alt.Scale(domain=["trained", "diverged"], range=["circle", "cross"]),
        )
    )
    return alt.layer(line, pts).properties(height=height)


@memo
def batchnorm_modes_chart(
    df: pd.DataFrame, y: str = "val_acc", *, title: str = "", width: int = 220, height: int = 220
) -> alt.FacetChart:
    """``y`` over epochs, one line per ``mode`` (train/eval mode), one panel per ``batch_size``."""
    data = clean(df, ["epoch", y])
    return (
        alt.Chart(data)
        .mark_line(point=True, strokeWidth=2)
        .encode(
            x=alt.X("epoch", type="quantitative", title="epoch (from 0)", axis=alt.Axis(tickMinStep=1, format="d")),
            y=alt.Y(
                y,
                type="quantitative",
                scale=alt.Scale(zero=False),
                title={"val_acc": "validation accuracy", "val_loss": "validation loss"}.get(y, y),
            ),
            color=alt.Color("mode", type="nominal", scale=color_scale(data["mode"]), title="evaluated in"),
            tooltip=_tooltip(data, ["batch_size", "mode", "epoch", "val_acc", "val_loss"]),
        )
        .properties(width=width, height=height)
        .facet(column=alt.Column("batch_size", type="ordinal", title="training batch size"), title=title)
    )


@memo
def dropout_mask_chart(df: pd.DataFrame, *, title: str = "", height: int = 240) -> alt.LayerChart:
    """Grid of dropout samples (``sample`` rows, ``unit`` columns): dropped cells grey, kept
    cells shaded by their scaled value, with the value written in each cell."""
    data = clean(df, ["output"])
    data = data.assign(label=data["output"].map(lambda v: f"{v:g}"))
    base = (
        alt.Chart(data)
        .properties(height=height)
        .encode(
            x=alt.X("unit:O", title="unit (activation a1…a8)", axis=alt.Axis(labelAngle=0)),
            y=alt.Y("sample:O", title="sample"),
            tooltip=_tooltip(data, ["sample", "unit", "input", "output", "kept"]),
        )
    )
    cells = base.mark_rect(stroke="white", strokeWidth=2).encode(
        color=alt.condition(
            "datum.kept == 'kept'",
            alt.Color("output", type="quantitative", scale=alt.Scale(scheme="blues"), title="value"),
            alt.value("#e8e8e8"),
        )
    )
    text = base.mark_text(fontSize=14).encode(
        text="label",
        color=alt.condition("datum.kept == 'kept'", alt.value("black"), alt.value("#999")),
    )
    return alt.layer(cells, text, title=title).properties(height=height)


@memo
def dropout_mc_chart(mc: pd.DataFrame, band: pd.DataFrame, *, title: str = "", height: int = 360) -> alt.LayerChart:
    """Running mean of dropped vectors vs number of masks (log x), with the original mean as a
    dashed line and a shaded band of +-2 standard errors around it."""
    data = clean(clean(mc, ["n_samples"], log=True), ["running_mean"])
    b = clean(clean(band, ["n_samples"], log=True), ["lower", "upper", "original_mean"])
    x = alt.X("n_samples", type="quantitative", scale=alt.Scale(type="log"), title="number of masks averaged (log)")
    area = (
        alt.Chart(b)
        .properties(height=height)
        .mark_area(opacity=0.15, color="#1f77b4")
        .encode(
            x=x,
            y=alt.Y("lower", type="quantitative"),
            y2="upper",
            tooltip=_tooltip(b, ["n_samples", "lower", "upper"]),
        )
    )
    mean = (
        alt.Chart(b)
        .properties(height=height)
        .mark_line(strokeDash=[6, 3], color="#444")
        .encode(x=x, y="original_mean", tooltip=[alt.Tooltip("original_mean", title="original mean")])
    )
    sel = alt.selection_point(fields=["series"], bind="legend")
    lines = (
        alt.Chart(data)
        .properties(height=height)
        .mark_line(strokeWidth=2)
        .encode(
            x=x,
            y=alt.Y(
                "running_mean", type="quantitative", title="running average of the mean", scale=alt.Scale(zero=False)
            ),
            color=alt.Color("series", type="nominal", scale=color_scale(data["series"]), title="masks"),
            opacity=alt.condition(sel, alt.value(1.0), alt.value(0.15)),
            tooltip=_tooltip(data, ["series", "n_samples", "running_mean"]),
        )
        .add_params(sel)
    )
    return alt.layer(area, mean, lines, title=title).properties(height=height)


@memo
def recipe_layer_heatmap(
    df: pd.DataFrame,
    value: str,
    *,
    x: str = "epoch",
    y: str = "layer",
    log: bool = True,
    title: str = "",
    value_title: str | None = None,
    height: int = HEIGHT,
) -> alt.Chart:
    """Heatmap of ``value`` per (``x`` epoch, ``y`` layer), layer 1 at the top; log colour scale."""
    data = clean(df, [x, y, value], log=log)
    scale = alt.Scale(type="log", scheme="viridis") if log else alt.Scale(scheme="viridis")
    return (
        alt.Chart(data, title=title)
        .mark_rect()
        .encode(
            x=alt.X(f"{x}:O", title=x, axis=alt.Axis(labelAngle=0, labelOverlap=True)),
            y=alt.Y(f"{y}:O", title=y, axis=alt.Axis(labelOverlap=True)),
            color=alt.Color(value, type="quantitative", scale=scale, title=value_title or value),
            tooltip=_tooltip(data, [x, y, value]),
        )
        .properties(height=height)
    )


@memo
def early_stopping_curve_chart(
    df: pd.DataFrame,
    x: str,
    y: str,
    color: str,
    *,
    dash: str | None = None,
    rules: pd.DataFrame | None = None,
    y_domain: tuple | None = None,
    title: str = "",
    x_title: str | None = None,
    y_title: str | None = None,
    height: int = HEIGHT,
) -> alt.LayerChart | alt.Chart:
    """Loss curves with vertical markers (``rules``: columns ``x``, ``label``) whose labels are
    stacked, so markers a few epochs apart stay readable. ``y_domain=(lo, hi)`` zooms the y axis
    (lines are clipped outside it)."""
    data = clean(df, [x, y])
    yscale = alt.Scale(zero=False) if y_domain is None else alt.Scale(domain=[float(v) for v in y_domain])
    sel = alt.selection_point(fields=[color], bind="legend")
    enc = {
        "x": alt.X(x, type="quantitative", title=x_title or x),
        "y": alt.Y(y, type="quantitative", title=y_title or y, scale=yscale),
        "color": alt.Color(color, type="nominal", scale=color_scale(data[color]), title=color),
        "opacity": alt.condition(sel, alt.value(1.0), alt.value(0.15)),
        "tooltip": _tooltip(data, [color, dash, x, y]),
    }
    if dash:
        enc["strokeDash"] = alt.StrokeDash(dash, type="nominal", title=dash)
    layers = [
        alt.Chart(data, title=title)
        .mark_line(strokeWidth=2, clip=True)
        .encode(**enc)
        .add_params(sel)
        .properties(height=height)
    ]
    if rules is not None and len(rules):
        r = clean(rules, ["x"]).reset_index(drop=True)
        r["row"] = 4 + 16 * np.arange(len(r))
        layers.append(
            alt.Chart(r)
            .mark_rule(strokeDash=[4, 4], color="#444")
            .encode(x=alt.X("x", type="quantitative"), tooltip=_tooltip(r, ["label", "x"]))
        )
        layers.append(
            alt.Chart(r)
            .mark_text(align="left", dx=4, baseline="top", color="#444")
            .encode(x=alt.X("x", type="quantitative"), y=alt.Y("row", type="quantitative", scale=None), text="label")
        )
    return alt.layer(*layers) if len(layers) > 1 else layers[0]


_MARK_NAMES = {
    "line": "Line chart",
    "bar": "Bar chart",
    "rect": "Heatmap",
    "point": "Scatter plot",
    "area": "Area chart",
}


def _title_text(t) -> str:
    t = t.get("text", "") if isinstance(t, dict) else t
    return " ".join(t) if isinstance(t, list) else str(t or "")


def _channel_title(ch) -> str:
    if not isinstance(ch, dict):
        return ""
    return _title_text(ch.get("title")) or str(ch.get("field", "")) or str(ch.get("aggregate", ""))


def describe(spec: dict) -> str:
    """A one-sentence text description of a Vega-Lite ``spec`` (its accessible label).

    Built from the spec itself: the chart's kind, what is plotted against what, and what tells
    the series apart, e.g. "Line chart: validation accuracy against epoch, one series per run."
    """
    views = [spec]
    for key in ("layer", "hconcat", "vconcat", "concat"):
        views += spec.get(key, [])
    if "spec" in spec:
        views.append(spec["spec"])
    for v in views:
        enc = v.get("encoding", {})
        if "x" in enc and "y" in enc:
            mark = v.get("mark", "")
            mark = mark.get("type", "") if isinstance(mark, dict) else mark
            text = f"{_MARK_NAMES.get(mark, 'Chart')}: {_channel_title(enc['y'])} against {_channel_title(enc['x'])}"
            series = _channel_title(enc.get("color"))
            if series:
                text += f", one series per {series}"
            break
    else:
        text = "Chart"
    title = _title_text(spec.get("title")) or next((_title_text(v.get("title")) for v in views if v.get("title")), "")
    return f"{title}. {text}." if title else f"{text}."


@memo
def band_line_chart(
    df: pd.DataFrame,
    x: str,
    y: str,
    lo: str,
    hi: str,
    color: str,
    *,
    log_x: bool = False,
    log_y: bool = False,
    title: str = "",
    x_title: str | None = None,
    y_title: str | None = None,
    color_title: str | None = None,
    integer_x: bool = False,
    height: int = HEIGHT,
) -> alt.LayerChart:
    """Mean line of ``y`` per ``color`` with a shaded min–max band from ``lo`` to ``hi`` (e.g. over seeds)."""
    data = clean(df, [x, y, lo, hi])
    for col, log in ((x, log_x), (y, log_y), (lo, log_y), (hi, log_y)):
        if log:
            data = clean(data, [col], log=True)
    axis = alt.Axis(tickMinStep=1, format="d") if integer_x else alt.Axis()
    xenc = alt.X(
        x, type="quantitative", title=x_title or x, axis=axis, scale=alt.Scale(type="log" if log_x else "linear")
    )
    yscale = alt.Scale(type="log") if log_y else alt.Scale(zero=False)
    # one legend for band and line (Vega-Lite merges them), drawn opaque rather than in the band's opacity
    legend = alt.Legend(title=color_title or color, symbolOpacity=1)
    cenc = alt.Color(color, type="nominal", scale=color_scale(data[color]), legend=legend)
    base = alt.Chart(data).properties(height=height)
    band = base.mark_area(opacity=0.2).encode(
        x=xenc,
        y=alt.Y(lo, type="quantitative", scale=yscale, title=y_title or y),
        y2=alt.Y2(hi),
        color=cenc,
    )
    line = base.mark_line(point=True, strokeWidth=2).encode(
        x=xenc,
        y=alt.Y(y, type="quantitative", scale=yscale, title=y_title or y),
        color=cenc,
        tooltip=_tooltip(data, [color, x, y, lo, hi]),
    )
    return alt.layer(line, band, title=title)  # the title on the layer, so narrow screens shorten it


@memo
def batchnorm_lr_band_chart(df: pd.DataFrame, *, title: str = "", height: int = HEIGHT) -> alt.LayerChart:
    """Mean final validation accuracy vs learning rate (log x) per ``run``, with the seeds' min–max
    band (``val_acc_min``..``val_acc_max``); cells where a seed diverged (``status`` other than
    "trained") are drawn as crosses."""
    data = clean(clean(df, ["lr"], log=True), ["val_acc", "val_acc_min", "val_acc_max"])
    data = data.assign(outcome=np.where(data["status"] == "trained", "trained", "a seed diverged"))
    x = alt.X("lr", type="quantitative", scale=alt.Scale(type="log"), title="learning rate (log scale)")
    y = alt.Y("val_acc", type="quantitative", title="final validation accuracy", scale=alt.Scale(domain=[0, 1]))
    legend = alt.Legend(title="run", symbolOpacity=1)  # one legend for band and line, drawn opaque
    color = alt.Color("run", type="nominal", scale=color_scale(data["run"]), legend=legend)
    base = alt.Chart(data)
    band = base.mark_area(opacity=0.2).encode(
        x=x,
        y=alt.Y("val_acc_min", type="quantitative"),
        y2="val_acc_max",
        color=color,
    )
    tip = _tooltip(data, ["run", "lr", "val_acc", "val_acc_min", "val_acc_max", "status"])
    line = base.mark_line(strokeWidth=2).encode(x=x, y=y, color=color, tooltip=tip)
    pts = base.mark_point(size=90, filled=True).encode(
        x=x,
        y=y,
        color=color,
        tooltip=tip,
        shape=alt.Shape(
            "outcome",
            type="nominal",
            title="outcome",
            scale=alt.Scale(domain=["trained", "a seed diverged"], range=["circle", "cross"]),
        ),
    )
    return alt.layer(line, band, pts, title=title).properties(height=height)


#: Colours of the depth ladder's recipes (by label) and of the add-one-in ladder's kinds.
LADDER_COLORS = {
    "naive": _O["black"],
    "1990s (LeCun 1998)": _O["orange"],
    "modern (article)": _O["blue"],
    "modern + skips": _O["bluish green"],
}
ADD_ONE_IN_COLORS = {"baseline": _O["black"], "alone": _O["orange"], "pair": _O["blue"], "all": _O["bluish green"]}


@memo
def ladder_chart(
    ladder: pd.DataFrame, *, chance: float | None = None, title: str = "", height: int = HEIGHT
) -> alt.LayerChart:
    """Mean final test accuracy against depth (log x), one line per recipe ``label``, with
    its min-max band over seeds (columns ``label, depth, mean_test_acc, min_test_acc, max_test_acc``)
    and a dashed chance line."""
    data = clean(ladder, ["depth", "mean_test_acc", "min_test_acc", "max_test_acc"])
    labels = list(pd.unique(data["label"]))
    scale = alt.Scale(
        domain=labels, range=[LADDER_COLORS.get(x, _FALLBACK[i % len(_FALLBACK)]) for i, x in enumerate(labels)]
    )
    depths = sorted({int(d) for d in data["depth"]})
    domain = [depths[0] / 1.25, depths[-1] * 1.25] if depths else None
    x = alt.X(
        "depth",
        type="quantitative",
        title="hidden layers (log scale)",
        scale=alt.Scale(type="log", domain=domain, nice=False),
    )
    x = x.axis(values=depths, format="d")
    color = alt.Color(
        "label",
        type="nominal",
        scale=scale,
        title=None,
        legend=alt.Legend(orient="bottom", columns=2, symbolOpacity=1, symbolType="stroke", symbolStrokeWidth=3),
    )
    sel = alt.selection_point(fields=["label"], bind="legend")
    base = alt.Chart(data, title=title).properties(height=height)
    band = base.mark_area(opacity=0.18).encode(
        x=x,
        y=alt.Y("min_test_acc", type="quantitative"),
        y2="max_test_acc",
        color=color,
        opacity=alt.condition(sel, alt.value(0.18), alt.value(0.03)),
    )
    line = (
        base.mark_line(point=True, strokeWidth=2)
        .encode(
            x=x,
            y=alt.Y("mean_test_acc", type="quantitative", title="test accuracy", scale=alt.Scale(domain=[0, 1])),
            color=color,
            opacity=alt.condition(sel, alt.value(1.0), alt.value(0.15)),
            tooltip=_tooltip(data, ["label", "depth", "mean_test_acc", "min_test_acc", "max_test_acc", "n_seeds"]),
        )
        .add_params(sel)
    )
    layers = [band, line]
    if chance is not None and np.isfinite(chance):
        h = pd.DataFrame({"y": [chance], "label": [f"chance {chance:.0%}"]})
        layers.append(alt.Chart(h).mark_rule(strokeDash=[6, 3], color="#444").encode(y="y:Q", tooltip=["label"]))
    return alt.layer(*layers)


@memo
def add_one_in_chart(variants: pd.DataFrame, *, title: str = "", height: int | None = None) -> alt.LayerChart:
    """Horizontal bars of the mean final test accuracy per ``variant`` (in table order),
    coloured by ``kind``, with a min-max rule over seeds."""
    data = clean(variants, ["mean_test_acc", "min_test_acc", "max_test_acc"])
    order = list(data["variant"])
    kinds = [k for k in ADD_ONE_IN_COLORS if k in set(data["kind"])]
    scale = alt.Scale(domain=kinds, range=[ADD_ONE_IN_COLORS[k] for k in kinds])
    y = alt.Y("variant", type="nominal", sort=order, title=None, axis=alt.Axis(labelOverlap=False, labelLimit=220))
    base = alt.Chart(data, title=title).properties(height=height or 26 * len(order))
    bars = base.mark_bar().encode(
        y=y,
        x=alt.X("mean_test_acc", type="quantitative", title="test accuracy", scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("kind", type="nominal", scale=scale, title="", legend=alt.Legend(orient="bottom")),
        tooltip=_tooltip(data, ["variant", "mean_test_acc", "spread", "gain_vs_naive", "interaction"]),
    )
    spread = base.mark_rule(color="#222").encode(y=y, x="min_test_acc:Q", x2="max_test_acc:Q")
    return alt.layer(bars, spread)


@memo
def recipe_ablation_chart(acc: pd.DataFrame, *, title: str = "", height: int = HEIGHT) -> alt.LayerChart:
    """Bars of the mean final test accuracy per ``variant`` (in table order) with a min-max rule over
    seeds (``min_test_acc`` .. ``max_test_acc``); the full recipe's bar in its own colour."""
    data = clean(acc, ["final_test_acc", "min_test_acc", "max_test_acc"])
    data = data.assign(kind=np.where(data["variant"] == "full recipe", "full recipe", "one part removed"))
    order = list(data["variant"])
    x = alt.X("variant", type="nominal", sort=order, title=None, axis=alt.Axis(labelAngle=-30, labelLimit=160))
    base = alt.Chart(data).properties(height=height)
    bars = base.mark_bar().encode(
        x=x,
        y=alt.Y("final_test_acc", type="quantitative", title="final test accuracy", scale=alt.Scale(domain=[0, 1])),
        color=alt.Color(
            "kind", type="nominal", scale=color_scale(data["kind"]), title="", legend=alt.Legend(orient="bottom")
        ),
        tooltip=_tooltip(data, ["variant", "final_test_acc", "min_test_acc", "max_test_acc", "change_vs_full"]),
    )
    rule = base.mark_rule(color="#222", strokeWidth=2).encode(x=x, y="min_test_acc:Q", y2="max_test_acc:Q")
    return alt.layer(bars, rule, title=title)
