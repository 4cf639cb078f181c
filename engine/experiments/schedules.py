"""Experiments of the learning-rate schedules page.

``schedule_curves``: the article's three schedules (step decay, cosine, warmup + cosine) as
curves for any settings, plus the article's table at its own settings.
``schedules``: the same network trained under each schedule of :data:`engine.schedules.SCHEDULES`
with the same seed: validation curves, the learning rate actually used, final accuracy.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine import budget
from engine.experiments.common import (
    DEFAULT_SEEDS,
    SEED,
    SEEDS,
    Result,
    compare_seeds,
    curves,
    experiment,
    finite_only,
    seed_band,
    seed_list,
    train_seeded,
    warning,
)
from engine.schedules import SCHEDULES, cosine, step_decay, warmup_cosine
from engine.spec import Float, Int, ListOf, OneOf
from engine.train import TRAIN_SPEC as T
from engine.train import TrainConfig

#: The article's settings for its schedule table (0.001 over 100 epochs; step 0.5 every 30;
#: cosine down to 1e-6; 10 warmup epochs) and the epochs it prints.
ARTICLE = {"initial_lr": 0.001, "epochs": 100, "decay": 0.5, "step_size": 30, "warmup_epochs": 10, "min_lr": 1e-6}
ARTICLE_EPOCHS = (0, 5, 10, 20, 30, 50, 70, 90, 99)
#: Labels of the article's three schedules (also the chart colour keys).
ARTICLE_SCHEDULES = ("step", "cosine", "warmup_cosine")


def _article_values(epochs, initial_lr, total, warmup, decay, step_size, min_lr):
    """The three schedules at ``epochs`` (array), using the engine's formulas."""
    return {
        "step": step_decay(epochs, initial_lr, decay, step_size),
        "cosine": cosine(epochs, total, initial_lr, min_lr),
        "warmup_cosine": warmup_cosine(epochs, warmup, total, initial_lr),
    }


@experiment(
    "schedule_curves",
    initial_lr=T["lr"],
    epochs=T["epochs"],
    warmup_epochs=T["warmup_epochs"].inner,
    step_size=Int(1, T["epochs"].hi),
    decay=Float(0.0, 1.0, lo_open=True),
)
def schedule_curves(
    initial_lr: float = 0.001,
    epochs: int = 100,
    warmup_epochs: int = 10,
    step_size: int = 30,
    decay: float = 0.5,
    progress=None,
) -> Result:
    """Step decay, cosine and warmup+cosine learning rates per epoch; the article's table."""

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


#: Schedules whose epoch 0 runs at the full rate (all but warmup_cosine), in the order compared with warmup.
NO_WARMUP = ("constant", "step", "exponential", "cosine")
#: The baseline every schedule is compared with.
BASELINE = "constant"
#: Page defaults of :func:`schedules`: at Adam's lr 0.1 (ten times its usual rate) the first full-size
#: steps throw the loss up, and warmup's lower early loss is bigger than seed noise; at 0.01 it is not.
DEFAULT_LR, DEFAULT_EPOCHS, DEFAULT_WARMUP = 0.3, 30, 3


