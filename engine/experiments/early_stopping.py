"""Experiments of the early-stopping page.

``early_stopping_article``: the article's *simulated* loss curves (a formula, not a training run),
its best epoch and where patience stops, with the article's printed numbers.
``early_stopping``: a real overfitting run on a small digits subset, trained to the end without
stopping; :func:`engine.early_stopping.stop_epoch` is then replayed over the recorded validation
loss for every patience and min_delta, so moving a patience slider never retrains.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine import budget
from engine.early_stopping import stop_epoch
from engine.experiments.common import Result, experiment, finite_only, train_many
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


def replay(val_loss, val_acc=None, patiences=range(1, MAX_PATIENCE + 1), min_deltas=MIN_DELTAS) -> pd.DataFrame:
    """Where :class:`~engine.early_stopping.EarlyStopping` would stop on a recorded curve.

    One row per (min_delta, patience): ``stop_epoch`` (NaN if it never stops), ``best_epoch``
    (the weights restore_best would keep), ``epochs_run`` and ``epochs_saved`` out of the whole
    curve, the validation loss (and accuracy, when given) kept at the best epoch and at the stop.
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


@experiment(
    "early_stopping",
    n_train=T["n_train"].inner,
    depth=T["depth"],
    width=T["width"],
    lr=T["lr"],
    epochs=T["epochs"],
    batch_size=T["batch_size"],
    patiences=ListOf(T["patience"].inner, sort=True),
    min_deltas=ListOf(Float(0.0, 1.0), min_len=0, sort=True),
    seed=T["seed"],
)
def early_stopping(
    n_train: int = 200,
    depth: int = 8,
    width: int = 128,
    lr: float = 3e-4,
    epochs: int = 60,
    batch_size: int = 32,
    patiences: tuple = PATIENCES,
    min_deltas: tuple = MIN_DELTAS,
    seed: int = 0,
    progress=None,
) -> Result:
    """A real overfitting run (small digits subset, plain deep net, no stopping) and patience replays."""
    min_deltas = tuple(sorted({0.0, *min_deltas}))  # 0.0 (any improvement counts) is always replayed
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
        seed=seed,
    )
    budget.check(cfg)
    h = train_many({"real run": cfg}, progress)["real run"]
    n = len(h.epoch)
    per_epoch = finite_only(
        pd.DataFrame(
            {
                "epoch": h.epoch,
                "train_loss": h.train_loss,
                "val_loss": h.val_loss,
                "train_acc": h.train_acc,
                "val_acc": h.val_acc,
            }
        )
    )
    if n == 0:
        empty = pd.DataFrame(columns=["min_delta", "patience", "stop_epoch", "best_epoch", "epochs_saved"])
        return Result(
            tables={"curves": per_epoch, "replay": empty, "patience_table": empty},
            summary={"epochs_run": 0, "diverged_epoch": h.diverged_epoch},
            notes=[f"Training diverged at epoch {h.diverged_epoch}: no curve to replay. Lower the learning rate."],
        )
    all_patiences = sorted(set(range(1, MAX_PATIENCE + 1)) | set(patiences))
    table = replay(h.val_loss, h.val_acc, all_patiences, min_deltas)
    chosen = table[table["patience"].isin(patiences)].reset_index(drop=True)
    best = int(np.argmin(h.val_loss))
    notes = []
    if h.diverged_epoch is not None:
        notes.append(f"Training diverged at epoch {h.diverged_epoch}; the replay uses the epochs before it.")
    if best == n - 1:
        notes.append(
            "The validation loss was still falling at the last epoch: this run did not overfit yet, so "
            "early stopping has nothing to save. Use fewer training images or more epochs."
        )
    # A y range that zooms on the minimum and the rise after it (for the chart).
    vmin, after = float(h.val_loss[best]), float(max(h.val_loss[best:]))
    span = max(after - vmin, 0.05 * vmin)
    n_weights = sum(int(v.size) for layer in h.model.layers for v in layer.params.values())
    summary = {
        "epochs_run": n,
        "n_weights": n_weights,
        "zoom_val_loss": [vmin - 0.5 * span, after + span],
        "best_epoch": best,
        "best_val_loss": float(h.val_loss[best]),
        "val_acc_at_best": float(h.val_acc[best]),
        "last_val_loss": float(h.val_loss[-1]),
        "val_acc_last": float(h.val_acc[-1]),
        "train_acc_last": float(h.train_acc[-1]),
        "max_val_acc": float(max(h.val_acc)),
        # mini-batch noise: epochs whose training loss is above the previous epoch's
        "train_loss_rises": int(np.sum(np.diff(h.train_loss) > 0)),
        "train_loss_steps": max(0, n - 1),
        "diverged_epoch": h.diverged_epoch,
        "seconds": round(h.seconds, 3),
    }
    return Result(tables={"curves": per_epoch, "replay": table, "patience_table": chosen}, summary=summary, notes=notes)
