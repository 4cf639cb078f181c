"""Experiments of the initialization page.

``init_forward``: the article's forward pass through a deep stack of bias-free layers, one
strategy at a time, with per-layer statistics and pre-binned histograms.
``init_rules``: the standard deviation every rule gives for a layer shape (the naming table).
``init_training``: a short real training run per strategy on digits, batch norm off.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine.budget import check
from engine.experiments.common import Result, curves, experiment, run_summary, train_many
from engine.experiments.common import check_choices as _check_choices
from engine.experiments.common import check_int as _check_int
from engine.init import STRATEGIES, init_std, init_weights
from engine.layers import ACTIVATIONS
from engine.optim import OPTIMIZERS
from engine.train import TrainConfig

#: The article reseeds NumPy with 42 before drawing each strategy's weights.
ARTICLE_WEIGHT_SEED = 42
MAX_DEPTH = 100
WIDTH_RANGE = (2, 512)
SAMPLES_RANGE = (2, 2000)
BINS_RANGE = (5, 100)
FAN_RANGE = (1, 100000)


def _stats(a: np.ndarray) -> dict:
    """Mean and std computed on a rescaled copy (so 1e-160 does not underflow when squared),
    units that output exactly zero for every sample, and the fraction of zero outputs."""
    if not np.isfinite(a).all():
        return {"mean": None, "std": None, "dead": None, "zero_frac": None}
    scale = float(np.max(np.abs(a)))
    if scale == 0.0:
        mean = std = 0.0
    else:
        b = a / scale
        mean, std = float(b.mean()) * scale, float(b.std()) * scale
    return {
        "mean": mean,
        "std": std,
        "dead": int(np.all(a == 0, axis=0).sum()),
        "zero_frac": float(np.mean(a == 0)),
    }


def forward_stack(X, strategy: str, depth: int, width: int, activation: str = "relu", seed: int = ARTICLE_WEIGHT_SEED):
    """Push ``X`` (N, d) through ``depth`` bias-free layers ``a = f(a @ W)`` of ``width`` units.

    Weights come from :func:`engine.init.init_weights` with a fresh ``RandomState(seed)``, in the
    article's draw order. Returns the list of ``depth`` activations (float64).
    """
    rng = np.random.RandomState(seed)
    f = ACTIVATIONS[activation]
    a, outs = np.asarray(X, dtype=np.float64), []
    with np.errstate(all="ignore"):
        for _ in range(depth):
            a = f(a @ init_weights(strategy, a.shape[1], width, rng))
            outs.append(a)
    return outs


@experiment("init_forward")
def init_forward(
    strategies: tuple = ("small", "large", "he"),
    depth: int = 20,
    width: int = 64,
    activation: str = "relu",
    n_samples: int = 100,
    hist_layers: tuple = (1, 10, 20),
    bins: int = 30,
    seed: int = 0,
    progress=None,
) -> Result:
    """Activations through a deep bias-free stack per init strategy: per-layer mean/std/dead units.

    Histograms leave out exact zeros (ReLU's inactive half), counted in ``zeros_left_out``.
    """
    strategies = _check_choices("strategies", strategies, STRATEGIES)
    depth = _check_int("depth", depth, 1, MAX_DEPTH)
    width = _check_int("width", width, *WIDTH_RANGE)
    n_samples = _check_int("n_samples", n_samples, *SAMPLES_RANGE)
    bins = _check_int("bins", bins, *BINS_RANGE)
    seed = _check_int("seed", seed, 0, 2**32 - 1)
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}; got {activation!r}")
    if isinstance(hist_layers, (int, np.integer)):
        hist_layers = (hist_layers,)
    hist_layers = tuple(_check_int("hist_layers", h, 1, MAX_DEPTH) for h in hist_layers)
    shown = sorted({h for h in hist_layers if h <= depth})
    # The input: N(0, 1) samples with ``width`` features, from the page seed (the article's X is unseeded).
    X = np.random.RandomState(seed).standard_normal((n_samples, width))
    rows, final, hists, overflow = [], [], [], {}
    for n, s in enumerate(strategies):
        outs = forward_stack(X, s, depth, width, activation)
        for i, a in enumerate(outs, start=1):
            st = _stats(a)
            rows.append({"strategy": s, "layer": i, **st})
            if st["std"] is None and s not in overflow:
                overflow[s] = i
            if i in shown and st["std"] is not None:
                v = a.ravel()
                nonzero = v[v != 0]
                counts, edges = np.histogram(nonzero if len(nonzero) else v, bins=bins)
                hists.append(
                    pd.DataFrame(
                        {
                            "strategy": s,
                            "layer": i,
                            "bin_start": edges[:-1],
                            "bin_end": edges[1:],
                            "count": counts,
                            "zeros_left_out": int(len(v) - len(nonzero)) if len(nonzero) else 0,
                        }
                    )
                )
        last = _stats(outs[-1])
        final.append({"strategy": s, "mean": last["mean"], "std": last["std"], "dead": last["dead"], "units": width})
        if progress is not None and progress((n + 1) / len(strategies), s) is False:
            break
    layers = pd.DataFrame(rows).astype({"mean": float, "std": float, "zero_frac": float, "dead": "Int64"})
    final_df = pd.DataFrame(final).astype({"mean": float, "std": float, "dead": "Int64"})
    hist_df = (
        pd.concat(hists, ignore_index=True)
        if hists
        else pd.DataFrame(columns=["strategy", "layer", "bin_start", "bin_end", "count", "zeros_left_out"])
    )
    notes = []
    dropped = sorted({h for h in hist_layers if h > depth})
    if dropped:
        notes.append(f"Histogram layers {', '.join(map(str, dropped))} are deeper than the stack ({depth}); skipped.")
    for s, i in overflow.items():
        notes.append(f"{s}: activations overflowed float64 at layer {i}; deeper layers are left out.")
    summary = {r["strategy"]: {"mean": r["mean"], "std": r["std"], "dead": r["dead"], "units": width} for r in final}
    return Result(tables={"final": final_df, "layers": layers, "histograms": hist_df}, summary=summary, notes=notes)


@experiment("init_rules")
def init_rules(fan_in: int = 256, fan_outs: tuple = (256, 64, 10), progress=None) -> Result:
    """Standard deviation of every init rule for a layer with fan_in inputs and each fan_out."""
    fan_in = _check_int("fan_in", fan_in, *FAN_RANGE)
    if isinstance(fan_outs, (int, np.integer)):
        fan_outs = (fan_outs,)
    fan_outs = tuple(dict.fromkeys(_check_int("fan_outs", f, *FAN_RANGE) for f in fan_outs))
    if not fan_outs:
        raise ValueError("fan_outs must list at least one width in [1, 100000]; got none")
    rows = [
        {"strategy": s, "fan_in": fan_in, "fan_out": fo, "std": init_std(s, fan_in, fo)}
        for s in STRATEGIES
        for fo in fan_outs
    ]
    table = pd.DataFrame(rows)
    wide = table.pivot(index="strategy", columns="fan_out", values="std").reindex(list(STRATEGIES))
    wide.columns = [f"std (fan_out={c})" for c in wide.columns]
    wide = wide.reset_index()
    summary = {f"{r['strategy']}@{r['fan_out']}": r["std"] for r in rows}
    return Result(tables={"rules": table, "rules_wide": wide}, summary=summary)


@experiment("init_training")
def init_training(
    inits: tuple = STRATEGIES,
    depth: int = 8,
    width: int = 64,
    activation: str = "relu",
    optimizer: str = "sgd",
    lr: float = 0.1,
    epochs: int = 8,
    n_train: int = 500,
    batch_size: int = 32,
    seed: int = 0,
    progress=None,
) -> Result:
    """A short real training run per init strategy on digits (no batch norm, constant lr)."""
    inits = _check_choices("inits", inits, STRATEGIES)
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}; got {optimizer!r}")
    configs = {
        s: TrainConfig(
            dataset="digits",
            n_train=n_train,
            depth=depth,
            width=width,
            activation=activation,
            init=s,
            batch_norm=False,
            optimizer=optimizer,
            lr=lr,
            schedule="constant",
            batch_size=batch_size,
            epochs=epochs,
            seed=seed,
        )
        for s in inits
    }
    for c in configs.values():
        check(c)
    hist = train_many(configs, progress)
    summary_df = run_summary(hist)
    summary_df.insert(1, "init", summary_df["run"])
    summary_df["first_val_acc"] = [h.val_acc[0] if h.val_acc else None for h in hist.values()]
    summary_df = summary_df.astype({"diverged_epoch": "Int64", "best_epoch": "Int64"})
    markers = pd.DataFrame(
        [
            {"run": k, "x": h.diverged_epoch, "label": f"{k}: diverged in epoch {h.diverged_epoch}"}
            for k, h in hist.items()
            if h.diverged_epoch is not None
        ],
        columns=["run", "x", "label"],
    )
    notes = []
    if len(hist) < len(configs):
        notes.append(f"Stopped early: {len(hist)} of {len(configs)} runs finished.")
    summary = {k: {"final_val_acc": h.final_val_acc, "diverged_epoch": h.diverged_epoch} for k, h in hist.items()}
    return Result(
        tables={"curves": curves(hist), "summary": summary_df, "markers": markers}, summary=summary, notes=notes
    )
