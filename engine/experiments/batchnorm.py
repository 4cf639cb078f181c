"""Experiments of the batch-normalization page.

* ``batchnorm_article``: the article's two seeded demos, computed with the engine's own
  :class:`~engine.layers.BatchNorm` and :func:`~engine.init.init_weights` (float64, the article's
  draw order), so the printed numbers come out exactly.
* ``batchnorm_lr``: the same deep network trained with and without BN over a grid of learning rates,
  over several seeds, with the sentences the page shows computed from the sweep.
* ``batchnorm_shift``: internal covariate shift, measured: how far each layer's pre-activation
  statistics move during training, with and without BN.
* ``batchnorm_noise``: how noisy batch statistics are at small batch sizes, from real activations.
* ``batchnorm_modes``: the same weights evaluated with batch statistics ("train mode") and with
  running statistics ("eval mode"), epoch by epoch, for several training batch sizes.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from engine.budget import check as check_budget
from engine.datasets import load, n_train_available
from engine.experiments.common import (
    DEFAULT_SEEDS,
    SEED,
    SEEDS,
    Result,
    compare_seeds,
    experiment,
    noise_words,
    seed_band,
    seed_list,
    train_many,
    warning,
)
from engine.init import init_weights
from engine.layers import Activation, BatchNorm, Linear, batch_starts
from engine.losses import softmax_cross_entropy
from engine.spec import Float, Int, ListOf
from engine.train import TRAIN_SPEC as T
from engine.train import TrainConfig, build_model, evaluate, finite_or_none, train

ARTICLE_SEED = 42
ARTICLE_LAYERS = 15
TRAIN_MODE, EVAL_MODE = "train mode", "eval mode"
WITH_BN, NO_BN = "with BN", "no BN"

#: Learning-rate grid of the sweep when none is given (log-spaced, half a decade apart).
DEFAULT_LRS = {
    "sgd": (0.01, 0.03, 0.1, 0.3, 1.0, 3.0),
    "momentum": (0.003, 0.01, 0.03, 0.1, 0.3, 1.0),
    "adam": (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1),
    "adamw": (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1),
}


#: The grid of an optimizer without its own entry in DEFAULT_LRS (five decades, half a decade apart).
FALLBACK_LRS = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)


def default_lrs(optimizer: str) -> tuple:
    """The learning-rate grid of the BN sweep for ``optimizer`` (FALLBACK_LRS when it has none)."""
    return DEFAULT_LRS.get(optimizer, FALLBACK_LRS)


# --------------------------------------------------------------------------- the article
def _relu_stack(x, rng, n_layers, width, use_bn):
    """The article's stack: per layer W ~ he init, z = x @ W, [BN], ReLU; (mean, std) per layer."""
    stats = []
    for _ in range(n_layers):
        z = x @ init_weights("he", width, width, rng)
        if use_bn:
            z = BatchNorm(width, dtype=np.float64).forward(z, training=True)
        x = np.maximum(z, 0.0)
        stats.append((float(x.mean()), float(x.std())))
    return stats


@experiment("batchnorm_article", seed=T["seed"], layers=Int(1, 100))
def batchnorm_article(seed: int = ARTICLE_SEED, layers: int = ARTICLE_LAYERS, progress=None) -> Result:
    """The article's BN demos: one batch before/after BN, then 15 ReLU layers with and without BN."""
    # (a) one batch of 32 samples x 64 units, shifted and scaled, through a fresh BatchNorm
    rng = np.random.RandomState(seed)
    z = rng.standard_normal((32, 64)) * 5 + 3
    z_bn = BatchNorm(64, dtype=np.float64).forward(z.copy(), training=True)
    before_after = pd.DataFrame(
        {
            "stage": ["before BN", "after BN"],
            "mean": [float(z.mean()), float(z_bn.mean())],
            "std": [float(z.std()), float(z_bn.std())],
        }
    )
    # both distributions binned on one grid of bins 0.5 wide, for the histogram
    edges = np.arange(np.floor(min(z.min(), z_bn.min())), np.ceil(max(z.max(), z_bn.max())) + 0.5, 0.5)
    histogram = pd.concat(
        [
            pd.DataFrame(
                {"stage": stage, "bin_start": edges[:-1], "bin_end": edges[1:], "count": np.histogram(v, edges)[0]}
            )
            for stage, v in (("before BN", z), ("after BN", z_bn))
        ],
        ignore_index=True,
    )
    # (b) a batch of 64 x 128 through `layers` He-initialised ReLU layers; the BN pass continues
    # the same random stream (the article does not reseed between the two passes)
    width, batch = 128, 64
    rng = np.random.RandomState(seed)
    no_bn = _relu_stack(rng.standard_normal((batch, width)), rng, layers, width, use_bn=False)
    with_bn = _relu_stack(rng.standard_normal((batch, width)), rng, layers, width, use_bn=True)
    table = pd.DataFrame(
        {
            "layer": np.arange(layers),
            "no_bn_mean": [m for m, _ in no_bn],
            "no_bn_std": [s for _, s in no_bn],
            "bn_mean": [m for m, _ in with_bn],
            "bn_std": [s for _, s in with_bn],
        }
    )
    tidy = pd.concat(
        [
            pd.DataFrame({"layer": table.layer, "run": run, "statistic": stat, "value": table[f"{prefix}_{stat}"]})
            for run, prefix in ((NO_BN, "no_bn"), (WITH_BN, "bn"))
            for stat in ("mean", "std")
        ],
        ignore_index=True,
    )
    summary = {
        "before_mean": float(z.mean()),
        "before_std": float(z.std()),
        "after_mean": float(z_bn.mean()),
        "after_std": float(z_bn.std()),
        "no_bn_std_range": [float(table.no_bn_std.min()), float(table.no_bn_std.max())],
        "bn_std_range": [float(table.bn_std.min()), float(table.bn_std.max())],
    }
    return Result(
        tables={"before_after": before_after, "layer_table": table, "layers": tidy, "histogram": histogram},
        summary=summary,
    )


