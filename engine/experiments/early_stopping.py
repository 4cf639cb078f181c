"""Experiments of the early-stopping page.

``early_stopping_article``: the article's *simulated* loss curves (a formula, not a training run),
its best epoch and where patience stops, with the article's printed numbers.
``early_stopping``: real overfitting runs on the digits with a fraction of the training labels
flipped, over several seeds, trained to the end without stopping;
:func:`engine.early_stopping.stop_epoch` is then replayed over each recorded validation loss for
every patience and min_delta, so moving a patience slider never retrains. The restored best
weights and the last ones are compared on test accuracy.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine import budget
from engine.datasets import split_sizes
from engine.early_stopping import stop_epoch
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
    train_many,
    warning,
)
from engine.spec import Float, ListOf
from engine.train import TRAIN_SPEC as T
from engine.train import TrainConfig

#: Patience values replayed for the sliders: 1 .. MAX_PATIENCE.
MAX_PATIENCE = 100
#: min_delta values replayed for the min_delta control.
MIN_DELTAS = (0.0, 0.001, 0.005, 0.01, 0.02, 0.05)
#: The patience values of the summary table.
PATIENCES = (1, 2, 5, 10, 20, 50)
#: The article's numbers, printed by its snippet (patience 10, 200 epochs).
ARTICLE_PATIENCE = 10
ARTICLE_EPOCHS = 200
#: Label of the article's curve (also its chart colour key).
ARTICLE_LABEL = "article (simulated)"


def simulated_curves(epochs: int = ARTICLE_EPOCHS):
    """The article's formula curves: train = 0.8 e^(-t/30) + 0.05; val adds 0.001 max(0, t-80)^1.3."""
    t = np.arange(epochs, dtype=float)
    train = 0.8 * np.exp(-t / 30) + 0.05
    val = train + 0.001 * np.maximum(0.0, t - 80) ** 1.3
    return train, val


def replay(
    val_loss, val_acc=None, patiences=range(1, MAX_PATIENCE + 1), min_deltas=MIN_DELTAS, test_acc=None
) -> pd.DataFrame:
    """Where :class:`~engine.early_stopping.EarlyStopping` would stop on a recorded curve.

    One row per (min_delta, patience): ``stop_epoch`` (NaN if it never stops), ``best_epoch``
    (the weights restore_best would keep), ``epochs_run`` and ``epochs_saved`` out of the whole
    curve, the validation loss (and accuracy, and test accuracy, when given) kept at the best
    epoch and at the stop. Only the validation loss decides; test accuracy is only read.
    """
    n = len(val_loss)
    rows = []
    for d in min_deltas:
        for p in patiences:
            stop, best = stop_epoch(val_loss, p, d)
            end = stop if stop is not None else n - 1
            row = {
                "min_delta": float(d),
                "patience": int(p),
                "stops": stop is not None,
                "stop_epoch": stop,
                "best_epoch": best,
                "epochs_run": end + 1,
                "epochs_saved": n - (end + 1),
                "val_loss_kept": float(val_loss[best]) if best is not None else None,
                "val_loss_at_stop": float(val_loss[end]),
            }
            if val_acc is not None:
                row["val_acc_kept"] = float(val_acc[best]) if best is not None else None
                row["val_acc_at_stop"] = float(val_acc[end])
            if test_acc is not None:
                row["test_acc_kept"] = float(test_acc[best]) if best is not None else None
                row["test_acc_at_stop"] = float(test_acc[end])
            rows.append(row)
    df = pd.DataFrame(rows)
    df["stop_epoch"] = df["stop_epoch"].astype(float)
    return finite_only(df)


@experiment("early_stopping_article")
def early_stopping_article(progress=None) -> Result:
    """The article's simulated train/val curves (a formula, not training): best epoch, where patience stops."""
    train, val = simulated_curves(ARTICLE_EPOCHS)
    e = np.arange(ARTICLE_EPOCHS)
    curve = pd.concat(
        [
            pd.DataFrame({"run": ARTICLE_LABEL, "split": "train", "epoch": e, "loss": train}),
            pd.DataFrame({"run": ARTICLE_LABEL, "split": "validation", "epoch": e, "loss": val}),
        ],
        ignore_index=True,
    )
    best = int(np.argmin(val))
    stop, best_seen = stop_epoch(val, ARTICLE_PATIENCE)
    summary = {
        "epochs": ARTICLE_EPOCHS,
        "patience": ARTICLE_PATIENCE,
        "best_epoch": best,
        "best_val_loss": float(val[best]),
        "train_loss_at_best": float(train[best]),
        "last_train_loss": float(train[-1]),
        "last_val_loss": float(val[-1]),
        # The article estimates the stop as best + patience and the saving as
        # epochs - best - patience; the replay below runs EarlyStopping itself.
        "article_stop_estimate": best + ARTICLE_PATIENCE,
        "article_epochs_saved": ARTICLE_EPOCHS - best - ARTICLE_PATIENCE,
        "stop_epoch": stop,
        "best_epoch_at_stop": best_seen,
        "epochs_run": None if stop is None else stop + 1,
        "epochs_not_run": 0 if stop is None else ARTICLE_EPOCHS - (stop + 1),
    }
    return Result(tables={"curves": curve, "replay": replay(val)}, summary=summary)


