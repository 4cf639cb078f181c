"""Experiments of the Full recipe page: one configurable run, classic vs modern, a leave-one-out
ablation, the 50-layer test, and the article's made-up full-recipe curve."""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine import budget
from engine.datasets import load
from engine.early_stopping import stop_epoch
from engine.experiments.common import Result, curves, experiment, layer_stats, run_summary, train_many
from engine.schedules import warmup_cosine
from engine.train import LIMITS, RECIPES, History, TrainConfig

#: Deepest network without skip connections, and with them.
DEPTH_PLAIN_MAX = 50
DEPTH_SKIP_MAX = LIMITS["depth"][1]

#: Layer-diagnostic columns of :func:`history_tables` (from ``History.layers``).
LAYER_COLUMNS = ["epoch", "layer", "layer_name", "act_mean", "act_std", "dead_frac", "grad_norm", "update_ratio"]


# --------------------------------------------------------------------------- helpers


def depth_limit(residual: bool) -> int:
    """Deepest network allowed: 50 hidden blocks plain, 100 with skip connections."""
    return DEPTH_SKIP_MAX if residual else DEPTH_PLAIN_MAX


def check_depth(depth, residual: bool) -> None:
    """Raise ValueError when ``depth`` is over the limit for ``residual``."""
    hi = depth_limit(residual)
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or not 1 <= depth <= hi:
        extra = "" if residual else f" without skip connections (up to {DEPTH_SKIP_MAX} with residual=True)"
        raise ValueError(f"depth must be an integer in [1, {hi}]{extra}; got {depth!r}")


def clamp_depth(depth: int, residual: bool) -> tuple[int, str | None]:
    """``depth`` clipped to :func:`depth_limit`, and a message saying so (None if unchanged)."""
    hi = depth_limit(residual)
    if depth <= hi:
        return int(depth), None
    return hi, (
        f"Depth {depth} needs skip connections: without them this page trains at most {hi} hidden "
        f"layers, so it uses depth {hi}. Turn on skip connections to go up to {DEPTH_SKIP_MAX}."
    )


def make_config(
    depth: int = 10,
    width: int = 64,
    dataset: str = "digits",
    n_train: int = 0,
    activation: str = "relu",
    init: str = "he",
    batch_norm: bool = True,
    dropout: float = 0.0,
    residual: bool = False,
    optimizer: str = "adam",
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    schedule: str = "warmup_cosine",
    batch_size: int = 64,
    epochs: int = 20,
    patience: int = 0,
    seed: int = 0,
) -> TrainConfig:
    """A validated :class:`TrainConfig`; ``patience=0`` and ``n_train=0`` mean off / all data.

    Raises ValueError naming the field for a bad value, including a depth over 50 without skips.
    """
    check_depth(depth, residual)
    for name, value in (("patience", patience), ("n_train", n_train)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name} must be an integer >= 0 (0 = off); got {value!r}")
    return TrainConfig(
        dataset=dataset,
        n_train=int(n_train) or None,
        depth=depth,
        width=width,
        activation=activation,
        init=init,
        batch_norm=batch_norm,
        dropout=dropout,
        residual=residual,
        optimizer=optimizer,
        lr=lr,
        weight_decay=weight_decay,
        schedule=schedule,
        batch_size=batch_size,
        epochs=epochs,
        patience=int(patience) or None,
        seed=seed,
    )


def key_layers(n_layers: int, k: int = 5) -> list[int]:
    """Up to ``k`` evenly spaced 1-based layer numbers, always the first and the last."""
    if n_layers <= k:
        return list(range(1, n_layers + 1))
    return sorted({int(round(x)) for x in np.linspace(1, n_layers, k)})


def markers(h: History) -> pd.DataFrame:
    """Vertical chart markers (x, label): best epoch, early stop, divergence."""
    rows = []
    stopped = h.stop_reason == "early_stopping"
    if h.best_epoch is not None:  # near the stop line its text would overlap: the stop label says both
        rows.append({"x": h.best_epoch, "label": "" if stopped else f"best epoch {h.best_epoch}"})
    if stopped:
        rows.append({"x": h.stopped_epoch, "label": f"best {h.best_epoch}, early stop {h.stopped_epoch}"})
    if h.diverged_epoch is not None:
        rows.append({"x": h.diverged_epoch, "label": f"diverged {h.diverged_epoch}"})
    return pd.DataFrame(rows, columns=["x", "label"])


def _notes(histories: dict[str, History]) -> list[str]:
    """Notes on diverged runs."""
    return [
        f"{label}: the loss became infinite at epoch {h.diverged_epoch}, so training stopped there "
        "(the curves end at the last finite epoch). Lower the learning rate."
        for label, h in histories.items()
        if h.diverged_epoch is not None
    ]