# --------------------------------------------------------------------------- learning-rate sweep
#: A learning rate is *usable* when its mean final validation accuracy is at least this fraction of
#: the best mean validation accuracy anywhere on the sweep (with or without BN) and no seed diverged there.
USABLE_FRACTION = 0.9
#: Snake-case suffix of each run's summary keys (``best_lr_with_bn``, ``usable_lrs_no_bn``, ...).
KEY = {WITH_BN: "with_bn", NO_BN: "no_bn"}


def _spread_text(lo, hi):
    return f"{lo:.0%}–{hi:.0%}" if round(lo, 2) != round(hi, 2) else f"{lo:.0%}"


def _range_text(lrs):
    return "none" if not lrs else (f"{lrs[0]:g}" if len(lrs) == 1 else f"{lrs[0]:g} to {lrs[-1]:g}")


def _first_epoch(curve, target):
    """First 0-based epoch whose mean val_acc reaches ``target``, or None."""
    hit = curve[curve.val_acc >= target]
    return int(hit.epoch.iloc[0]) if len(hit) else None


def lr_key(lr: float) -> str:
    """The key of a learning rate in ``summary["comparison_by_lr"]``: ``f"{lr:g}"``."""
    return f"{float(lr):g}"


def _lr_verdicts(mean: pd.DataFrame, curves: pd.DataFrame, n_seeds: int, by_lr: dict) -> dict:
    """The sweep's sentences and numbers, every one computed from ``mean`` (one row per run, lr)
    and ``by_lr`` (lr key -> :func:`compare_seeds` of BN against no BN on final test accuracy)."""
    out = {}
    trained = mean[mean.n_diverged == 0]
    best_all = float(trained.val_acc.max()) if len(trained) else 0.0
    threshold = USABLE_FRACTION * best_all
    out["usable_threshold"] = threshold
    for label, k in KEY.items():
        part = trained[trained.run == label]
        usable = sorted(float(v) for v in part.lr[part.val_acc >= threshold])
        out[f"usable_lrs_{k}"] = usable
        out[f"largest_lr_that_trains_{k}"] = float(part.lr.max()) if len(part) else None
        best = part.loc[part.val_acc.idxmax()] if len(part) else None  # validation chooses the rate
        out[f"best_lr_{k}"] = None if best is None else float(best.lr)
        out[f"best_val_acc_{k}"] = None if best is None else float(best.val_acc)
        out[f"best_test_acc_{k}"] = None if best is None else float(best.test_acc)  # the result
    bn, nb = out["usable_lrs_with_bn"], out["usable_lrs_no_bn"]
    seeds = f"mean of {n_seeds} seeds" if n_seeds > 1 else "one seed"

    def usable_text(lrs, k):  # a side with no usable rate shows how close its best came
        best, lr = out[f"best_val_acc_{k}"], out[f"best_lr_{k}"]
        if lrs or best is None:
            return _range_text(lrs)
        return f"none (its best, {best:.2%} at lr {lr:g}, falls {(threshold - best) * 100:.2f} pts short)"

    rng_words = (
        f"rates reaching {threshold:.2%} validation accuracy ({USABLE_FRACTION:.0%} of the best on the sweep, "
        f"{seeds}): **{usable_text(nb, 'no_bn')}** without BN, **{usable_text(bn, 'with_bn')}** with BN."
    )
    if bn and nb and bn[-1] > nb[-1]:
        head = f"Batch norm extends the usable learning rates **upwards**: {rng_words}"
    elif bn and nb and bn[-1] == nb[-1] and bn[0] == nb[0]:
        head = f"Here batch norm does not change the usable range: {rng_words}"
    elif bn and not nb:
        head = f"Only the network with batch norm trains well here: {rng_words}"
    elif nb and not bn:
        head = f"Only the network without batch norm trains well here: {rng_words}"
    else:
        head = f"Usable {rng_words}"
    # the largest rate where BN trains and no BN diverges: the sharpest single contrast
    wide = mean.pivot(index="lr", columns="run")
    contrast = [
        lr
        for lr in wide.index
        if wide.loc[lr, ("n_diverged", NO_BN)] > 0 and wide.loc[lr, ("n_diverged", WITH_BN)] == 0
    ]
    if contrast:
        lr = max(contrast)
        head += (
            f" At lr {lr:g}, BN reaches {wide.loc[lr, ('test_acc', WITH_BN)]:.0%} test accuracy while the network "
            f"without BN diverges ({int(wide.loc[lr, ('n_diverged', NO_BN)])} of {n_seeds} seeds)."
        )
    out["headline"] = head
    # the smallest rate: which is better on test, and is the gap beyond seed noise?
    lr0 = float(wide.index.min())
    cmp = by_lr[lr_key(lr0)]
    a, b = cmp["mean"][NO_BN], cmp["mean"][WITH_BN]
    flag = cmp["beyond_noise"][WITH_BN]
    better = NO_BN if a > b else WITH_BN
    out["smallest_lr"] = {"lr": lr0, "no_bn": a, "with_bn": b, "better": better, "beyond_noise": flag}
    row = {label: mean[(mean.run == label) & (mean.lr == lr0)].iloc[0] for label in (WITH_BN, NO_BN)}
    ra, rb = row[NO_BN], row[WITH_BN]
    nums = (
        f"test accuracy no BN {a:.0%} (seeds {_spread_text(ra.test_acc_min, ra.test_acc_max)}), "
        f"with BN {b:.0%} (seeds {_spread_text(rb.test_acc_min, rb.test_acc_max)})"
    )
    if flag:
        out["small_rates"] = (
            f"At the smallest rate, {lr0:g}, the network **{better}** is better, {noise_words(flag)}: {nums}."
        )
    else:
        out["small_rates"] = f"At the smallest rate, {lr0:g}: {nums}, {noise_words(flag)}."
    # converging faster: epochs to reach a common target at each one's best rate
    lr_nb, lr_bn = out["best_lr_no_bn"], out["best_lr_with_bn"]
    out["converge"], out["curve_lrs"] = "", sorted({v for v in (lr_nb, lr_bn) if v is not None})
    out["epochs_to_target"] = []
    if lr_nb is not None and lr_bn is not None:
        target = USABLE_FRACTION * min(out["best_val_acc_no_bn"], out["best_val_acc_with_bn"])
        ep = {
            (label, lr): _first_epoch(curves[(curves.run == label) & (curves.lr == lr)], target)
            for label, lr in ((NO_BN, lr_nb), (WITH_BN, lr_nb), (WITH_BN, lr_bn))
        }
        out["epochs_to_target"] = [{"run": k[0], "lr": k[1], "epoch": v} for k, v in ep.items()]

        def when(e):
            return "never within the run" if e is None else f"after epoch {e}"

        words = (
            f"To reach {target:.0%} validation accuracy (mean of the seeds): without BN at its best rate "
            f"({lr_nb:g}) {when(ep[(NO_BN, lr_nb)])}; with BN at that same rate {when(ep[(WITH_BN, lr_nb)])}"
        )
        if lr_bn != lr_nb:
            words += f", and at its own best rate ({lr_bn:g}) {when(ep[(WITH_BN, lr_bn)])}"
        e_nb, e_bn = ep[(NO_BN, lr_nb)], ep[(WITH_BN, lr_bn)]
        if e_bn is not None and (e_nb is None or e_bn < e_nb):
            verdict = "With BN it gets there sooner, as the article says."
        elif e_nb is not None and (e_bn is None or e_nb < e_bn):
            verdict = (
                "Here the network without BN gets there sooner: the article's claim does not hold at these settings."
            )
        else:
            verdict = "Both get there in the same epoch here."
        out["converge"] = f"{words}. {verdict} (Epochs are counted from 0.)"
    return out


