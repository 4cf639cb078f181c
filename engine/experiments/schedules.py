"""Experiments of the learning-rate schedules page.

``schedule_curves``: the article's three schedules (step decay, cosine, warmup + cosine) as
curves for any settings, plus the article's table at its own settings.
``schedules``: the same network trained under each schedule of :data:`engine.schedules.SCHEDULES`
with the same seed: validation curves, the learning rate actually used, final accuracy.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import pandas as pd

from engine import budget
from engine.experiments.common import Result, curves, experiment, finite_only, train_many
from engine.experiments.common import check_int as _check_int
from engine.schedules import SCHEDULES, cosine, step_decay, warmup_cosine
from engine.train import LIMITS, TrainConfig

#: The article's settings for its schedule table (0.001 over 100 epochs; step 0.5 every 30;
#: cosine down to 1e-6; 10 warmup epochs) and the epochs it prints.
ARTICLE = {"initial_lr": 0.001, "epochs": 100, "decay": 0.5, "step_size": 30, "warmup_epochs": 10, "min_lr": 1e-6}
ARTICLE_EPOCHS = (0, 5, 10, 20, 30, 50, 70, 90, 99)
#: Labels of the article's three schedules (also the chart colour keys).
ARTICLE_SCHEDULES = ("step", "cosine", "warmup_cosine")


def _check_float(name, value, lo, hi, lo_open=False):
    """Raise ValueError unless ``value`` is a finite number in [lo, hi] (or (lo, hi])."""
    bad = isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value)
    if bad or not (lo < value if lo_open else lo <= value) or value > hi:
        interval = f"({lo}, {hi}]" if lo_open else f"[{lo}, {hi}]"
        raise ValueError(f"{name} must be a number in {interval}; got {value!r}")
    return float(value)


def _article_values(epochs, initial_lr, total, warmup, decay, step_size, min_lr):
    """The three schedules at ``epochs`` (array), using the engine's formulas."""
    return {
        "step": step_decay(epochs, initial_lr, decay, step_size),
        "cosine": cosine(epochs, total, initial_lr, min_lr),
        "warmup_cosine": warmup_cosine(epochs, warmup, total, initial_lr),
    }


@experiment("schedule_curves")
def schedule_curves(
    initial_lr: float = 0.001,
    epochs: int = 100,
    warmup_epochs: int = 10,
    step_size: int = 30,
    decay: float = 0.5,
    progress=None,
) -> Result:
    """Step decay, cosine and warmup+cosine learning rates per epoch; the article's table."""
    initial_lr = _check_float("initial_lr", initial_lr, *LIMITS["lr"])
    epochs = _check_int("epochs", epochs, 1, LIMITS["epochs"][1])
    warmup_epochs = _check_int("warmup_epochs", warmup_epochs, 0, epochs - 1)
    step_size = _check_int("step_size", step_size, 1, LIMITS["epochs"][1])
    decay = _check_float("decay", decay, 0.0, 1.0, lo_open=True)

    e = np.arange(epochs)
    values = _article_values(e, initial_lr, epochs, warmup_epochs, decay, step_size, ARTICLE["min_lr"])
    curve = pd.concat(
        [pd.DataFrame({"schedule": name, "epoch": e, "lr": v}) for name, v in values.items()], ignore_index=True
    )

    a = ARTICLE
    at = np.array(ARTICLE_EPOCHS)
    table_values = _article_values(
        at, a["initial_lr"], a["epochs"], a["warmup_epochs"], a["decay"], a["step_size"], a["min_lr"]
    )
    article_table = pd.DataFrame({"epoch": at, **table_values})

    peak = values["warmup_cosine"]
    summary = {
        "final_lr_step": float(values["step"][-1]),
        "final_lr_cosine": float(values["cosine"][-1]),
        "final_lr_warmup_cosine": float(peak[-1]),
        "warmup_peak_epoch": int(np.argmax(peak)),
        "step_drops": int((epochs - 1) // step_size),
    }
    return Result(tables={"curves": curve, "article_table": article_table}, summary=summary)


@experiment("schedules")
def schedules(
    schedules: tuple = tuple(SCHEDULES),
    lr: float = 0.01,
    optimizer: str = "adam",
    epochs: int = 20,
    warmup_epochs: int = 3,
    depth: int = 6,
    width: int = 64,
    n_train: int = 500,
    seed: int = 0,
    progress=None,
) -> Result:
    """The same digits network trained under each schedule (same seed): curves, lr used, final accuracy."""
    names = (schedules,) if isinstance(schedules, str) else tuple(schedules)
    if not names:
        raise ValueError(f"schedules must name at least one of {', '.join(SCHEDULES)}; got none")
    for s in names:
        if s not in SCHEDULES:
            raise ValueError(f"schedules must be chosen from {', '.join(SCHEDULES)}; got {s!r}")
    names = tuple(dict.fromkeys(names))
    base = TrainConfig(
        dataset="digits",
        n_train=n_train,
        depth=depth,
        width=width,
        batch_norm=True,
        init="he",
        optimizer=optimizer,
        lr=lr,
        epochs=epochs,
        warmup_epochs=warmup_epochs,
        seed=seed,
    )
    configs = {s: base.replace(schedule=s) for s in names}
    for cfg in configs.values():
        budget.check(cfg)
    hist = train_many(configs, progress)

    per_epoch = finite_only(curves(hist)).rename(columns={"run": "schedule"})
    rows, rules = [], []
    for s, h in hist.items():
        rows.append(
            {
                "schedule": s,
                "final_val_acc": h.final_val_acc,
                "best_val_acc": max(h.val_acc) if h.val_acc else None,
                "final_val_loss": h.val_loss[-1] if h.val_loss else None,
                "min_val_loss": min(h.val_loss) if h.val_loss else None,
                "val_acc_epoch_0": h.val_acc[0] if h.val_acc else None,
                "lr_epoch_0": h.lr[0] if h.lr else None,
                "peak_lr": max(h.lr) if h.lr else None,
                "epochs_run": len(h.epoch),
                "diverged_epoch": h.diverged_epoch,
            }
        )
        if h.diverged_epoch is not None:
            rules.append({"x": h.diverged_epoch, "label": f"{s} diverged"})
    final = finite_only(pd.DataFrame(rows))
    ranked = final.dropna(subset=["final_val_acc"]).sort_values("final_val_acc", ascending=False)

    notes = []
    summary = {"diverged": [r["label"] for r in rules]}
    if len(ranked):
        top = ranked.iloc[0]
        summary.update(best_schedule=str(top["schedule"]), best_final_val_acc=float(top["final_val_acc"]))
        for r in ranked.itertuples():
            summary[f"final_val_acc_{r.schedule}"] = float(r.final_val_acc)
    if "constant" in hist and "warmup_cosine" in hist and hist["constant"].val_acc and hist["warmup_cosine"].val_acc:
        c0, w0 = hist["constant"].val_acc[0], hist["warmup_cosine"].val_acc[0]
        summary.update(val_acc_epoch_0_constant=c0, val_acc_epoch_0_warmup_cosine=w0)
    if rules:
        notes.append(
            "Diverged (loss became inf/NaN, training stopped): "
            + ", ".join(r["label"].split()[0] for r in rules)
            + ". The curves end there; the dashed marker shows where."
        )
    return Result(
        tables={"curves": per_epoch, "final": final, "diverged": pd.DataFrame(rules, columns=["x", "label"])},
        summary=summary,
        notes=notes,
    )