#: Page defaults of :func:`early_stopping`. With 30 % of the training labels flipped, a 3-layer
#: 128-wide MLP (Adam 1e-3, constant rate, batches of 64) fits the true classes first and the
#: flipped labels later: the validation loss bottoms out after about 5 - 20 epochs and climbs
#: again, and the restored best weights beat the last ones on test by more than the seed spread
#: over 3 seeds (checked in the tests).
DEFAULT_N_TRAIN, DEFAULT_DEPTH, DEFAULT_WIDTH, DEFAULT_LR = None, 3, 128, 1e-3
DEFAULT_EPOCHS, DEFAULT_BATCH, DEFAULT_LABEL_NOISE = 30, 64, 0.3
#: The weights compared in ``summary["comparison"]``: restored (lowest validation loss) vs last.
RESTORED, LAST = "restored", "last"


def compare_at(replay_table: pd.DataFrame, runs: pd.DataFrame, patience: int, min_delta: float = 0.0) -> dict:
    """Test accuracy of the weights kept at ``patience`` (and ``min_delta``), seed by seed, against
    the last weights: :func:`~engine.experiments.common.compare_seeds` with baseline ``"last"``.

    ``replay_table`` is an :func:`early_stopping` result's ``replay`` table, ``runs`` its ``runs``.
    """
    rows = replay_table[(replay_table["patience"] == patience) & np.isclose(replay_table["min_delta"], min_delta)]
    if not len(rows):
        raise ValueError(f"patience {patience} with min_delta {min_delta:g} was not replayed")
    kept = rows[["seed", "test_acc_kept"]].rename(columns={"test_acc_kept": "final_test_acc"})
    last = runs[runs["weights"] == LAST][["seed", "final_test_acc"]]
    table = pd.concat([kept.assign(weights=f"kept at patience {patience}"), last.assign(weights=LAST)])
    return compare_seeds(table, LAST, by="weights")