def _best_lr_words(cmp: dict, lrs: dict) -> str:
    """The sentence on ``summary["comparison"]``: each network at its own best rate, on test."""
    d, flag = cmp["diff"][WITH_BN], cmp["beyond_noise"][WITH_BN]
    return (
        f"Each at its own best rate (chosen on validation): test accuracy **{cmp['mean'][WITH_BN]:.1%}** with BN "
        f"(lr {lrs[WITH_BN]:g}) and **{cmp['mean'][NO_BN]:.1%}** without (lr {lrs[NO_BN]:g}), "
        f"{d * 100:+.1f} pts with BN: **{noise_words(flag)}**."
    )


@experiment(
    "batchnorm_lr",
    lrs=ListOf(Float(T["lr"].lo, T["lr"].hi), min_len=0, max_len=10, sort=True),
    optimizer=T["optimizer"],
    depth=T["depth"],
    width=T["width"],
    epochs=T["epochs"],
    batch_size=T["batch_size"],
    seed=SEED,
    seeds=SEEDS,
)
def batchnorm_lr(
    lrs: tuple = (),
    optimizer: str = "sgd",
    depth: int = 10,
    width: int = 64,
    epochs: int = 6,
    batch_size: int = 64,
    seed: int = 0,
    seeds: int = DEFAULT_SEEDS,
    progress=None,
) -> Result:
    """Final accuracy vs learning rate, the same deep ReLU net with and without BN.

    Every cell is trained with seeds ``seed .. seed + seeds - 1``, all in one stack per network.
    ``sweep`` has one row per (run, lr, seed) with the final validation and test accuracy; ``mean``
    the mean and min–max over seeds per (run, lr); ``curves_mean`` the mean validation accuracy per
    epoch (epochs every seed completed). Validation chooses (the usable range, each network's best
    rate); test accuracy is the result. ``summary["comparison"]``: :func:`compare_seeds` of BN against
    no BN on final test accuracy, each at its own best rate; ``summary["comparison_by_lr"]``: the
    same at every rate (key :func:`lr_key`). The ``headline``, ``small_rates``, ``best_lr_words``
    and ``converge`` sentences are computed from them.
    """
    lrs = lrs or default_lrs(optimizer)
    base = TrainConfig(
        depth=depth,
        width=width,
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        optimizer=optimizer,
        schedule="cosine",
        init="he",
        activation="relu",
    )
    n_seeds = seeds
    seeds = seed_list(seed, n_seeds)
    configs = {}
    for lr in lrs:
        for bn, label in ((True, WITH_BN), (False, NO_BN)):
            for sd in seeds:
                cfg = base.replace(lr=lr, batch_norm=bn, seed=sd)
                check_budget(cfg)
                configs[(label, lr, sd)] = cfg
    hists = train_many(configs, progress=progress, eval_train=False)  # the sweep shows no train figures
    rows, curves, splits = [], [], {}
    for (label, lr, sd), h in hists.items():
        diverged = h.diverged_epoch is not None
        if diverged:
            # The weights left when the loss blew up: their outputs are inf/NaN, so every
            # prediction collapses onto one class and the accuracy drops to about chance.
            data = splits[sd] = splits.get(sd) or load(base.dataset, sd)
            with np.errstate(all="ignore"):
                _, acc = evaluate(h.model, data.X_val.astype(np.float32), data.y_val)
                _, test = evaluate(h.model, data.X_test.astype(np.float32), data.y_test)
        else:
            acc = h.val_acc[-1] if h.val_acc else None
            test = h.test_acc[-1] if h.test_acc else None
        if acc is None:
            continue  # stopped before its first epoch
        rows.append(
            {
                "lr": lr,
                "run": label,
                "seed": sd,
                "val_acc": finite_or_none(acc),
                "test_acc": finite_or_none(test),
                "best_val_acc": max(h.val_acc) if h.val_acc else None,
                "diverged_epoch": h.diverged_epoch,
                "status": f"diverged in epoch {h.diverged_epoch} (from 0)" if diverged else "trained",
                "epochs_run": len(h.epoch),
            }
        )
        curves.append(
            pd.DataFrame(
                {
                    "run": label,
                    "lr": lr,
                    "seed": sd,
                    "epoch": h.epoch,
                    "val_loss": h.val_loss,
                    "val_acc": h.val_acc,
                    "test_acc": h.test_acc,
                }
            )
        )
    sweep = pd.DataFrame(rows)
    curves = pd.concat([c for c in curves if len(c)] or [pd.DataFrame()], ignore_index=True)
    band = seed_band(sweep, ["run", "lr"], ["val_acc", "test_acc", "best_val_acc"])
    band["n_diverged"] = sweep.groupby(["run", "lr"], sort=False)["diverged_epoch"].count().to_numpy()
    mean = band[
        ["run", "lr", "val_acc", "val_acc_min", "val_acc_max", "test_acc", "test_acc_min", "test_acc_max"]
        + ["best_val_acc", "n_seeds", "n_diverged"]
    ]
    mean["status"] = np.where(
        mean.n_diverged == 0, "trained", [f"diverged ({k} of {n} seeds)" for k, n in zip(mean.n_diverged, mean.n_seeds)]
    )
    # mean curve over seeds, for the epochs every seed of that cell completed
    cm = curves.groupby(["run", "lr", "epoch"], sort=False).agg(
        val_acc=("val_acc", "mean"), val_loss=("val_loss", "mean"), test_acc=("test_acc", "mean"), n=("seed", "size")
    )
    curves_mean = cm[cm.n == n_seeds].drop(columns="n").reset_index()
    summary, warnings = {"n_lrs": len(lrs), "seeds": seeds}, []
    complete = len(mean) == 2 * len(lrs) and (mean.n_seeds == n_seeds).all()
    summary["comparison"], summary["comparison_by_lr"] = None, {}
    if complete:
        by_lr = {lr_key(lr): compare_seeds(part, NO_BN, by="run", value="test_acc") for lr, part in sweep.groupby("lr")}
        summary["comparison_by_lr"] = by_lr
        summary.update(_lr_verdicts(mean, curves_mean, n_seeds, by_lr))
        best = {label: summary[f"best_lr_{k}"] for label, k in KEY.items()}
        if None not in best.values():  # each network at its own best rate, chosen on validation
            at_best = pd.concat([sweep[(sweep.run == label) & (sweep.lr == lr)] for label, lr in best.items()])
            summary["comparison"] = compare_seeds(at_best, NO_BN, by="run", value="test_acc")
            summary["comparison"]["lr"] = {label: lr for label, lr in best.items()}
            summary["best_lr_words"] = _best_lr_words(summary["comparison"], best)
    for label, k in KEY.items():
        div = mean[(mean.run == label) & (mean.n_diverged > 0)]
        summary[f"diverged_{k}"] = int(div.n_diverged.sum())
        if len(div):
            cells = ", ".join(f"{r.lr:g} ({r.n_diverged} of {r.n_seeds} seeds)" for r in div.itertuples())
            bad = sweep[(sweep.run == label) & sweep.diverged_epoch.notna()]
            epochs_at = ", ".join(str(int(e)) for e in sorted(bad.diverged_epoch.unique()))
            warnings.append(
                f"**{label}** diverged at learning rate {cells}, in epoch {epochs_at} (from 0): the loss became "
                "infinite and training stopped. Each ✕ marks the accuracy of the weights left at that "
                f"point (mean {bad.test_acc.mean():.0%} on test); chance level on 10 classes is 10 %."
            )
    summary["warnings"] = warnings
    return Result(tables={"sweep": sweep, "mean": mean, "curves": curves, "curves_mean": curves_mean}, summary=summary)