def _acc(h: History) -> float | None:
    return None if h.final_val_acc is None else round(float(h.final_val_acc), 4)


def history_tables(h: History, label: str = "run") -> Result:
    """Tables of one run: ``curves`` (per epoch, long format with a ``split`` column),
    ``layers`` (per epoch and layer diagnostics), ``markers``; a summary and notes."""
    wide = curves({label: h})
    long = []
    for split, suffix in (("train", "train"), ("validation", "val")):
        part = wide[["epoch", "lr", f"{suffix}_loss", f"{suffix}_acc"]].copy()
        part.columns = ["epoch", "lr", "loss", "accuracy"]
        long.append(part.assign(split=split))
    curve = pd.concat(long, ignore_index=True)[["split", "epoch", "lr", "loss", "accuracy"]]
    layers = pd.DataFrame(h.layers, columns=[c for c in LAYER_COLUMNS if c != "layer_name"])
    n_layers = h.config.depth + 1
    layers.insert(2, "layer_name", ["output" if n == n_layers else f"layer {n}" for n in layers["layer"]])
    epochs_run = len(h.epoch)
    summary = {
        "final_val_acc": _acc(h),
        "final_train_acc": round(float(h.train_acc[-1]), 4) if h.train_acc else None,
        "best_epoch": h.best_epoch,
        "best_val_loss": round(float(min(h.val_loss)), 4) if h.val_loss else None,
        "epochs_run": epochs_run,
        "stopped_epoch": h.stopped_epoch,
        "stop_reason": h.stop_reason or "completed",
        "diverged_epoch": h.diverged_epoch,
        "seconds": round(h.seconds, 2),
        "seconds_per_epoch": round(h.seconds / epochs_run, 4) if epochs_run else None,
        "n_layers": n_layers,
    }
    notes = _notes({label: h})
    chance = 1 / load(h.config.dataset, h.config.seed, h.config.n_train).n_classes
    summary["chance_acc"] = round(chance, 4)
    if h.train_acc and h.diverged_epoch is None and h.train_acc[-1] < 1.5 * chance:
        cfg = h.config
        hint = ""
        if cfg.dropout > 0 and cfg.depth > 3:
            hint = (
                f" Dropout {cfg.dropout:g} after every one of the {cfg.depth} hidden layers compounds its noise "
                "layer after layer: try a lower rate or a shallower network (the ablation tab shows the effect)."
            )
        notes.append(
            f"This network did not learn: training accuracy {h.train_acc[-1]:.1%} is close to chance "
            f"({chance:.0%}).{hint}"
        )
    if h.stop_reason == "early_stopping":
        kept = "the best epoch's weights were restored" if h.config.restore_best else "the last weights were kept"
        notes.append(f"Early stopping ended training at epoch {h.stopped_epoch} (best epoch {h.best_epoch}); {kept}.")
    return Result(tables={"curves": curve, "layers": layers, "markers": markers(h)}, summary=summary, notes=notes)


def _check_all(configs: dict[str, TrainConfig]) -> None:
    for cfg in configs.values():
        budget.check(cfg)


# --------------------------------------------------------------------------- experiments


@experiment("recipe")
def recipe(
    depth: int = 10,
    width: int = 64,
    dataset: str = "digits",
    n_train: int = 0,
    activation: str = "relu",
    init: str = "he",
    batch_norm: bool = True,
    dropout: float = 0.0,
    residual: bool = False,
    optimizer: str = "adam",
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    schedule: str = "warmup_cosine",
    batch_size: int = 64,
    epochs: int = 20,
    patience: int = 0,
    seed: int = 0,
    progress=None,
) -> Result:
    """One training run with every technique switchable: curves, per-layer diagnostics, summary."""
    cfg = make_config(
        depth=depth,
        width=width,
        dataset=dataset,
        n_train=n_train,
        activation=activation,
        init=init,
        batch_norm=batch_norm,
        dropout=dropout,
        residual=residual,
        optimizer=optimizer,
        lr=lr,
        weight_decay=weight_decay,
        schedule=schedule,
        batch_size=batch_size,
        epochs=epochs,
        patience=patience,
        seed=seed,
    )
    budget.check(cfg)
    return history_tables(train_many({"run": cfg}, progress)["run"])


def _same_shape(depth, width, dataset, epochs, seed, residual=False) -> dict:
    check_depth(depth, residual)
    return dict(depth=depth, width=width, dataset=dataset, epochs=epochs, seed=seed)