def _jitter(val_loss) -> float | None:
    """Mean |change| of the validation loss per epoch over the last third of the run (None if < 2 epochs)."""
    v = np.asarray(val_loss, dtype=float)
    tail = v[len(v) - max(2, len(v) // 3) :] if len(v) >= 2 else v[:0]
    return float(np.mean(np.abs(np.diff(tail)))) if len(tail) >= 2 else None


def _early_loss(val_loss, n: int) -> float | None:
    """Mean validation loss over epochs 0 .. n - 1 (None if the run has none; inf if one is not finite)."""
    v = np.asarray(val_loss[:n], dtype=float)
    if not len(v):
        return None
    return float(v.mean()) if np.isfinite(v).all() else float("inf")


def _r(x, nd=4):
    return None if x is None or not np.isfinite(x) else round(float(x), nd)


@experiment(
    "schedules",
    schedules=ListOf(OneOf(SCHEDULES)),
    lr=T["lr"],
    optimizer=T["optimizer"],
    epochs=T["epochs"],
    warmup_epochs=T["warmup_epochs"].inner,
    depth=T["depth"],
    width=T["width"],
    n_train=T["n_train"].inner,
    seed=SEED,
    seeds=SEEDS,
)
def schedules(
    schedules: tuple = tuple(SCHEDULES),
    lr: float = DEFAULT_LR,
    optimizer: str = "adam",
    epochs: int = DEFAULT_EPOCHS,
    warmup_epochs: int = DEFAULT_WARMUP,
    depth: int = 6,
    width: int = 64,
    n_train: int = 500,
    seed: int = 0,
    seeds: int = DEFAULT_SEEDS,
    progress=None,
) -> Result:
    """The same digits network trained under each schedule, for ``seeds`` seeds (seed, seed + 1, ...).

    Every seed starts all schedules from the same weights and batch order; all (schedule, seed)
    runs train in one stack. Tables: ``runs`` (one row per schedule and seed), ``per_seed`` (per
    epoch and seed), ``curves`` (per epoch: mean and min/max over seeds), ``final`` (per schedule).
    ``summary["comparison"]``: final test accuracy of each schedule against constant lr
    (:func:`engine.experiments.common.compare_seeds`; None when constant is not trained).
    ``summary["warmup_comparison"]``: the mean validation loss over the first ``early_epochs``
    epochs (the warmup epochs, at least one) of warmup_cosine against the first of
    :data:`NO_WARMUP` trained, lower is better.
    """
    names = schedules
    seed_values = seed_list(seed, seeds)
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
    configs = {(s, k): base.replace(schedule=s, seed=k) for k in seed_values for s in names}
    for cfg in configs.values():
        budget.check(cfg)
    hist = train_seeded(configs, progress)
    early_epochs = max(1, warmup_epochs)

    frames = [curves({s: h}).rename(columns={"run": "schedule"}).assign(seed=k) for (s, k), h in hist.items()]
    per_seed = finite_only(pd.concat(frames, ignore_index=True)) if frames else pd.DataFrame()
    cols = ["lr", "train_loss", "val_loss", "val_acc", "test_loss", "test_acc"]
    per_epoch = seed_band(per_seed, ["schedule", "epoch"], cols) if len(per_seed) else pd.DataFrame()

    run_rows = [
        {
            "schedule": s,
            "seed": k,
            "final_val_acc": h.final_val_acc,
            "final_test_acc": h.final_test_acc,
            "early_val_loss": _early_loss(h.val_loss, early_epochs),
            "val_loss_epoch_0": h.val_loss[0] if h.val_loss else None,
            "late_jitter": _jitter(h.val_loss),
            "epochs_run": len(h.epoch),
            "diverged_epoch": h.diverged_epoch,
        }
        for (s, k), h in hist.items()
    ]
    runs = pd.DataFrame(run_rows)
    rows, rules = [], []
    for s in names:
        hs = [h for (name, _k), h in hist.items() if name == s]
        if not hs:
            continue
        g = runs[runs["schedule"] == s]
        div = [h.diverged_epoch for h in hs if h.diverged_epoch is not None]
        ok = not div and g["final_test_acc"].notna().all()
        test = pd.to_numeric(g["final_test_acc"], errors="coerce")
        val = pd.to_numeric(g["final_val_acc"], errors="coerce")
        rows.append(
            {
                "schedule": s,
                "seeds": len(hs),
                "final_test_acc": _r(test.mean()) if ok else None,
                "final_test_acc_min": _r(test.min()) if ok else None,
                "final_test_acc_max": _r(test.max()) if ok else None,
                "final_val_acc": _r(val.mean()) if ok else None,
                "early_val_loss": _r(pd.to_numeric(g["early_val_loss"], errors="coerce").mean()),
                "val_loss_epoch_0": _r(pd.to_numeric(g["val_loss_epoch_0"], errors="coerce").mean()),
                "lr_epoch_0": hs[0].lr[0] if hs[0].lr else None,
                "peak_lr": max(hs[0].lr) if hs[0].lr else None,
                "late_jitter": _r(pd.to_numeric(g["late_jitter"], errors="coerce").mean(), 5),
                "epochs_run": int(g["epochs_run"].max()),
                "diverged_seeds": len(div),
                "diverged_epoch": min(div) if div else None,
            }
        )
        if div:
            rules.append({"x": min(div), "label": f"{s} diverged"})
    final = finite_only(pd.DataFrame(rows))

    summary = {"diverged": [r["label"] for r in rules], "seeds": seed_values, "early_epochs": early_epochs}
    trained_names = set(runs["schedule"]) if len(runs) else set()
    summary["comparison"] = compare_seeds(runs, BASELINE, by="schedule") if BASELINE in trained_names else None
    chosen = final.dropna(subset=["final_val_acc"]).sort_values("final_val_acc", ascending=False)
    if len(chosen):  # validation chooses the schedule; its test accuracy is the result
        top = chosen.iloc[0]
        summary.update(best_schedule=str(top["schedule"]), best_test_acc=float(top["final_test_acc"]))
    without = next((s for s in NO_WARMUP if s in trained_names), None)
    summary["warmup_comparison"] = None
    if without is not None and "warmup_cosine" in trained_names:
        pair = runs[runs["schedule"].isin([without, "warmup_cosine"])]
        summary["warmup_comparison"] = compare_seeds(pair, without, by="schedule", value="early_val_loss")

    notes = []
    if rules:
        notes.append(
            warning(
                "Diverged (loss became inf/NaN, training stopped): "
                + ", ".join(r["label"].split()[0] for r in rules)
                + ". The curves end there; the dashed marker shows where."
            )
        )
    return Result(
        tables={
            "curves": per_epoch,
            "final": final,
            "runs": runs,
            "diverged": pd.DataFrame(rules, columns=["x", "label"]),
            "per_seed": per_seed,
        },
        summary=summary,
        notes=notes,
    )