# --------------------------------------------------------------------------- covariate shift, measured
ACT_INPUT, PRE_BN = "activation input", "linear output (before BN)"
#: The three measured series: the activation's input without BN and with BN (after BN), and the
#: linear output before BN inside the BN network.
SHIFT_SERIES = {
    (NO_BN, ACT_INPUT): NO_BN,
    (WITH_BN, ACT_INPUT): "with BN (after BN)",
    (WITH_BN, PRE_BN): "with BN, before BN",
}


def _pre_activations(model, X) -> list[dict]:
    """Per hidden block: per-unit mean and std of the linear output and of the activation's input
    (the same array without BN; the BN output with it), on ``X``.

    BN normalises with the statistics of ``X`` itself, as in a training step on that batch; its
    running statistics are saved and restored, so measuring does not change the model.
    """
    bns = [layer for layer in model.layers if isinstance(layer, BatchNorm)]
    saved = [(b.running_mean.copy(), b.running_var.copy()) for b in bns]
    h, out = np.asarray(X, dtype=model.dtype), []
    for start, stop, skip in model.blocks[:-1]:
        y, rec = h, {}
        for layer in model.layers[start:stop]:
            if isinstance(layer, Activation):
                rec[ACT_INPUT] = np.asarray(y, dtype=np.float64)
            y = layer.forward(y, training=isinstance(layer, BatchNorm))
            if isinstance(layer, Linear):
                rec[PRE_BN] = np.asarray(y, dtype=np.float64)
        out.append({k: (v.mean(axis=0), v.std(axis=0)) for k, v in rec.items()})
        h = h + y if skip else y
    for b, (m, v) in zip(bns, saved):
        b.running_mean[...] = m
        b.running_var[...] = v
    return out


