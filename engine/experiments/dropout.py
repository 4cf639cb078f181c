"""Experiments of the dropout page.

* ``dropout_article``: the article's seeded mask samples on ``a = [1..8]``, drawn through the
  engine's own :class:`~engine.layers.Dropout` with ``RandomState(42)``, then a Monte-Carlo run of
  many masks showing that the inverted scaling keeps the mean but not the variance (and eval
  mode is the identity).
* ``dropout``: a real overfitting run on a small digits subset (with a fraction of its labels
  flipped) with a wide network, trained at several dropout rates over several seeds:
  train-vs-validation accuracy and loss, the gap between them, and test accuracy against p = 0;
  then the ensemble view: the average prediction of K masked forward passes against the single
  eval-mode pass, on the validation images.

Where dropout sits: :class:`engine.network.MLP` puts it after every hidden activation, the last
one included, so the output layer's inputs are dropped; the logits never are.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from engine.budget import check as check_budget
from engine.datasets import load, n_train_available, split_sizes
from engine.experiments.common import (
    CURVE_COLUMNS,
    DEFAULT_SEEDS,
    SEED,
    SEEDS,
    Result,
    compare_seeds,
    curves,
    experiment,
    finite_only,
    long_curves,
    seed_band,
    seed_list,
    train_seeded,
    warning,
)
from engine.layers import Dropout
from engine.spec import Int, ListOf
from engine.train import TRAIN_SPEC as T
from engine.train import TrainConfig

ARTICLE_SEED = 42
ARTICLE_INPUT = np.arange(1.0, 9.0)  # the article's activations [1, 2, ..., 8]
INVERTED, UNSCALED = "inverted (÷ (1−p))", "not rescaled"
MAX_RATE = T["dropout"].hi
#: Numbers of masked forward passes averaged in the ensemble view.
ENSEMBLE_K = (1, 2, 4, 8, 16, 32, 64)


def run_label(rate: float) -> str:
    """Legend label of a run at dropout ``rate``: ``p=0.3``."""
    return f"p={rate:g}"


# --------------------------------------------------------------------------- the article
def _checkpoints(n: int) -> np.ndarray:
    """About 60 log-spaced sample counts from 1 to n (always including 1 and n)."""
    return np.unique(np.r_[np.geomspace(1, n, 60).round().astype(int), n])


@experiment("dropout_article", rate=T["dropout"], samples=Int(1, 20), mc_samples=Int(10, 200_000), seed=T["seed"])
def dropout_article(
    rate: float = 0.5, samples: int = 4, mc_samples: int = 10000, seed: int = ARTICLE_SEED, progress=None
) -> Result:
    """The article's dropout samples on [1..8], then many masks: inverted scaling keeps the mean."""
    a = ARTICLE_INPUT
    # (a) the article's samples: one forward pass per sample, as it calls dropout() in a loop
    layer = Dropout(rate, rng=np.random.RandomState(seed))
    outs = np.array([layer.forward(a.copy(), training=True) for _ in range(samples)])
    wide = pd.DataFrame(outs, columns=[f"a{j + 1}" for j in range(a.size)])
    wide.insert(0, "sample", np.arange(1, samples + 1))
    wide["mean"] = outs.mean(axis=1)
    wide["active"] = (outs != 0).sum(axis=1)
    cells = pd.DataFrame(
        {
            "sample": np.repeat(np.arange(1, samples + 1), a.size),
            "unit": np.tile(np.arange(1, a.size + 1), samples),
            "input": np.tile(a, samples),
            "output": outs.ravel(),
        }
    )
    cells["kept"] = np.where(cells.output != 0, "kept", "dropped")
    # (b) many masks at once; a fresh RandomState(seed) so that the first rows are the samples above
    mc_layer = Dropout(rate, rng=np.random.RandomState(seed))
    dropped = mc_layer.forward(np.tile(a, (mc_samples, 1)), training=True)
    keep = 1.0 - rate
    per_sample = dropped.mean(axis=1)  # mean of each dropped vector (inverted scaling)
    unscaled = per_sample * keep  # the same masks without the 1/(1-p) scaling
    n = _checkpoints(mc_samples)
    running = np.cumsum(per_sample)[n - 1] / n
    running_unscaled = np.cumsum(unscaled)[n - 1] / n
    # one sample's mean has variance sum(a^2) p / (1-p) / 8^2 (independent Bernoulli masks)
    se1 = math.sqrt(float(np.sum(a**2)) * rate / keep) / a.size
    mc = pd.concat(
        [
            pd.DataFrame({"n_samples": n, "series": INVERTED, "running_mean": running}),
            pd.DataFrame({"n_samples": n, "series": UNSCALED, "running_mean": running_unscaled}),
        ],
        ignore_index=True,
    )
    band = pd.DataFrame(
        {
            "n_samples": n,
            "lower": a.mean() - 2 * se1 / np.sqrt(n),
            "upper": a.mean() + 2 * se1 / np.sqrt(n),
            "original_mean": a.mean(),
        }
    )
    # mean and variance per unit over the masks: E[a~_i] = a_i, Var(a~_i) = a_i^2 p / (1-p)
    unit_stats = pd.DataFrame(
        {
            "unit": np.arange(1, a.size + 1),
            "input": a,
            "mean_over_masks": dropped.mean(axis=0),
            "var_over_masks": dropped.var(axis=0),
            "var_formula": a**2 * rate / keep,
        }
    )
    # spread of the 8 values: E[a~^2] = E[a^2] / (1-p), so Var(a~) = mean(a^2)/(1-p) - mean(a)^2 > Var(a)
    var_dropped = float(dropped.var())
    var_formula = float(np.mean(a**2) / keep - a.mean() ** 2)
    # (c) eval mode: the same layer is the identity
    eval_out = layer.forward(a.copy(), training=False)
    eval_table = pd.DataFrame({"unit": np.arange(1, a.size + 1), "input": a, "eval_output": eval_out})
    summary = {
        "rate": rate,
        "original_mean": float(a.mean()),
        "sample_means": [float(m) for m in wide["mean"]],
        "sample_active": [int(k) for k in wide["active"]],
        "mc_samples": mc_samples,
        "mc_mean_inverted": float(per_sample.mean()),
        "mc_mean_unscaled": float(unscaled.mean()),
        "expected_unscaled": float(keep * a.mean()),
        "mc_kept_fraction": float((dropped != 0).mean()),
        "single_sample_mean_std": se1,
        "eval_is_identity": bool(np.array_equal(eval_out, a)),
        "var_input": float(a.var()),
        "var_dropped": var_dropped,
        "var_dropped_formula": var_formula,
        "mean_sq_input": float(np.mean(a**2)),
        "mean_sq_dropped": float(np.mean(dropped**2)),
    }
    return Result(
        tables={
            "samples": wide,
            "mask_cells": cells,
            "monte_carlo": mc,
            "mc_band": band,
            "eval": eval_table,
            "unit_stats": unit_stats,
        },
        summary=summary,
    )