@experiment(
    "early_stopping",
    n_train=T["n_train"],
    depth=T["depth"],
    width=T["width"],
    lr=T["lr"],
    epochs=T["epochs"],
    batch_size=T["batch_size"],
    label_noise=T["label_noise"],
    patiences=ListOf(T["patience"].inner, sort=True),
    min_deltas=ListOf(Float(0.0, 1.0), min_len=0, sort=True),
    seed=SEED,
    seeds=SEEDS,
)
def early_stopping(
    n_train: int | None = DEFAULT_N_TRAIN,
    depth: int = DEFAULT_DEPTH,
    width: int = DEFAULT_WIDTH,
    lr: float = DEFAULT_LR,
    epochs: int = DEFAULT_EPOCHS,
    batch_size: int = DEFAULT_BATCH,
    label_noise: float = DEFAULT_LABEL_NOISE,
    patiences: tuple = PATIENCES,
    min_deltas: tuple = MIN_DELTAS,
    seed: int = 0,
    seeds: int = DEFAULT_SEEDS,
    progress=None,
) -> Result:
    """Real overfitting runs (digits with a fraction of the training labels flipped, plain MLP, no
    stopping) for ``seeds`` seeds (seed, seed + 1, ...), one stack; patience replays per seed.

    Validation chooses: the restored weights are those of the epoch with the lowest validation
    loss (what ``restore_best`` keeps once patience has run out after it), and both they and the
    last weights are scored on test. Tables: ``runs`` (per seed: the restored and the last
    weights, their epoch and accuracies), ``per_seed`` (per epoch and seed), ``curves`` (per
    epoch: mean and min/max over seeds), ``curves_long`` (the same per split), ``replay`` (per
    seed, min_delta and patience), ``patience_table`` (the ``patiences`` rows of it).
    ``summary["comparison"]``: restored against last on final test accuracy
    (:func:`engine.experiments.common.compare_seeds`); ``summary["per_seed"]``: each seed's run.
    """
    min_deltas = tuple(sorted({0.0, *min_deltas}))  # 0.0 (any improvement counts) is always replayed
    seed_values = seed_list(seed, seeds)
    cfg = TrainConfig(
        dataset="digits",
        n_train=n_train,
        depth=depth,
        width=width,
        batch_norm=False,
        init="he",
        optimizer="adam",
        lr=lr,
        schedule="constant",
        batch_size=batch_size,
        epochs=epochs,
        patience=None,
        label_noise=label_noise,
        seed=seed,
    )
    budget.check(cfg, members=len(seed_values))
    trained = train_many({f"seed {k}": cfg.replace(seed=k) for k in seed_values}, progress)
    hist = {k: trained[f"seed {k}"] for k in seed_values if f"seed {k}" in trained}
    all_patiences = sorted(set(range(1, MAX_PATIENCE + 1)) | set(patiences))

    frames, replays, run_rows, per_seed_summary, notes = [], [], [], [], []
    for k, h in hist.items():
        n = len(h.epoch)
        if n == 0:
            notes.append(
                warning(f"Seed {k} diverged at epoch {h.diverged_epoch}: no curve to replay. Lower the learning rate.")
            )
            continue
        frames.append(curves({f"seed {k}": h}).assign(seed=k))
        rep = replay(h.val_loss, h.val_acc, all_patiences, min_deltas, h.test_acc)
        rep.insert(0, "seed", k)
        replays.append(rep)
        best = int(np.argmin(h.val_loss))
        for weights, e in ((RESTORED, best), (LAST, n - 1)):
            run_rows.append(
                {
                    "weights": weights,
                    "seed": k,
                    "epoch": e,
                    "val_loss": h.val_loss[e],
                    "final_val_acc": h.val_acc[e],
                    "final_test_acc": h.test_acc[e],
                    "train_acc": h.train_acc[e],
                }
            )
        per_seed_summary.append(
            {
                "seed": k,
                "epochs_run": n,
                "best_epoch": best,
                "best_val_loss": float(h.val_loss[best]),
                "last_val_loss": float(h.val_loss[-1]),
                "val_acc_at_best": float(h.val_acc[best]),
                "val_acc_last": float(h.val_acc[-1]),
                "test_acc_at_best": float(h.test_acc[best]),
                "test_acc_last": float(h.test_acc[-1]),
                "train_acc_last": float(h.train_acc[-1]),
                # epochs whose (eval-mode, whole training split) loss is above the previous epoch's
                "train_loss_rises": int(np.sum(np.diff(h.train_loss) > 0)),
                "train_loss_steps": max(0, n - 1),
                "diverged_epoch": h.diverged_epoch,
            }
        )
        if h.diverged_epoch is not None:
            notes.append(warning(f"Seed {k} diverged at epoch {h.diverged_epoch}; its replay uses the epochs before."))
        if best == n - 1:
            notes.append(
                f"Seed {k}: the validation loss was still falling at the last epoch, so this run did not overfit "
                "yet and early stopping has nothing to save. Use fewer training images, more label noise or "
                "more epochs."
            )
    empty = pd.DataFrame(columns=["seed", "min_delta", "patience", "stop_epoch", "best_epoch", "epochs_saved"])
    per_seed = finite_only(pd.concat(frames, ignore_index=True)) if frames else pd.DataFrame(columns=CURVE_COLUMNS)
    table = pd.concat(replays, ignore_index=True) if replays else empty
    chosen = table[table["patience"].isin(patiences)].reset_index(drop=True) if replays else empty
    runs = finite_only(pd.DataFrame(run_rows))
    summary = {
        "seeds": seed_values,
        "label_noise": label_noise,
        "n_train": int(split_sizes("digits")[0] if n_train is None else n_train),
        "per_seed": per_seed_summary,
        "comparison": compare_seeds(runs, LAST, by="weights") if len(runs) else None,
        "epochs_run": max((p["epochs_run"] for p in per_seed_summary), default=0),
    }
    if not len(per_seed):
        return Result(
            tables={"curves": per_seed, "per_seed": per_seed, "replay": table, "patience_table": chosen, "runs": runs},
            summary=summary,
            notes=notes,
        )
    band = seed_band(per_seed, ["epoch"], [c for c in CURVE_COLUMNS if c not in ("run", "epoch")])
    long_seed = long_curves(per_seed, ("train", "validation", "test"), ("seed", "epoch"))
    long = seed_band(long_seed, ["split", "epoch"], ["loss", "accuracy"])
    # A y range that zooms on the minima and the rise after them (for the chart), over every seed.
    vmin = float(per_seed["val_loss"].min())
    after = max(float(max(h.val_loss[int(np.argmin(h.val_loss)) :])) for h in hist.values() if h.val_loss)
    span = max(after - vmin, 0.05 * vmin)
    model = next(h.model for h in hist.values() if h.model is not None)
    summary.update(
        n_weights=sum(int(v.size) for layer in model.layers for v in layer.params.values()),
        zoom_val_loss=[vmin - 0.5 * span, after + span],
        seconds=round(max(h.seconds for h in hist.values()), 3),
    )
    return Result(
        tables={
            "curves": band,
            "curves_long": long,
            "per_seed": per_seed,
            "runs": runs,
            "replay": table,
            "patience_table": chosen,
        },
        summary=summary,
        notes=notes,
    )
