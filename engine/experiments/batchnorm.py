"""Experiments of the batch-normalization page.

* ``batchnorm_article``: the article's two seeded demos, computed with the engine's own
  :class:`~engine.layers.BatchNorm` and :func:`~engine.init.init_weights` (float64, the article's
  draw order), so the printed numbers come out exactly.
* ``batchnorm_lr``: the same deep network trained with and without BN over a grid of learning rates.
* ``batchnorm_noise``: how noisy batch statistics are at small batch sizes, from real activations.
* ``batchnorm_modes``: the same weights evaluated with batch statistics ("train mode") and with
  running statistics ("eval mode"), epoch by epoch, for several training batch sizes.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import pandas as pd

from engine.budget import check as check_budget
from engine.datasets import load
from engine.experiments.common import Result, experiment
from engine.experiments.common import check_int as _int
from engine.init import init_weights
from engine.layers import BatchNorm, Linear
from engine.losses import softmax_cross_entropy
from engine.optim import OPTIMIZERS
from engine.train import LIMITS, TrainConfig, evaluate, train

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


# --------------------------------------------------------------------------- validation helpers


def _ints(name, values, lo, hi, max_len=8):
    """A non-empty tuple of distinct ints in [lo, hi], sorted."""
    values = tuple(values) if isinstance(values, (tuple, list)) else (values,)
    if not 1 <= len(values) <= max_len:
        raise ValueError(f"{name} must list 1 to {max_len} values; got {len(values)}")
    return tuple(sorted({_int(name, v, lo, hi) for v in values}))


def _floats(name, values, lo, hi, max_len=10):
    """A non-empty tuple of distinct finite floats in [lo, hi], sorted."""
    values = tuple(values) if isinstance(values, (tuple, list)) else (values,)
    if not 1 <= len(values) <= max_len:
        raise ValueError(f"{name} must list 1 to {max_len} values; got {len(values)}")
    out = set()
    for v in values:
        ok = isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v) and lo <= v <= hi
        if not ok:
            raise ValueError(f"{name} must be numbers in [{lo}, {hi}]; got {v!r}")
        out.add(float(v))
    return tuple(sorted(out))


def _finite(x):
    """A plain float, or None when not finite."""
    x = float(x)
    return x if math.isfinite(x) else None


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


@experiment("batchnorm_article")
def batchnorm_article(seed: int = ARTICLE_SEED, layers: int = ARTICLE_LAYERS, progress=None) -> Result:
    """The article's BN demos: one batch before/after BN, then 15 ReLU layers with and without BN."""
    seed = _int("seed", seed, *LIMITS["seed"])
    layers = _int("layers", layers, 1, 100)
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
@experiment("batchnorm_lr")
def batchnorm_lr(
    lrs: tuple = (),
    optimizer: str = "sgd",
    depth: int = 10,
    width: int = 64,
    epochs: int = 6,
    batch_size: int = 64,
    seed: int = 0,
    progress=None,
) -> Result:
    """Final validation accuracy vs learning rate, the same deep ReLU net with and without BN."""
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}; got {optimizer!r}")
    lrs = _floats("lrs", lrs or DEFAULT_LRS[optimizer], *LIMITS["lr"])
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
    configs = {}
    for lr in lrs:
        for bn, label in ((True, WITH_BN), (False, NO_BN)):
            cfg = base.replace(lr=lr, batch_norm=bn)
            check_budget(cfg)
            configs[(label, lr)] = cfg
    data = load(base.dataset, seed)
    Xva, yva = data.X_val.astype(np.float32), data.y_val
    total = sum(c.epochs for c in configs.values())
    done, rows, curves = 0, [], []
    for (label, lr), cfg in configs.items():

        def cb(epoch, hist, _base=done, _label=label, _lr=lr, _n=cfg.epochs):
            if progress is None:
                return True
            return progress((_base + epoch + 1) / total, f"{_label}, lr={_lr:g}: epoch {epoch + 1}/{_n}")

        h = train(cfg, on_epoch=cb, data=data)
        done += cfg.epochs
        diverged = h.diverged_epoch is not None
        if diverged:
            # The weights left when the loss blew up: their outputs are inf/NaN, so every
            # prediction collapses onto one class and the accuracy drops to about chance.
            with np.errstate(all="ignore"):
                _, acc = evaluate(h.model, Xva, yva)
        else:
            acc = h.val_acc[-1] if h.val_acc else None
        rows.append(
            {
                "lr": lr,
                "run": label,
                "val_acc": _finite(acc) if acc is not None else None,
                "best_val_acc": max(h.val_acc) if h.val_acc else None,
                "train_acc": h.train_acc[-1] if h.train_acc else None,
                "diverged_epoch": h.diverged_epoch,
                "status": f"diverged in epoch {h.diverged_epoch + 1}" if diverged else "trained",
                "epochs_run": len(h.epoch),
            }
        )
        curves.append(
            pd.DataFrame(
                {
                    "run": label,
                    "lr": lr,
                    "epoch": h.epoch,
                    "train_loss": h.train_loss,
                    "val_loss": h.val_loss,
                    "val_acc": h.val_acc,
                }
            )
        )
        if h.stop_reason == "callback":
            break
    sweep = pd.DataFrame(rows)
    curves = pd.concat([c for c in curves if len(c)] or [pd.DataFrame()], ignore_index=True)
    summary, warnings = {"n_lrs": len(lrs)}, []
    for label in (WITH_BN, NO_BN):
        part = sweep[(sweep.run == label) & (sweep.status == "trained")] if len(sweep) else sweep
        good = part[part.val_acc >= 0.9] if len(part) else part
        summary[f"{label}: best lr"] = float(part.lr[part.val_acc.idxmax()]) if len(part) else None
        summary[f"{label}: best val_acc"] = float(part.val_acc.max()) if len(part) else None
        summary[f"{label}: lrs with val_acc >= 0.9"] = len(good)
        div = sweep[(sweep.run == label) & (sweep.status != "trained")] if len(sweep) else sweep
        summary[f"{label}: diverged"] = len(div)
        if len(div):
            rates = ", ".join(f"{v:g}" for v in div.lr)
            epochs_at = ", ".join(str(int(e) + 1) for e in div.diverged_epoch)
            warnings.append(
                f"**{label}** diverged at learning rate {rates} (in epoch {epochs_at}): the loss became "
                "infinite and training stopped. Each ✕ marks the measured validation accuracy of the "
                f"weights left at that point ({', '.join(f'{a:.0%}' for a in div.val_acc)}); chance level "
                "on 10 classes is 10 %."
            )
    summary["warnings"] = warnings
    return Result(tables={"sweep": sweep, "curves": curves}, summary=summary)


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


