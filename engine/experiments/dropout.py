"""Experiments of the dropout page.

* ``dropout_article``: the article's seeded mask samples on ``a = [1..8]``, drawn through the
  engine's own :class:`~engine.layers.Dropout` with ``RandomState(42)``, then a Monte-Carlo run of
  many masks showing that the inverted scaling keeps the mean but not the variance (and eval
  mode is the identity).
* ``dropout``: a real overfitting run on a small digits subset with a wide network, trained at
  several dropout rates: train-vs-validation accuracy and loss, and the gap between them; then
  the ensemble view: the average prediction of K masked forward passes against the single
  eval-mode pass, on the validation images.

Where dropout sits: :class:`engine.network.MLP` puts it after every hidden activation, the last
one included, so the output layer's inputs are dropped; the logits never are.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from engine.budget import check as check_budget
from engine.datasets import load, n_train_available
from engine.experiments.common import Result, experiment
from engine.layers import Dropout
from engine.spec import Int, ListOf
from engine.train import TRAIN_SPEC as T
from engine.train import TrainConfig, evaluate, train_stacked

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
@experiment(
    "dropout",
    rates=ListOf(T["dropout"], max_len=10, sort=True),
    n_train=Int(20, lambda v: n_train_available("digits")),
    width=T["width"],
    depth=T["depth"],
    epochs=T["epochs"],
    lr=T["lr"],
    batch_size=T["batch_size"],
    seed=T["seed"],
)
def dropout(
    rates: tuple = (0.0, 0.3, 0.5),
    n_train: int = 200,
    width: int = 256,
    depth: int = 2,
    epochs: int = 50,
    lr: float = 3e-3,
    batch_size: int = 32,
    seed: int = 0,
    progress=None,
) -> Result:
    """Overfitting a small digits subset with a wide net at several dropout rates: train vs val."""
    base = TrainConfig(
        n_train=n_train,
        width=width,
        depth=depth,
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        seed=seed,
        batch_norm=False,
        optimizer="adam",
        schedule="constant",
        init="he",
        activation="relu",
    )
    configs = {run_label(r): base.replace(dropout=r) for r in rates}
    check_budget(base, members=len(configs))  # each run, and the stack's memory
    data = load(base.dataset, seed, n_train)
    Xtr, ytr = data.X_train.astype(np.float32), data.y_train
    total = sum(c.epochs for c in configs.values())
    # the rates differ only in dropout: one stacked computation trains them all
    train_eval = {float(rate): [] for rate in rates}
    stopped = []

    def cb(epoch, hist):
        # training-set accuracy of the same weights with dropout off, to compare like with like
        train_eval[float(hist.config.dropout)].append(evaluate(hist.model, Xtr, ytr))
        if progress is None or stopped:
            return not stopped
        done = sum(len(v) for v in train_eval.values())
        if progress(done / total, f"{run_label(hist.config.dropout)}: epoch {epoch + 1}/{hist.config.epochs}") is False:
            stopped.append(True)
            return False
        return True

    histories = train_stacked(list(configs.values()), on_epoch=cb, data=data)
    frames, rows, ensembles = [], [], []
    for (label, cfg), rate, h in zip(configs.items(), rates, histories, strict=True):
        train_eval_rate = train_eval[float(cfg.dropout)]
        k = min(len(h.epoch), len(train_eval_rate))
        f = pd.DataFrame(
            {
                "run": label,
                "rate": rate,
                "epoch": np.asarray(h.epoch[:k]),
                "train_loss": [loss for loss, _ in train_eval_rate[:k]],
                "val_loss": h.val_loss[:k],
                "train_acc": [acc for _, acc in train_eval_rate[:k]],
                "val_acc": h.val_acc[:k],
                "train_acc_with_dropout": h.train_acc[:k],
            }
        )
        f["gap"] = f.train_acc - f.val_acc
        f["loss_gap"] = f.val_loss - f.train_loss
        frames.append(f)
        if k:
            last = f.iloc[-1]
            best = int(f.val_loss.idxmin())
            rows.append(
                {
                    "run": label,
                    "rate": rate,
                    "final_train_acc": float(last.train_acc),
                    "final_val_acc": float(last.val_acc),
                    "gap": float(last.gap),
                    "final_val_loss": float(last.val_loss),
                    "best_val_loss": float(f.val_loss[best]),
                    "best_val_loss_epoch": int(f.epoch[best]),
                    "diverged_epoch": h.diverged_epoch,
                }
            )
        if rate > 0 and k and h.diverged_epoch is None and h.model is not None:
            ens, _ = ensemble_view(h.model, data.X_val, data.y_val, seed)
            ensembles.append(ens.assign(run=label, rate=rate))
    curves = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    long = (
        pd.concat(
            [
                curves[["run", "rate", "epoch"]].assign(split=split, acc=curves[f"{p}_acc"], loss=curves[f"{p}_loss"])
                for split, p in (("train", "train"), ("validation", "val"))
            ],
            ignore_index=True,
        )
        if len(curves)
        else pd.DataFrame(columns=["run", "rate", "epoch", "split", "acc", "loss"])
    )
    table = pd.DataFrame(rows)
    summary = {
        f"{r.run}": {
            "train_acc": round(r.final_train_acc, 4),
            "val_acc": round(r.final_val_acc, 4),
            "gap": round(r.gap, 4),
        }
        for r in table.itertuples()
    }
    ensemble = (
        pd.concat(ensembles, ignore_index=True)[["run", "rate", "K", "acc_mc", "acc_eval", "agree_with_eval"]]
        if ensembles
        else pd.DataFrame(columns=["run", "rate", "K", "acc_mc", "acc_eval", "agree_with_eval"])
    )
    for label in summary:
        summary[label]["n_val"] = int(len(data.y_val))
    for label, g in ensemble.groupby("run", sort=False):
        one, top = g.iloc[0], g.iloc[-1]
        summary[label].update(
            ensemble_acc_eval=float(top.acc_eval),
            ensemble_acc_k1=float(one.acc_mc),
            ensemble_acc_kmax=float(top.acc_mc),
            ensemble_kmax=int(top.K),
            ensemble_agree_kmax=float(top.agree_with_eval),
            ensemble_agree_k1=float(one.agree_with_eval),
        )
    notes = [
        f"{r.run} diverged in epoch {int(r.diverged_epoch)}; its curves stop there."
        for r in table.itertuples()
        if r.diverged_epoch is not None and not pd.isna(r.diverged_epoch)
    ]
    if len(table) > 1:
        spread = float(table.final_val_acc.max() - table.final_val_acc.min())
        if spread < 0.015:
            notes.append(
                f"The final validation accuracies differ by only {spread:.1%} ({round(spread * len(data.y_val))} "
                "validation images): with one seed, a difference this small may be run-to-run variation (change "
                "the seed to see). Look at the loss and the gap curves, or try a smaller training set."
            )
    return Result(
        tables={"summary": table, "curves": curves, "curves_long": long, "ensemble": ensemble},
        summary=summary,
        notes=notes,
    )