def _shift(now, start):
    """How far a layer's per-unit (mean, std) moved from ``start``, in units of its initial spread:
    sqrt(mean_j[(mu_j - mu0_j)^2 + (sd_j - sd0_j)^2] / mean_j[sd0_j^2])."""
    (mu, sd), (mu0, sd0) = now, start
    scale = float(np.mean(sd0**2))
    if not scale > 0:
        return None
    return finite_or_none(np.sqrt(np.mean((mu - mu0) ** 2 + (sd - sd0) ** 2) / scale))


#: Page defaults of :func:`batchnorm_shift` (the page describes the run from them).
SHIFT_DEFAULTS = {"depth": 10, "width": 64, "epochs": 6, "lr": 0.1, "optimizer": "sgd", "batch_size": 64, "probe": 256}


@experiment(
    "batchnorm_shift",
    depth=T["depth"],
    width=T["width"],
    epochs=T["epochs"],
    lr=T["lr"],
    optimizer=T["optimizer"],
    batch_size=T["batch_size"],
    probe=Int(2, 1024),
    seed=SEED,
    seeds=SEEDS,
)
def batchnorm_shift(
    depth: int = SHIFT_DEFAULTS["depth"],
    width: int = SHIFT_DEFAULTS["width"],
    epochs: int = SHIFT_DEFAULTS["epochs"],
    lr: float = SHIFT_DEFAULTS["lr"],
    optimizer: str = SHIFT_DEFAULTS["optimizer"],
    batch_size: int = SHIFT_DEFAULTS["batch_size"],
    probe: int = SHIFT_DEFAULTS["probe"],
    seed: int = 0,
    seeds: int = DEFAULT_SEEDS,
    progress=None,
) -> Result:
    """Internal covariate shift, measured: how far each layer's pre-activations move during training.

    The same deep ReLU net (He init, cosine decay) trains with and without BN, with seeds
    ``seed .. seed + seeds - 1``, all runs of one network in one stack (:func:`train_many`).
    Before training and after every epoch it runs on one fixed batch of ``probe`` training images
    and records, per hidden layer and unit, the mean and std of the activation's input (and, with
    BN, of the linear output before BN). ``shift`` is how far those per-unit statistics moved from
    their values at initialisation, in units of the initial spread (see :func:`_shift`);
    ``epochs_trained`` counts epochs (0 = at initialisation). Tables: ``layers`` (per series, seed,
    epoch, layer), ``runs`` (per series and seed: the final shift, mean over layers), ``shift``
    (per series and epoch: mean and min/max over seeds). ``summary["comparison"]``: the final shift
    with BN (after BN) against no BN (:func:`compare_seeds`); ``shift_reduced_beyond_noise`` is its
    ``beyond_noise`` flag when the shift is smaller with BN.
    """
    base = TrainConfig(
        depth=depth,
        width=width,
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        seed=seed,
        optimizer=optimizer,
        schedule="cosine",
        init="he",
        activation="relu",
    )
    seed_values = seed_list(seed, seeds)
    configs, probes, starts = {}, {}, {}
    for bn, label in ((True, WITH_BN), (False, NO_BN)):
        for sd in seed_values:
            cfg = base.replace(batch_norm=bn, seed=sd)
            check_budget(cfg)
            configs[f"{label}|{sd}"] = cfg
    rows = []

    def record(key, model, trained):
        label, sd = key.split("|")
        with np.errstate(all="ignore"):
            stats = _pre_activations(model, probes[int(sd)])
        for layer, (now, then) in enumerate(zip(stats, starts[key]), start=1):
            for stage, (mu, sd_) in now.items():
                if stage == PRE_BN and label == NO_BN:
                    continue  # without BN the linear output is the activation's input
                rows.append(
                    {
                        "run": label,
                        "stage": stage,
                        "seed": int(sd),
                        "epochs_trained": trained,
                        "layer": layer,
                        "mean": finite_or_none(mu.mean()),
                        "std": finite_or_none(np.sqrt(np.mean(sd_**2 + (mu - mu.mean()) ** 2))),
                        "shift": _shift((mu, sd_), then[stage]),
                    }
                )

    data = {}
    for key, cfg in configs.items():  # the weights training starts from: the same draws train() makes
        if cfg.seed not in data:
            data[cfg.seed] = load(cfg.dataset, cfg.seed)
            probes[cfg.seed] = data[cfg.seed].X_train[:probe].astype(np.float32)
        model0 = build_model(cfg, data[cfg.seed].n_features, data[cfg.seed].n_classes)
        starts[key] = _pre_activations(model0, probes[cfg.seed])
        record(key, model0, 0)
    hists = train_many(
        configs, progress, eval_train=False, on_epoch=lambda key, epoch, h: record(key, h.model, epoch + 1)
    )
    stop = len(hists) < len(configs) or any(h.stop_reason == "callback" for h in hists.values())
    layers = pd.DataFrame(
        rows, columns=["run", "stage", "seed", "epochs_trained", "layer", "mean", "std", "shift"]
    ).astype({"mean": float, "std": float, "shift": float})
    layers.insert(0, "series", [SHIFT_SERIES[k] for k in zip(layers.run, layers.stage)])
    per_seed = layers.groupby(["series", "seed", "epochs_trained"], as_index=False, sort=False)["shift"].mean()
    curve = seed_band(per_seed, ["series", "epochs_trained"], ["shift"])
    runs = per_seed[per_seed.epochs_trained == epochs].drop(columns="epochs_trained").reset_index(drop=True)
    summary, notes = {"seeds": seed_values, "epochs": epochs, "comparison": None}, []
    last = curve[(curve.epochs_trained == epochs) & (curve.n_seeds == seeds)].set_index("series")
    nb, bn, pre = (SHIFT_SERIES[k] for k in ((NO_BN, ACT_INPUT), (WITH_BN, ACT_INPUT), (WITH_BN, PRE_BN)))
    if not stop and {nb, bn, pre} <= set(last.index):
        for k, name in ((nb, "no_bn"), (bn, "with_bn"), (pre, "before_bn")):
            summary[f"shift_{name}"] = float(last.loc[k, "shift"])
            summary[f"shift_range_{name}"] = [float(last.loc[k, "shift_min"]), float(last.loc[k, "shift_max"])]
        cmp = compare_seeds(runs, nb, by="series", value="shift")
        summary["comparison"] = cmp
        flag = cmp["beyond_noise"][bn]
        a, b, c = (last.loc[k].to_dict() for k in (nb, bn, pre))
        if seeds > 1:
            spread_words = (
                f"mean over {depth} layers and {seeds} seeds; seeds "
                f"{a['shift_min']:.2f}–{a['shift_max']:.2f} and {b['shift_min']:.2f}–{b['shift_max']:.2f}"
            )
        else:
            spread_words = f"mean over {depth} layers, one seed"
        after = f"After {epochs} epoch{'s' if epochs != 1 else ''}"
        words = (
            f"{after}, the input of each activation has moved by **{a['shift']:.2f}** of its initial "
            f"spread without BN and by **{b['shift']:.2f}** with BN ({spread_words}). The difference: "
            f"**{noise_words(flag)}**."
        )
        if flag and b["shift"] < a["shift"]:
            words += f" So BN does reduce this shift, by about {a['shift'] / b['shift']:.0f}×."
        elif flag:
            words += f" So here the shift is *larger* with BN, by about {b['shift'] / a['shift']:.1f}×."
        words += f" Inside the BN network the linear outputs, before BN, moved by **{c['shift']:.2f}**: " + (
            "BN does not stop the weights from moving the distribution; it re-normalises it on every batch."
            if c["shift"] > b["shift"]
            else "no more than after BN."
        )
        final = layers[(layers.epochs_trained == epochs) & (layers.series == nb)].groupby("layer")["shift"].mean()
        if len(final) > 1 and final.iloc[-1] > final.iloc[0]:
            words += (
                f" Without BN the shift builds up through the network: layer 1 moved by {final.iloc[0]:.2f}, "
                f"layer {final.index[-1]} by {final.iloc[-1]:.2f}, because each layer's input also carries every "
                "change made in the layers below it."
            )
        summary["what_the_data_shows"] = words
        summary["shift_reduced_beyond_noise"] = None if flag is None else bool(flag and b["shift"] < a["shift"])
    elif stop:
        notes.append(warning("Stopped before every run finished: no comparison."))
    return Result(
        tables={"layers": layers, "runs": runs, "shift": curve.drop(columns="n_seeds")}, summary=summary, notes=notes
    )