@experiment("batchnorm_noise")
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
    depth = _int("depth", depth, 1, 20)
    layer = _int("layer", layer, 1, depth)
    draws = _int("draws", draws, 10, 5000)
    cfg = TrainConfig(depth=depth, width=width, epochs=epochs, seed=seed, batch_norm=True, schedule="constant")
    check_budget(cfg)
    data = load(cfg.dataset, seed)
    n = len(data.X_train)
    batch_sizes = _ints("batch_sizes", batch_sizes, 2, n)
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
                "value": _finite(v),
            }
            for k, v in measures.items()
        ]
    noise = pd.DataFrame(rows)
    pick = noise[noise.measure == "normalised value"].set_index("batch_size").value
    summary = {
        "layer": layer,
        "units": int(keep.sum()),
        "trained_val_acc": h.final_val_acc,
        **{f"normalised value RMS error at batch {int(b)}": float(v) for b, v in pick.items()},
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
    starts = list(range(0, len(X), bs))
    if len(X) - starts[-1] < 2 and len(starts) > 1:
        starts.pop()  # a batch of one sample has no batch statistics
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


@experiment("batchnorm_modes")
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
    batch_sizes = _ints("batch_sizes", batch_sizes, *LIMITS["batch_size"], max_len=6)
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
                        "epoch": epoch + 1,
                        "mode": mode,
                        "val_loss": _finite(loss),
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
    first = curves[curves.epoch == 1].pivot(index="batch_size", columns="mode", values="val_acc")
    gap["gap_after_epoch_1"] = (first[EVAL_MODE] - first[TRAIN_MODE]).reindex(gap.batch_size).to_numpy()
    summary = {f"gap at batch {int(r.batch_size)}": float(r.gap) for r in gap.itertuples()}
    return Result(tables={"curves": curves, "final": final, "gap": gap}, summary=summary)