@experiment("recipe_compare")
def recipe_compare(
    depth: int = 10, width: int = 64, dataset: str = "digits", epochs: int = 20, seed: int = 0, progress=None
) -> Result:
    """Classic (sigmoid, small init, SGD) vs modern (ReLU, He, BN, Adam, warmup+cosine) recipe."""
    shape = _same_shape(depth, width, dataset, epochs, seed)
    configs = {name: RECIPES[name].replace(**shape) for name in ("classic", "modern")}
    _check_all(configs)
    hs = train_many(configs, progress)
    summary = {f"{k}_val_acc": _acc(h) for k, h in hs.items()}
    summary["chance_acc"] = round(1 / load(dataset, seed).n_classes, 4)
    if len(hs) == 2 and None not in summary.values():
        summary["modern_minus_classic"] = round(summary["modern_val_acc"] - summary["classic_val_acc"], 4)
    return Result(tables={"curves": curves(hs), "runs": run_summary(hs)}, summary=summary, notes=_notes(hs))


def ablation_variants(base: TrainConfig) -> dict[str, tuple[str, TrainConfig]]:
    """label -> (technique removed, config): the full recipe, then one technique off at a time.

    Techniques that are off in ``base`` (dropout, early stopping, skips) have no variant.
    """
    out = {"full recipe": ("nothing", base)}
    out["small init"] = ("He init (small 0.01 init instead)", base.replace(init="small"))
    out["no BN"] = ("batch norm", base.replace(batch_norm=False))
    out["sigmoid"] = ("ReLU (sigmoid instead)", base.replace(activation="sigmoid"))
    out["constant lr"] = ("lr schedule (constant lr instead)", base.replace(schedule="constant"))
    out["SGD lr 0.1"] = ("Adam (plain SGD at lr 0.1 instead)", base.replace(optimizer="sgd", lr=0.1))
    if base.dropout > 0:
        out["no dropout"] = ("dropout", base.replace(dropout=0.0))
    if base.patience:
        out["no early stop"] = ("early stopping", base.replace(patience=None))
    if base.residual:
        out["no skips"] = ("skip connections", base.replace(residual=False))
    return out


@experiment("ablation")
def ablation(
    depth: int = 10,
    width: int = 64,
    dataset: str = "digits",
    epochs: int = 20,
    dropout: float = 0.0,
    patience: int = 0,
    residual: bool = False,
    seed: int = 0,
    progress=None,
) -> Result:
    """Leave-one-out: the modern recipe with one technique removed at a time; final val accuracy."""
    base = RECIPES["modern"].replace(**_same_shape(depth, width, dataset, epochs, seed, residual))
    base = make_config(**{**_config_fields(base), "dropout": dropout, "patience": patience, "residual": residual})
    if residual and depth > DEPTH_PLAIN_MAX:
        # "no skip connections" is not allowed that deep: keep the other variants
        variants = {k: v for k, v in ablation_variants(base).items() if v[0] != "skip connections"}
    else:
        variants = ablation_variants(base)
    configs = {label: cfg for label, (_, cfg) in variants.items()}
    _check_all(configs)
    hs = train_many(configs, progress)
    full = hs["full recipe"].final_val_acc if "full recipe" in hs else None
    rows = []
    for label, h in hs.items():
        acc = _acc(h)
        rows.append(
            {
                "variant": label,
                "removed": variants[label][0],
                "final_val_acc": acc,
                "change_vs_full": None if acc is None or full is None else round(acc - full, 4),
                "best_val_loss": round(float(min(h.val_loss)), 4) if h.val_loss else None,
                "epochs_run": len(h.epoch),
                "diverged_epoch": h.diverged_epoch,
                "seconds": round(h.seconds, 2),
            }
        )
    table = pd.DataFrame(rows)
    summary = {"full_recipe_val_acc": _acc(hs["full recipe"]) if "full recipe" in hs else None}
    others = table[table["variant"] != "full recipe"].dropna(subset=["final_val_acc"])
    notes = _notes(hs)
    if len(others) and full is not None:
        worst = others.loc[others["final_val_acc"].idxmin()]
        hurts = worst["change_vs_full"] < -ABLATION_TOLERANCE
        summary["most_important"] = str(worst["removed"]) if hurts else None
        summary["most_important_val_acc"] = float(worst["final_val_acc"]) if hurts else None
        summary["n_removals_worse"] = int((others["change_vs_full"] < -ABLATION_TOLERANCE).sum())
        summary["n_removals_better"] = int((others["change_vs_full"] > ABLATION_TOLERANCE).sum())
        chance = 1 / load(dataset, seed).n_classes
        notes.append(_ablation_verdict(others, float(full), chance, depth))
    return Result(tables={"accuracy": table, "curves": curves(hs)}, summary=summary, notes=notes)