# --------------------------------------------------------------------------- batch-size noise
def _pre_bn_activations(model, X, block):
    """Inputs of the BatchNorm of hidden block ``block`` (1-based) for all of X, in eval mode."""
    h = np.asarray(X, dtype=model.dtype)
    for start, stop, skip in model.blocks[: block - 1]:
        y = h
        for layer in model.layers[start:stop]:
            y = layer.forward(y, training=False)
        h = h + y if skip else y
    start = model.blocks[block - 1][0]
    assert isinstance(model.layers[start], Linear)
    return model.layers[start].forward(h, training=False).astype(np.float64)


@experiment(
    "batchnorm_noise",
    batch_sizes=ListOf(Int(2, lambda v: n_train_available("digits")), max_len=8, sort=True),
    layer=Int(1, lambda v: v["depth"] if isinstance(v.get("depth"), int) and 1 <= v["depth"] <= 20 else 20),
    draws=Int(10, 5000),
    depth=Int(1, 20),
    width=T["width"],
    epochs=T["epochs"],
    seed=T["seed"],
)
def batchnorm_noise(
    batch_sizes: tuple = (2, 4, 8, 16, 32, 64, 128, 256),
    layer: int = 2,
    draws: int = 300,
    depth: int = 4,
    width: int = 64,
    epochs: int = 3,
    seed: int = 0,
    progress=None,
) -> Result:
    """How far one mini-batch's mean/std stray from the whole data's, vs batch size (real activations)."""
    cfg = TrainConfig(depth=depth, width=width, epochs=epochs, seed=seed, batch_norm=True, schedule="constant")
    check_budget(cfg)
    data = load(cfg.dataset, seed)
    n = len(data.X_train)
    h = train(
        cfg, data=data, on_epoch=(lambda e, _h: progress((e + 1) / (cfg.epochs + 1), "training") if progress else True)
    )
    z = _pre_bn_activations(h.model, data.X_train, layer)  # (n, width): the real inputs of that BN
    mu, sd = z.mean(axis=0), z.std(axis=0)
    keep = sd > 1e-8  # units that never vary carry no information about noise
    z, mu, sd = z[:, keep], mu[keep], sd[keep]
    rng = np.random.default_rng([seed, 7])
    rows = []
    for bs in batch_sizes:
        idx = np.argsort(rng.random((draws, n)), axis=1)[:, :bs]  # draws batches without replacement
        zb = z[idx]  # (draws, bs, units)
        bmean, bstd = zb.mean(axis=1), zb.std(axis=1)
        xhat_batch = (zb - bmean[:, None, :]) / np.sqrt(bstd[:, None, :] ** 2 + 1e-5)
        xhat_pop = (zb - mu) / np.sqrt(sd**2 + 1e-5)
        measures = {
            "batch mean": float(np.mean(np.sqrt(np.mean((bmean - mu) ** 2, axis=0)) / sd)),
            "batch std": float(np.mean(np.sqrt(np.mean((bstd - sd) ** 2, axis=0)) / sd)),
            "normalised value": float(np.sqrt(np.mean((xhat_batch - xhat_pop) ** 2))),
            "1/√B (theory)": 1.0 / math.sqrt(bs),
        }
        rows += [
            {
                "batch_size": int(bs),
                "measure": k,
                "kind": "theory" if "theory" in k else "measured",
                "value": finite_or_none(v),
            }
            for k, v in measures.items()
        ]
    noise = pd.DataFrame(rows)
    pick = noise[noise.measure == "normalised value"].set_index("batch_size").value
    bmean = noise[noise.measure == "batch mean"].set_index("batch_size").value
    summary = {
        "layer": layer,
        "units": int(keep.sum()),
        "n_train": int(n),
        # per batch size (keys: the size as a string, for JSON): the batch mean's error over 1/√B,
        # and the RMS error of a normalised value
        "batch_mean_error_ratio": {str(int(b)): float(v * math.sqrt(b)) for b, v in bmean.items()},
        "normalised_value_rms_error": {str(int(b)): float(v) for b, v in pick.items()},
        "trained_val_acc": h.final_val_acc,
    }
    return Result(tables={"noise": noise}, summary=summary)


