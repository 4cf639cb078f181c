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
from engine.experiments.common import Result, curves, experiment, finite_only, train_many
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
SEEDS_RANGE = (1, 5)


def _jitter(val_loss) -> float | None:
    """Mean |change| of the validation loss per epoch over the last third of the run (None if < 2 epochs)."""
    v = np.asarray(val_loss, dtype=float)
    tail = v[len(v) - max(2, len(v) // 3) :] if len(v) >= 2 else v[:0]
    return float(np.mean(np.abs(np.diff(tail)))) if len(tail) >= 2 else None


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
    seed=T["seed"],
    seeds=Int(*SEEDS_RANGE),
)
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
    seeds: int = 1,
    progress=None,
) -> Result:
    """The same digits network trained under each schedule, for ``seeds`` seeds (seed, seed + 1, ...).

    Curves and the final table are means over the seeds (with min and max); every seed starts all
    schedules from the same weights and batch order. ``summary["warmup_start"]`` compares the
    validation loss after epoch 0 with warmup (warmup_cosine) and without (the first of
    :data:`NO_WARMUP` trained), per seed; ``summary["best_beyond_noise"]`` says whether the best
    schedule's worst seed beats the runner-up's best one.
    """
    names = schedules
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
    configs = {(s, k): base.replace(schedule=s, seed=seed + k) for k in range(seeds) for s in names}
    for cfg in configs.values():
        budget.check(cfg)
    labels = {key: (key[0] if seeds == 1 else f"{key[0]} (seed {seed + key[1]})") for key in configs}
    trained = train_many({labels[key]: cfg for key, cfg in configs.items()}, progress)
    hist = {key: trained[labels[key]] for key in configs if labels[key] in trained}

    per_seed = finite_only(curves({f"{s}|{k}": h for (s, k), h in hist.items()}))
    per_seed[["schedule", "seed"]] = per_seed["run"].str.split("|", expand=True)
    per_seed["seed"] = per_seed["seed"].astype(int) + seed
    per_seed = per_seed.drop(columns="run")
    per_epoch = (
        per_seed.groupby(["schedule", "epoch"], sort=False)
        .agg(
            lr=("lr", "mean"),
            train_loss=("train_loss", "mean"),
            val_loss=("val_loss", "mean"),
            val_loss_min=("val_loss", "min"),
            val_loss_max=("val_loss", "max"),
            train_acc=("train_acc", "mean"),
            val_acc=("val_acc", "mean"),
            seeds=("val_acc", "size"),
        )
        .reset_index()
    )
    rows, rules = [], []
    for s in names:
        hs = [h for (name, _k), h in hist.items() if name == s]
        if not hs:
            continue
        div = [h.diverged_epoch for h in hs if h.diverged_epoch is not None]
        finals = [h.final_val_acc for h in hs if h.final_val_acc is not None and h.diverged_epoch is None]
        ok = bool(finals) and not div
        v0 = [h.val_loss[0] for h in hs if h.val_loss]
        jit = [j for j in (_jitter(h.val_loss) for h in hs) if j is not None]
        rows.append(
            {
                "schedule": s,
                "seeds": len(hs),
                "final_val_acc": float(np.mean(finals)) if ok else None,
                "final_val_acc_min": float(min(finals)) if ok else None,
                "final_val_acc_max": float(max(finals)) if ok else None,
                "best_val_acc": float(np.mean([max(h.val_acc) for h in hs if h.val_acc])) if v0 else None,
                "final_val_loss": float(np.mean([h.val_loss[-1] for h in hs if h.val_loss])) if v0 else None,
                "min_val_loss": float(np.mean([min(h.val_loss) for h in hs if h.val_loss])) if v0 else None,
                "val_loss_epoch_0": float(np.mean(v0)) if v0 else None,
                "val_acc_epoch_0": float(np.mean([h.val_acc[0] for h in hs if h.val_acc])) if v0 else None,
                "lr_epoch_0": hs[0].lr[0] if hs[0].lr else None,
                "peak_lr": max(hs[0].lr) if hs[0].lr else None,
                "late_jitter": float(np.mean(jit)) if jit else None,
                "epochs_run": len(hs[0].epoch),
                "diverged_seeds": len(div),
                "diverged_epoch": min(div) if div else None,
            }
        )
        if div:
            rules.append({"x": min(div), "label": f"{s} diverged"})
    final = finite_only(pd.DataFrame(rows))
    ranked = final.dropna(subset=["final_val_acc"]).sort_values("final_val_acc", ascending=False)

    notes = []
    summary = {"diverged": [r["label"] for r in rules], "seeds": seeds}
    if len(ranked):
        top = ranked.iloc[0]
        summary.update(best_schedule=str(top["schedule"]), best_final_val_acc=float(top["final_val_acc"]))
        for r in ranked.itertuples():
            summary[f"final_val_acc_{r.schedule}"] = float(r.final_val_acc)
        summary["final_val_acc_range"] = [float(ranked["final_val_acc"].min()), float(ranked["final_val_acc"].max())]
        if len(ranked) > 1:
            nxt = ranked.iloc[1]
            summary["runner_up"] = str(nxt["schedule"])
            summary["best_beyond_noise"] = bool(seeds > 1 and top["final_val_acc_min"] > nxt["final_val_acc_max"])
    if "constant" in _names(hist) and "warmup_cosine" in _names(hist):
        c0 = _first(hist, "constant", "val_acc")
        w0 = _first(hist, "warmup_cosine", "val_acc")
        if c0 is not None and w0 is not None:
            summary.update(val_acc_epoch_0_constant=c0, val_acc_epoch_0_warmup_cosine=w0)
    without = next((s for s in NO_WARMUP if s in _names(hist)), None)
    if without is not None and "warmup_cosine" in _names(hist):
        pairs = [
            (hist[("warmup_cosine", k)].val_loss[0], hist[(without, k)].val_loss[0])
            for k in range(seeds)
            if ("warmup_cosine", k) in hist
            and (without, k) in hist
            and hist[("warmup_cosine", k)].val_loss
            and hist[(without, k)].val_loss
        ]
        if pairs:
            w, n = np.array(pairs).T
            summary["warmup_start"] = {
                "without": without,
                "val_loss_epoch_0_warmup": float(w.mean()),
                "val_loss_epoch_0_without": float(n.mean()),
                "lower_with_warmup_in": int(np.sum(w < n)),
                "seeds": len(pairs),
            }
    if rules:
        notes.append(
            "Diverged (loss became inf/NaN, training stopped): "
            + ", ".join(r["label"].split()[0] for r in rules)
            + ". The curves end there; the dashed marker shows where."
        )
    return Result(
        tables={
            "curves": per_epoch,
            "final": final,
            "diverged": pd.DataFrame(rules, columns=["x", "label"]),
            "per_seed": per_seed,
        },
        summary=summary,
        notes=notes,
    )


def _names(hist: dict) -> set:
    """Schedules with at least one trained run in ``hist`` (keyed by (schedule, seed index))."""
    return {s for s, _k in hist}


def _first(hist: dict, schedule: str, field: str):
    """Mean over seeds of ``field``'s epoch-0 value for ``schedule`` (None if no run has one)."""
    v = [getattr(h, field)[0] for (s, _k), h in hist.items() if s == schedule and getattr(h, field)]
    return float(np.mean(v)) if v else None