#: An accuracy change smaller than this (one to two validation images on digits) is noise.
ABLATION_TOLERANCE = 0.005


def _short(removed: str) -> str:
    return removed.split(" (")[0]


def _ablation_verdict(others: pd.DataFrame, full: float, chance: float, depth: int) -> str:
    """What the ablation shows, in a few sentences computed from its numbers."""
    worse = others[others["change_vs_full"] < -ABLATION_TOLERANCE]
    better = others[others["change_vs_full"] > ABLATION_TOLERANCE]
    out = []
    if len(worse):
        w = worse.loc[worse["final_val_acc"].idxmin()]
        out.append(
            f"Removing {_short(w['removed'])} hurts most: {w['final_val_acc']:.1%} instead of {full:.1%} "
            f"({len(worse)} of {len(others)} removals lower the accuracy)."
        )
    if len(better):
        b = better.loc[better["final_val_acc"].idxmax()]
        out.append(
            f"{len(better)} of {len(others)} removals do better than the full recipe; the best is without "
            f"{_short(b['removed'])}: {b['final_val_acc']:.1%} instead of {full:.1%}."
        )
        if full < 1.5 * chance:
            out.append(
                f"The full recipe does not train at depth {depth} ({full:.1%}, chance is {chance:.0%}): "
                "see the 50-layer test tab for what fixes that."
            )
        elif not len(worse):
            out.append(
                f"At depth {depth} the network is easy enough that no technique is needed on its own, "
                "and some slow it down within this epoch budget."
            )
    if not out:
        out.append(f"No single removal changes the accuracy by more than {ABLATION_TOLERANCE:.1%} here.")
    return " ".join(out)


def _config_fields(cfg: TrainConfig) -> dict:
    """Keyword arguments of :func:`make_config` that reproduce ``cfg``."""
    d = cfg.to_dict()
    d["patience"] = d["patience"] or 0
    d["n_train"] = d["n_train"] or 0
    for k in ("warmup_epochs", "restore_best"):
        d.pop(k)
    return d


DEEP_RUNS = ("plain", "with skips")


@experiment("deep50")
def deep50(
    depth: int = 50,
    width: int = 64,
    dataset: str = "digits",
    epochs: int = 20,
    seed: int = 0,
    runs: tuple = DEEP_RUNS,
    progress=None,
) -> Result:
    """The article's 50-layer claim: the modern recipe at depth 50, plain vs with skip connections.

    ``runs`` picks which of the two to train (the page trains them one call at a time, so each gets
    the full time cap); :func:`combine_deep50` joins the parts.
    """
    runs = tuple(runs) if isinstance(runs, (tuple, list)) else (runs,)
    if not runs or any(r not in DEEP_RUNS for r in runs) or len(set(runs)) != len(runs):
        raise ValueError(f"runs must be distinct values among {', '.join(DEEP_RUNS)}; got {runs!r}")
    shape = _same_shape(depth, width, dataset, epochs, seed)
    base = RECIPES["modern"].replace(**shape)
    configs = {r: base.replace(residual=r == "with skips") for r in DEEP_RUNS if r in runs}
    _check_all(configs)
    hs = train_many(configs, progress)
    first = layer_stats(hs)
    if len(first):
        first = first[first["epoch"] == 0][["run", "layer", "act_std", "grad_norm", "update_ratio"]]
    summary = {}
    for label, h in hs.items():
        key = label.replace(" ", "_")
        summary[f"{key}_val_acc"] = _acc(h)
        summary[f"{key}_seconds_per_epoch"] = round(h.seconds / len(h.epoch), 3) if h.epoch else None
        g = first[first["run"] == label].set_index("layer")["grad_norm"] if len(first) else pd.Series(dtype=float)
        ratio = g.get(1, np.nan) / g.get(depth, np.nan) if len(g) else np.nan
        summary[f"{key}_grad_ratio_first_to_last"] = round(float(ratio), 3) if np.isfinite(ratio) else None
    return Result(
        tables={"curves": curves(hs), "runs": run_summary(hs), "first_epoch_layers": first.reset_index(drop=True)},
        summary=summary,
        notes=_notes(hs) + _deep_verdict(summary, depth),
    )