# --------------------------------------------------------------------------- train vs eval mode
def _batch_stats_eval(model, X, y, bs, rng):
    """(loss, acc) of X with every BatchNorm using the statistics of random batches of ``bs``.

    The forward pass in training mode also updates the running statistics, so they are saved
    and restored: evaluating must not change the model.
    """
    bns = [layer for layer in model.layers if isinstance(layer, BatchNorm)]
    saved = [(b.running_mean.copy(), b.running_var.copy()) for b in bns]
    order = rng.permutation(len(X))
    starts = batch_starts(len(X), bs)
    loss_sum, correct, seen = 0.0, 0, 0
    for s in starts:
        idx = order[s : s + bs]
        logits = model.forward(X[idx], training=True)
        loss, _ = softmax_cross_entropy(logits, y[idx])
        loss_sum += loss * len(idx)
        correct += int((logits.argmax(1) == y[idx]).sum())
        seen += len(idx)
    for b, (m, v) in zip(bns, saved):
        b.running_mean[...] = m
        b.running_var[...] = v
    return loss_sum / seen, correct / seen


@experiment(
    "batchnorm_modes",
    batch_sizes=ListOf(T["batch_size"], max_len=6, sort=True),
    epochs=T["epochs"],
    depth=T["depth"],
    width=T["width"],
    lr=T["lr"],
    seed=T["seed"],
)
def batchnorm_modes(
    batch_sizes: tuple = (8, 32, 256),
    epochs: int = 4,
    depth: int = 4,
    width: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
    progress=None,
) -> Result:
    """Validation accuracy of the same weights with batch statistics vs running statistics, per epoch."""
    base = TrainConfig(
        depth=depth,
        width=width,
        epochs=epochs,
        lr=lr,
        seed=seed,
        batch_norm=True,
        optimizer="adam",
        schedule="constant",
    )
    configs = {bs: base.replace(batch_size=bs) for bs in batch_sizes}
    for cfg in configs.values():
        check_budget(cfg)
    data = load(base.dataset, seed)
    Xva, yva = data.X_val.astype(np.float32), data.y_val
    # cost of an epoch grows with the number of steps, ~ 1/batch size: weight progress by it
    weight = {bs: cfg.epochs * (1 + 64 / bs) for bs, cfg in configs.items()}
    total, done = sum(weight.values()), 0.0
    rows = []
    for bs, cfg in configs.items():
        rng = np.random.default_rng([seed, bs])

        def cb(epoch, hist, _bs=bs, _done=done, _rng=rng, _n=cfg.epochs):
            model = hist.model
            for mode, (loss, acc) in (
                (EVAL_MODE, evaluate(model, Xva, yva)),
                (TRAIN_MODE, _batch_stats_eval(model, Xva, yva, _bs, _rng)),
            ):
                rows.append(
                    {
                        "batch_size": _bs,
                        "epoch": epoch,
                        "mode": mode,
                        "val_loss": finite_or_none(loss),
                        "val_acc": float(acc),
                    }
                )
            if progress is None:
                return True
            return progress(
                (_done + weight[_bs] * (epoch + 1) / _n) / total, f"batch size {_bs}: epoch {epoch + 1}/{_n}"
            )

        h = train(cfg, on_epoch=cb, data=data)
        done += weight[bs]
        if h.stop_reason == "callback":
            break
    curves = pd.DataFrame(rows, columns=["batch_size", "epoch", "mode", "val_loss", "val_acc"])
    final = curves.sort_values("epoch").groupby(["batch_size", "mode"], as_index=False).last()
    wide = final.pivot(index="batch_size", columns="mode", values="val_acc")
    gap = pd.DataFrame(
        {
            "batch_size": wide.index.astype(int),
            "eval_mode_acc": wide.get(EVAL_MODE),
            "train_mode_acc": wide.get(TRAIN_MODE),
        }
    ).reset_index(drop=True)
    gap["gap"] = gap.eval_mode_acc - gap.train_mode_acc
    first = curves[curves.epoch == 0].pivot(index="batch_size", columns="mode", values="val_acc")
    gap["gap_after_epoch_0"] = (first[EVAL_MODE] - first[TRAIN_MODE]).reindex(gap.batch_size).to_numpy()
    summary = {f"gap_at_batch_{int(r.batch_size)}": float(r.gap) for r in gap.itertuples()}
    return Result(tables={"curves": curves, "final": final, "gap": gap}, summary=summary)