# --------------------------------------------------------------------------- ensemble view
def _softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64, shifted by the row max."""
    z = np.asarray(logits, dtype=np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def ensemble_view(model, X, y, seed: int, ks=ENSEMBLE_K) -> tuple[pd.DataFrame, dict]:
    """The average of K masked forward passes against the single eval-mode pass.

    Runs ``max(ks)`` training-mode passes (fresh masks each, from ``default_rng([seed, 1])``; BN-free
    models only, so training mode changes nothing but the masks), averages the softmax probabilities
    of the first K, and scores them on ``(X, y)``. The model's own dropout generators are put back.
    Returns one row per K (``acc_mc``, ``acc_eval``, ``agree_with_eval``: the fraction of images
    where the K-average predicts the eval pass's class) and the eval pass's accuracy.
    """
    drops = [layer for layer in model.layers if isinstance(layer, Dropout)]
    saved = [d.rng for d in drops]
    rng = np.random.default_rng([seed, 1])
    X = np.asarray(X, dtype=model.dtype)
    try:
        for d in drops:
            d.rng = rng
        eval_pred = model.forward(X, training=False).argmax(1)
        total, rows, done = 0.0, [], 0
        for k in sorted(set(ks)):
            while done < k:
                total = total + _softmax(model.forward(X, training=True))
                done += 1
            pred = total.argmax(1)
            rows.append(
                {
                    "K": k,
                    "acc_mc": float(np.mean(pred == y)),
                    "acc_eval": float(np.mean(eval_pred == y)),
                    "agree_with_eval": float(np.mean(pred == eval_pred)),
                }
            )
    finally:
        for d, r in zip(drops, saved):
            d.rng = r
    return pd.DataFrame(rows), {"acc_eval": float(np.mean(eval_pred == y))}


# --------------------------------------------------------------------------- real overfitting run
#: Page defaults of :func:`dropout`. With 30 % of the 500 training labels flipped, a 512-wide ReLU
#: layer without dropout memorises the wrong labels and its test accuracy falls; p = 0.3 and 0.5
#: keep more of it, by more than the seed spread over 3 seeds (checked in the tests). Without label
#: noise, at 200 clean images, the rates are within seed noise of each other.
DEFAULT_RATES = (0.0, 0.3, 0.5)
DEFAULT_N_TRAIN, DEFAULT_WIDTH, DEFAULT_DEPTH, DEFAULT_EPOCHS = 500, 512, 1, 40
DEFAULT_LR, DEFAULT_BATCH, DEFAULT_LABEL_NOISE = 1e-3, 64, 0.3
#: The rate every other rate is compared with.
BASELINE_RATE = 0.0
#: Per-epoch columns of the curves, averaged over seeds (with min and max).
CURVE_VALUES = (*CURVE_COLUMNS[3:], "gap", "loss_gap")  # every split's loss and accuracy, then the gaps
#: Name of the running training-mode series in ``curves_long`` (dropout is on in it).
RUNNING = "train (running, dropout on)"
RUNNING_SPLIT = "train (running, training mode)"  # its name in engine.experiments.common.SPLITS


@experiment(
    "dropout",
    rates=ListOf(T["dropout"], max_len=10, sort=True),
    n_train=Int(20, lambda v: n_train_available("digits")),
    width=T["width"],
    depth=T["depth"],
    epochs=T["epochs"],
    lr=T["lr"],
    batch_size=T["batch_size"],
    label_noise=T["label_noise"],
    seed=SEED,
    seeds=SEEDS,
)
def dropout(
    rates: tuple = DEFAULT_RATES,
    n_train: int = DEFAULT_N_TRAIN,
    width: int = DEFAULT_WIDTH,
    depth: int = DEFAULT_DEPTH,
    epochs: int = DEFAULT_EPOCHS,
    lr: float = DEFAULT_LR,
    batch_size: int = DEFAULT_BATCH,
    label_noise: float = DEFAULT_LABEL_NOISE,
    seed: int = 0,
    seeds: int = DEFAULT_SEEDS,
    progress=None,
) -> Result:
    """A wide net on a small (optionally noisy-labelled) digits subset at several dropout rates,
    for ``seeds`` seeds (seed, seed + 1, ...): train vs validation, and test accuracy as the result.

    Every seed starts all rates from the same weights and batch order; all (rate, seed) runs train
    in one stack. Train metrics are eval-mode passes (dropout off) over the training split at the
    end of each epoch, so the gap compares like with like; the running training-mode average
    (dropout on) is the separate series :data:`RUNNING`. Tables: ``runs`` (one row per rate and
    seed), ``summary`` (per rate: means and test min/max over seeds), ``per_seed`` and ``curves``
    (per epoch: mean and min/max over seeds), ``curves_long`` (per split), ``ensemble`` (mean over
    seeds) and ``ensemble_runs`` (per seed). ``summary["comparison"]``: final test accuracy of
    each rate against p = 0 (:func:`engine.experiments.common.compare_seeds`; None without 0).
    """
    seed_values = seed_list(seed, seeds)
    base = TrainConfig(
        n_train=n_train,
        width=width,
        depth=depth,
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        seed=seed,
        label_noise=label_noise,
        batch_norm=False,
        optimizer="adam",
        schedule="constant",
        init="he",
        activation="relu",
    )
    configs = {(float(r), k): base.replace(dropout=r, seed=k) for k in seed_values for r in rates}
    check_budget(base, members=len(configs))  # each run, and the stack's memory
    hist = train_seeded(configs, progress, label=run_label)

    frames = []
    for (rate, k), h in hist.items():
        f = curves({run_label(rate): h}).assign(rate=rate, seed=k)
        f["gap"] = f.train_acc - f.val_acc
        f["loss_gap"] = f.val_loss - f.train_loss
        frames.append(f)
    per_seed = finite_only(pd.concat(frames, ignore_index=True)) if frames else pd.DataFrame()
    if len(per_seed):
        band = seed_band(per_seed, ["run", "rate", "epoch"], CURVE_VALUES)
        splits = ("train", "validation", "test", RUNNING_SPLIT)
        long_seed = long_curves(per_seed, splits, ("run", "rate", "seed", "epoch"))
        long_seed["split"] = long_seed["split"].replace({RUNNING_SPLIT: RUNNING})
        long = seed_band(long_seed, ["run", "rate", "split", "epoch"], ["loss", "accuracy"])
    else:
        band = pd.DataFrame(columns=["run", "rate", "epoch", *CURVE_VALUES])
        long = pd.DataFrame(columns=["run", "rate", "split", "epoch", "loss", "accuracy"])

    rows, ens_frames = [], []
    for (rate, k), h in hist.items():
        n = len(h.epoch)
        best = int(np.argmin(h.val_loss)) if n else None
        rows.append(
            {
                "run": run_label(rate),
                "rate": rate,
                "seed": k,
                "final_train_acc": h.train_acc[-1] if n else None,
                "final_val_acc": h.val_acc[-1] if n else None,
                "final_test_acc": h.final_test_acc if n else None,
                "gap": h.train_acc[-1] - h.val_acc[-1] if n else None,
                "final_train_acc_running": h.train_acc_running[-1] if n else None,
                "final_val_loss": h.val_loss[-1] if n else None,
                "best_val_loss": h.val_loss[best] if n else None,
                "best_val_loss_epoch": best,
                "epochs_run": n,
                "diverged_epoch": h.diverged_epoch,
            }
        )
        if rate > 0 and n and h.diverged_epoch is None and h.model is not None:
            data = load(base.dataset, k, n_train, label_noise)
            ens, _ = ensemble_view(h.model, data.X_val, data.y_val, k)
            ens_frames.append(ens.assign(run=run_label(rate), rate=rate, seed=k))
    runs = finite_only(pd.DataFrame(rows))

    table_rows = []
    for rate in sorted({key[0] for key in hist}):
        g = runs[runs["rate"] == rate]
        test = pd.to_numeric(g["final_test_acc"], errors="coerce")
        table_rows.append(
            {
                "run": run_label(rate),
                "rate": rate,
                "seeds": len(g),
                "final_train_acc": _mean(g["final_train_acc"]),
                "final_val_acc": _mean(g["final_val_acc"]),
                "final_test_acc": _mean(test),
                "final_test_acc_min": _r(test.min()),
                "final_test_acc_max": _r(test.max()),
                "gap": _mean(g["gap"]),
                "best_val_loss": _mean(g["best_val_loss"]),
                "diverged_seeds": int(g["diverged_epoch"].notna().sum()),
            }
        )
    table = pd.DataFrame(table_rows)

    ens_cols = ["run", "rate", "K", "acc_mc", "acc_eval", "agree_with_eval"]
    ensemble_runs = (
        pd.concat(ens_frames, ignore_index=True)[["run", "rate", "seed", "K", "acc_mc", "acc_eval", "agree_with_eval"]]
        if ens_frames
        else pd.DataFrame(columns=["run", "rate", "seed", *ens_cols[2:]])
    )
    ensemble = (
        ensemble_runs.groupby(["run", "rate", "K"], sort=False)[ens_cols[3:]].mean().reset_index()
        if len(ensemble_runs)
        else pd.DataFrame(columns=ens_cols)
    )

    n_val = split_sizes(base.dataset)[1]
    summary = {"seeds": seed_values, "n_val": n_val, "label_noise": label_noise, "rates": {}}
    for r in table.itertuples():
        summary["rates"][r.run] = {
            "train_acc": r.final_train_acc,
            "val_acc": r.final_val_acc,
            "test_acc": r.final_test_acc,
            "gap": r.gap,
        }
    for label, g in ensemble_runs.groupby("run", sort=False):
        per = g.sort_values("K").groupby("seed", sort=False)
        one, top = per.head(1), per.tail(1)
        summary["rates"][label].update(
            ensemble_kmax=int(top["K"].iloc[0]),
            ensemble_acc_eval=_mean(top["acc_eval"]),
            ensemble_acc_k1=_mean(one["acc_mc"]),
            ensemble_acc_kmax=_mean(top["acc_mc"]),
            ensemble_agree_k1=_mean(one["agree_with_eval"]),
            ensemble_agree_kmax=_mean(top["agree_with_eval"]),
            # in how many seeds K passes agree with the eval pass on more images than one pass
            ensemble_closer_seeds=int((top["agree_with_eval"].to_numpy() > one["agree_with_eval"].to_numpy()).sum()),
            ensemble_k1_weaker_seeds=int((one["acc_mc"].to_numpy() < one["acc_eval"].to_numpy()).sum()),
            ensemble_seeds=int(len(top)),
        )
    trained_rates = set(runs["rate"]) if len(runs) else set()
    summary["comparison"] = (
        compare_seeds(runs, run_label(BASELINE_RATE), by="run") if BASELINE_RATE in trained_rates else None
    )
    if len(table):  # validation chooses the rate; its test accuracy is the result
        top = table.dropna(subset=["final_val_acc"]).sort_values("final_val_acc", ascending=False)
        if len(top):
            summary.update(best_rate=float(top.iloc[0]["rate"]), best_test_acc=float(top.iloc[0]["final_test_acc"]))

    notes = [
        warning(f"{r.run} diverged in epoch {int(r.diverged_epoch)} (seed {r.seed}); its curves stop there.")
        for r in runs.itertuples()
        if r.diverged_epoch is not None and not pd.isna(r.diverged_epoch)
    ]
    return Result(
        tables={
            "summary": table,
            "runs": runs,
            "curves": band,
            "curves_long": long,
            "per_seed": per_seed,
            "ensemble": ensemble,
            "ensemble_runs": ensemble_runs,
        },
        summary=summary,
        notes=notes,
    )


def _r(x, nd=4):
    return None if x is None or pd.isna(x) or not np.isfinite(x) else round(float(x), nd)


def _mean(values, nd=4):
    """Mean of ``values`` over seeds, rounded (None if there is none)."""
    v = pd.to_numeric(pd.Series(values), errors="coerce").dropna()
    return _r(v.mean(), nd) if len(v) else None