def combine_deep50(parts: list, depth: int = 50) -> Result:
    """Join :func:`deep50` results of separate runs: tables stacked, summaries merged, one verdict."""
    parts = [p for p in parts if p is not None]
    names = {n for p in parts for n in p.tables}
    tables = {n: pd.concat([p.tables[n] for p in parts if n in p.tables], ignore_index=True) for n in sorted(names)}
    summary = {k: v for p in parts for k, v in p.summary.items()}
    return Result(tables=tables, summary=summary, notes=_deep_verdict(summary, depth))


def _times(x: float) -> str:
    """A ratio for a sentence: 17,400× or 2.89×."""
    return f"{x:,.0f}×" if x >= 100 else f"{x:.3g}×"


def _deep_verdict(s: dict, depth: int) -> list[str]:
    """What the two deep runs show, from their final accuracies and first-step gradient norms."""
    plain, skips = s.get("plain_val_acc"), s.get("with_skips_val_acc")
    if plain is None or skips is None:
        return []
    if plain < 0.5 <= skips:
        text = (
            f"At depth {depth} the plain network ends at {plain:.1%} and the one with skips at {skips:.1%}: "
            "batch norm, He init and Adam are not enough on their own here; the skip connections make the "
            "difference."
        )
    elif plain >= 0.5 and skips >= 0.5:
        text = f"Both trained at depth {depth}: plain {plain:.1%}, with skips {skips:.1%}."
    else:
        text = f"At depth {depth}: plain {plain:.1%}, with skips {skips:.1%}."
    rp, rs = s.get("plain_grad_ratio_first_to_last"), s.get("with_skips_grad_ratio_first_to_last")
    if rp is not None and rs is not None:
        text += (
            f" At the first step the gradient of layer 1 is {_times(rp)} the gradient of layer {depth} in the "
            f"plain network, and {_times(rs)} with skips."
        )
    return [text]


def article_curve(total_epochs: int = 200, patience: int = 15, warmup_epochs: int = 10, lr: float = 1e-3):
    """The article's invented full-recipe loss curves, its lr schedule, and where early stopping ends.

    train = 0.6 exp(-t/25) + 0.02;  val = 0.65 exp(-t/25) + 0.03 + 0.0005 max(0, t - 100)^1.2.
    Returns (DataFrame epoch, lr, train_loss, val_loss; stop epoch or None; best epoch).
    """
    t = np.arange(total_epochs, dtype=float)
    train_loss = 0.6 * np.exp(-t / 25) + 0.02
    val_loss = 0.65 * np.exp(-t / 25) + 0.03 + 0.0005 * np.maximum(0.0, t - 100) ** 1.2
    lrs = np.array([warmup_cosine(e, warmup_epochs, total_epochs, lr) for e in range(total_epochs)])
    stop, best = stop_epoch(val_loss, patience)
    df = pd.DataFrame({"epoch": t.astype(int), "lr": lrs, "train_loss": train_loss, "val_loss": val_loss})
    return df, stop, best


@experiment("recipe_article")
def recipe_article(total_epochs: int = 200, patience: int = 15, progress=None) -> Result:
    """The article's full-recipe curve (made-up formulas, not training) and its early stop."""
    if isinstance(total_epochs, bool) or not isinstance(total_epochs, int) or not 20 <= total_epochs <= 500:
        raise ValueError(f"total_epochs must be an integer in [20, 500]; got {total_epochs!r}")
    if isinstance(patience, bool) or not isinstance(patience, int) or not 1 <= patience <= 100:
        raise ValueError(f"patience must be an integer in [1, 100]; got {patience!r}")
    df, stop, best = article_curve(total_epochs, patience)
    long = pd.concat(
        [
            pd.DataFrame({"split": "train", "epoch": df["epoch"], "loss": df["train_loss"]}),
            pd.DataFrame({"split": "validation", "epoch": df["epoch"], "loss": df["val_loss"]}),
        ],
        ignore_index=True,
    )
    # one label for both lines: they are only ``patience`` epochs apart and the texts would overlap
    markers = [{"x": best, "label": f"best {best}" if stop is None else ""}]
    if stop is not None:
        markers.append({"x": stop, "label": f"best {best}, stop {stop}"})
    last = stop if stop is not None else total_epochs - 1
    summary = {
        "stop_epoch": stop,
        "best_epoch": best,
        "best_val_loss": round(float(df["val_loss"][best]), 4),
        "epochs_saved": total_epochs - last,
        "val_loss_at_end": round(float(df["val_loss"].iloc[-1]), 4),
    }
    schedule = df[["epoch", "lr", "train_loss", "val_loss"]]
    return Result(
        tables={"curves": long, "schedule": schedule, "markers": pd.DataFrame(markers)},
        summary=summary,
    )
