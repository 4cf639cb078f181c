"""Experiments of the Full recipe page: one configurable run, naive vs 1990s vs modern, a
leave-one-out ablation over seeds, the 50-layer test, and the article's made-up full-recipe curve."""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine import budget
from engine.datasets import load
from engine.early_stopping import stop_epoch
from engine.experiments.common import (
    DEFAULT_SEEDS,
    SEED,
    SEEDS,
    Result,
    compare_seeds,
    curves,
    experiment,
    layer_stats,
    long_curves,
    noise_words,
    run_summary,
    seed_band,
    seed_list,
    train_many,
    warning,
)
from engine.init import init_std
from engine.schedules import warmup_cosine
from engine.spec import Int, ListOf, OneOf, validate
from engine.train import RECIPES, History, TrainConfig
from engine.train import TRAIN_SPEC as T

#: Deepest network without skip connections, and with them.
DEPTH_PLAIN_MAX = 50
DEPTH_SKIP_MAX = T["depth"].hi

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


#: The parameters of :func:`make_config` (and of the ``recipe`` experiment): TrainConfig's, with
#: 0 / -1 for its None values. A depth over 50 without skips is refused by :func:`check_depth`.
MAKE_CONFIG_SPEC = {
    "depth": T["depth"],
    "width": T["width"],
    "dataset": T["dataset"],
    "n_train": Int(0, T["n_train"].inner.hi),
    "activation": T["activation"],
    "init": T["init"],
    "batch_norm": T["batch_norm"],
    "dropout": T["dropout"],
    "label_noise": T["label_noise"],
    "residual": T["residual"],
    "optimizer": T["optimizer"],
    "lr": T["lr"],
    "weight_decay": T["weight_decay"],
    "schedule": T["schedule"],
    "warmup_epochs": Int(-1, T["warmup_epochs"].inner.hi),
    "batch_size": T["batch_size"],
    "epochs": T["epochs"],
    "patience": Int(0, T["patience"].inner.hi),
    "seed": T["seed"],
}


def make_config(
    depth: int = 10,
    width: int = 64,
    dataset: str = "digits",
    n_train: int = 0,
    activation: str = "relu",
    init: str = "he",
    batch_norm: bool = True,
    dropout: float = 0.0,
    label_noise: float = 0.0,
    residual: bool = False,
    optimizer: str = "adam",
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    schedule: str = "warmup_cosine",
    warmup_epochs: int = -1,
    batch_size: int = 64,
    epochs: int = 20,
    patience: int = 0,
    seed: int = 0,
) -> TrainConfig:
    """A validated :class:`TrainConfig`; ``patience=0`` and ``n_train=0`` mean off / all data,
    ``warmup_epochs=-1`` means 10 % of the epochs (TrainConfig's None).

    Raises ValueError naming the field for a bad value, including a depth over 50 without skips.
    """
    check_depth(depth, residual)
    v = validate(MAKE_CONFIG_SPEC, {k: x for k, x in locals().items() if k in MAKE_CONFIG_SPEC})
    none = {"n_train": v["n_train"] or None, "patience": v["patience"] or None}
    none["warmup_epochs"] = None if v["warmup_epochs"] == -1 else v["warmup_epochs"]
    return TrainConfig(**{**v, **none})


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
        warning(
            f"{label}: the loss became infinite at epoch {h.diverged_epoch}, so training stopped there "
            "(the curves end at the last finite epoch). Lower the learning rate."
        )
        for label, h in histories.items()
        if h.diverged_epoch is not None
    ]


def _acc(h: History) -> float | None:
    return None if h.final_val_acc is None else round(float(h.final_val_acc), 4)


def history_tables(h: History, label: str = "run") -> Result:
    """Tables of one run: ``curves`` (per epoch, long format with a ``split`` column),
    ``layers`` (per epoch and layer diagnostics), ``markers``; a summary and notes."""
    curve = long_curves(curves({label: h}), keys=("epoch", "lr"))[["split", "epoch", "lr", "loss", "accuracy"]]
    layers = pd.DataFrame(h.layers, columns=[c for c in LAYER_COLUMNS if c != "layer_name"])
    n_layers = h.config.depth + 1
    layers.insert(2, "layer_name", ["output" if n == n_layers else f"layer {n}" for n in layers["layer"]])
    epochs_run = len(h.epoch)
    summary = {
        "final_val_acc": _acc(h),
        "final_test_acc": None if h.final_test_acc is None else round(float(h.final_test_acc), 4),
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
            warning(
                f"This network did not learn: training accuracy {h.train_acc[-1]:.1%} is close to chance "
                f"({chance:.0%}).{hint}"
            )
        )
    if h.stop_reason == "early_stopping":
        kept = "the best epoch's weights were restored" if h.config.restore_best else "the last weights were kept"
        notes.append(f"Early stopping ended training at epoch {h.stopped_epoch} (best epoch {h.best_epoch}); {kept}.")
    return Result(tables={"curves": curve, "layers": layers, "markers": markers(h)}, summary=summary, notes=notes)


def _check_all(configs: dict[str, TrainConfig]) -> None:
    for cfg in configs.values():
        budget.check(cfg)


# --------------------------------------------------------------------------- experiments


@experiment("recipe", **MAKE_CONFIG_SPEC)
def recipe(
    depth: int = 10,
    width: int = 64,
    dataset: str = "digits",
    n_train: int = 0,
    activation: str = "relu",
    init: str = "he",
    batch_norm: bool = True,
    dropout: float = 0.0,
    label_noise: float = 0.0,
    residual: bool = False,
    optimizer: str = "adam",
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    schedule: str = "warmup_cosine",
    warmup_epochs: int = -1,
    batch_size: int = 64,
    epochs: int = 20,
    patience: int = 0,
    seed: int = 0,
    progress=None,
) -> Result:
    """One training run with every technique switchable: curves, per-layer diagnostics, summary
    (``warmup_epochs=-1``: 10 % of the epochs)."""
    cfg = make_config(
        depth=depth,
        width=width,
        dataset=dataset,
        n_train=n_train,
        activation=activation,
        init=init,
        batch_norm=batch_norm,
        dropout=dropout,
        label_noise=label_noise,
        residual=residual,
        optimizer=optimizer,
        lr=lr,
        weight_decay=weight_decay,
        schedule=schedule,
        warmup_epochs=warmup_epochs,
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


def _seed_runs(hs: dict, key: str = "variant") -> pd.DataFrame:
    """One row per (``key``, seed) of runs labelled ``"<name> | seed <s>"``: the run summary's columns."""
    table = run_summary(hs)
    if not len(table):
        return pd.DataFrame(columns=[key, "seed", "final_val_acc", "final_test_acc"])
    names = [label.rsplit(" | seed ", 1)[0] for label in table["run"]]
    table = table.drop(columns="run")
    table.insert(0, key, names)
    return table


def _seed_curves(hs: dict, key: str = "variant") -> pd.DataFrame:
    """Per-epoch curves of runs labelled ``"<name> | seed <s>"``, with ``key`` and ``seed`` columns."""
    frames = []
    for label, h in hs.items():
        name = label.rsplit(" | seed ", 1)[0]
        frames.append(curves({name: h}).drop(columns="run").assign(**{key: name, "seed": h.config.seed}))
    return pd.concat(frames, ignore_index=True) if frames else curves({})


#: Recipes of :func:`recipe_compare` (names of :data:`engine.train.RECIPES`); the last is the baseline.
COMPARE_RECIPES = ("naive", "lecun1998", "modern")


@experiment(
    "recipe_compare",
    seeds=SEEDS,
    depth=T["depth"],
    width=T["width"],
    dataset=T["dataset"],
    epochs=T["epochs"],
    seed=SEED,
)
def recipe_compare(
    depth: int = 10,
    width: int = 64,
    dataset: str = "digits",
    epochs: int = 20,
    seed: int = 0,
    seeds: int = DEFAULT_SEEDS,
    progress=None,
) -> Result:
    """Naive (sigmoid, 0.01 init, SGD), 1990s (tanh, 1/sqrt(fan_in), SGD) and modern (ReLU, He,
    BN, Adam, warmup + cosine) recipes on the same network, ``seeds`` seeds each, in one stack.

    ``summary["comparison"]``: final test accuracy of each recipe against the modern one
    (:func:`engine.experiments.common.compare_seeds`); ``<recipe>_test_acc``: its mean.
    """
    shape = _same_shape(depth, width, dataset, epochs, seed)
    seed_values = seed_list(seed, seeds)
    configs = {
        f"{name} | seed {s}": RECIPES[name].replace(**shape).replace(seed=s)
        for name in COMPARE_RECIPES
        for s in seed_values
    }
    _check_all(configs)
    hs = train_many(configs, progress)
    runs = _seed_runs(hs, "recipe")
    summary = {"seeds": seed_values, "chance_acc": round(1 / load(dataset, seed).n_classes, 4)}
    cmp = compare_seeds(runs, "modern", by="recipe") if "modern" in set(runs["recipe"]) else None
    summary["comparison"] = cmp
    for name in COMPARE_RECIPES:
        summary[f"{name}_test_acc"] = None if cmp is None else cmp["mean"].get(name)
    curve = _seed_curves(hs, "recipe")
    bands = seed_band(curve, ["recipe", "epoch"], ["val_acc", "test_acc"]) if len(curve) else pd.DataFrame()
    return Result(tables={"curves": curve, "bands": bands, "runs": runs}, summary=summary, notes=_notes(hs))


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


#: The ablation's default network: at 20 hidden layers with skip connections the recipe's parts
#: matter (removing skips or batch norm costs far more than seed noise); at depth 10 without
#: skips every single removal does better than the full recipe.
ABLATION_DEPTH, ABLATION_RESIDUAL = 20, True
#: Removals the page calls essential at its default network (checked beyond seed noise by the tests).
ESSENTIAL = ("no skips", "no BN")


@experiment(
    "ablation",
    depth=T["depth"],
    width=T["width"],
    dataset=T["dataset"],
    epochs=T["epochs"],
    dropout=T["dropout"],
    patience=MAKE_CONFIG_SPEC["patience"],
    residual=T["residual"],
    seeds=Int(1, 5),
    seed=SEED,
)
def ablation(
    depth: int = ABLATION_DEPTH,
    width: int = 64,
    dataset: str = "digits",
    epochs: int = 20,
    dropout: float = 0.0,
    patience: int = 0,
    residual: bool = ABLATION_RESIDUAL,
    seed: int = 0,
    seeds: int = DEFAULT_SEEDS,
    progress=None,
) -> Result:
    """Leave-one-out: the modern recipe with one technique removed at a time, ``seeds`` seeds each
    (``seed``, ``seed + 1``, ...), all in one :func:`train_many` call.

    Tables: ``accuracy`` (per variant: mean final test accuracy over seeds, min, max, ``spread``,
    ``change_vs_full`` and ``beyond_noise`` against the full recipe, from
    :func:`engine.experiments.common.compare_seeds`), ``runs`` (one row per variant and seed) and
    ``curves`` (with a ``seed`` column). ``summary["comparison"]`` is the compare_seeds block.
    """
    seed_values = seed_list(seed, seeds)
    base = RECIPES["modern"].replace(**_same_shape(depth, width, dataset, epochs, seed, residual))
    base = make_config(**{**_config_fields(base), "dropout": dropout, "patience": patience, "residual": residual})
    if residual and depth > DEPTH_PLAIN_MAX:
        # "no skip connections" is not allowed that deep: keep the other variants
        variants = {k: v for k, v in ablation_variants(base).items() if v[0] != "skip connections"}
    else:
        variants = ablation_variants(base)
    configs = {f"{label} | seed {s}": cfg.replace(seed=s) for label, (_, cfg) in variants.items() for s in seed_values}
    _check_all(configs)
    hs = train_many(configs, progress)
    runs = _seed_runs(hs)
    curve = _seed_curves(hs)
    notes = _notes(hs)
    summary = {"seeds": seed_values, "comparison": None}
    if not len(runs) or "full recipe" not in set(runs["variant"]):
        return Result(tables={"accuracy": pd.DataFrame(), "runs": runs, "curves": curve}, summary=summary, notes=notes)
    cmp = compare_seeds(runs, "full recipe")
    summary["comparison"] = cmp
    rows = []
    for label, g in runs.groupby("variant", sort=False):
        test = pd.to_numeric(g["final_test_acc"], errors="coerce").fillna(0.0)
        rows.append(
            {
                "variant": label,
                "removed": variants[label][0],
                "final_test_acc": cmp["mean"][label],
                "min_test_acc": round(float(test.min()), 4),
                "max_test_acc": round(float(test.max()), 4),
                "spread": cmp["spread"][label],
                "change_vs_full": cmp["diff"][label],
                "beyond_noise": cmp["beyond_noise"][label],
                "final_val_acc": round(float(pd.to_numeric(g["final_val_acc"], errors="coerce").fillna(0.0).mean()), 4),
                "n_seeds": len(g),
            }
        )
    table = pd.DataFrame(rows)
    full = cmp["mean"]["full recipe"]
    summary["full_recipe_test_acc"] = full
    others = table[table["variant"] != "full recipe"]
    if len(others):
        worse, better = _worse_better(others)
        worst = others.loc[others["final_test_acc"].idxmin()]
        hurts = worst["variant"] in set(worse["variant"])
        summary["most_important"] = str(worst["variant"]) if hurts else None
        summary["removals_worse"] = list(worse["variant"])
        summary["removals_better"] = list(better["variant"])
        summary["removals_within_noise"] = [v for v in others["variant"] if cmp["beyond_noise"][v] is False]
        summary["essential"] = [v for v in ESSENTIAL if v in set(others["variant"])]
        chance = 1 / load(dataset, seed).n_classes
        notes.append(_ablation_verdict(others, full, chance, depth, len(seed_values)))
        small = _small_init_note(table, base)
        if small:
            notes.append(small)
    return Result(tables={"accuracy": table, "runs": runs, "curves": curve}, summary=summary, notes=notes)


def _worse_better(others: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Removals that lower / raise the test accuracy beyond seed noise (``beyond_noise`` True)."""
    real = np.array([f is True for f in others["beyond_noise"]], dtype=bool)
    return others[real & (others["change_vs_full"] < 0)], others[real & (others["change_vs_full"] > 0)]


def _short(removed: str) -> str:
    return removed.split(" (")[0]


def _ablation_verdict(others: pd.DataFrame, full: float, chance: float, depth: int, seeds: int = 1) -> str:
    """What the ablation shows, in a few sentences computed from its numbers and noise flags."""
    if seeds < 2:
        w = others.loc[others["final_test_acc"].idxmin()]
        return (
            f"One seed: no noise estimate, so no removal can be called harmful or harmless here. The lowest is "
            f"without {_short(w['removed'])}: {w['final_test_acc']:.1%} instead of {full:.1%}."
        )
    worse, better = _worse_better(others)
    within = [_short(r) for r, f in zip(others["removed"], others["beyond_noise"]) if f is False]
    out = []
    if len(worse):
        w = worse.loc[worse["final_test_acc"].idxmin()]
        out.append(
            f"Removing {_short(w['removed'])} hurts most: {w['final_test_acc']:.1%} instead of {full:.1%} "
            f"({len(worse)} of {len(others)} removals lower the test accuracy, {noise_words(True)} over "
            f"{seeds} seeds: {', '.join(_short(r) for r in worse['removed'])})."
        )
    if len(better):
        b = better.loc[better["final_test_acc"].idxmax()]
        out.append(
            f"{len(better)} of {len(others)} removals do better than the full recipe, {noise_words(True)}; the best "
            f"is without {_short(b['removed'])}: {b['final_test_acc']:.1%} instead of {full:.1%}."
        )
        if full < 1.5 * chance:
            out.append(
                f"The full recipe does not train at depth {depth} ({full:.1%}, chance is {chance:.0%}): "
                "see the 50-layer test tab for what fixes that."
            )
        elif not len(worse) and full >= (1 + chance) / 2:
            out.append(
                f"At depth {depth} the network is easy enough that no technique is needed on its own, "
                "and some slow it down within this epoch budget."
            )
        elif not len(worse):
            out.append(
                f"The full recipe itself struggles at depth {depth} ({full:.1%}): removing a part helps, "
                "and the depth ladder on the home page shows what does scale."
            )
    if within:
        out.append(f"Removing {', '.join(within)}: {noise_words(False)} of the full recipe.")
    return " ".join(out)


def _small_init_note(table: pd.DataFrame, base: TrainConfig) -> str | None:
    """The small-init variant with batch norm, and why weight scale acts as a learning rate there."""
    t = table.set_index("variant")
    if "small init" not in t.index or not base.batch_norm or base.optimizer != "adam":
        return None
    small, full = t.loc["small init"], t.loc["full recipe"]
    flag = small["beyond_noise"]
    if flag is None:
        verdict = "(one seed: no noise estimate) beside"
    elif flag is False:
        verdict = "within seed noise of"
    else:
        verdict = "above" if small["change_vs_full"] > 0 else "below"
    he = init_std("he", base.width, base.width)
    return (
        f"Small init (0.01) with batch norm ends at {small['final_test_acc']:.1%}, {verdict} the full recipe's "
        f"{full['final_test_acc']:.1%}. Batch norm divides out the hidden weights' scale in the forward pass, "
        f"so the scale only sets how big a step is relative to the weights: Adam moves every weight by about "
        f"lr = {base.lr:g}, which is {base.lr / 0.01:.2g} of a 0.01-sized weight but {base.lr / he:.2g} of a "
        f"He-sized one (std {he:.3f}). With batch norm, smaller weights act like a {he / 0.01:.0f}× larger "
        "learning rate."
    )


def _config_fields(cfg: TrainConfig) -> dict:
    """Keyword arguments of :func:`make_config` that reproduce ``cfg``."""
    d = cfg.to_dict()
    d["patience"] = d["patience"] or 0
    d["n_train"] = d["n_train"] or 0
    d["warmup_epochs"] = -1 if d["warmup_epochs"] is None else d["warmup_epochs"]
    d.pop("restore_best")
    return d


DEEP_RUNS = ("plain", "with skips")


@experiment(
    "deep50",
    seeds=SEEDS,
    depth=T["depth"],
    width=T["width"],
    dataset=T["dataset"],
    epochs=T["epochs"],
    seed=SEED,
    runs=ListOf(OneOf(DEEP_RUNS), unique=False),
)
def deep50(
    depth: int = 50,
    width: int = 64,
    dataset: str = "digits",
    epochs: int = 20,
    seed: int = 0,
    runs: tuple = DEEP_RUNS,
    seeds: int = DEFAULT_SEEDS,
    progress=None,
) -> Result:
    """The article's 50-layer claim: the modern recipe at depth 50, plain vs with skip connections,
    ``seeds`` seeds each (the seeds of one network are one stack).

    ``runs`` picks which of the two to train (the page trains them one call at a time, so each gets
    the full time cap); :func:`combine_deep50` joins the parts. The per-layer first-step table and
    the gradient and update ratios are of the first seed; accuracies are means over the seeds, and
    ``summary["comparison"]`` compares the final test accuracy with skips against plain.
    """
    if len(set(runs)) != len(runs):
        raise ValueError(f"runs must be distinct values among {', '.join(DEEP_RUNS)}; got {runs!r}")
    shape = _same_shape(depth, width, dataset, epochs, seed)
    seed_values = seed_list(seed, seeds)
    base = RECIPES["modern"].replace(**shape)
    configs = {
        f"{r} | seed {s}": base.replace(residual=r == "with skips", seed=s)
        for r in DEEP_RUNS
        if r in runs
        for s in seed_values
    }
    _check_all(configs)
    hs = train_many(configs, progress)
    firsts = {label.rsplit(" | seed ", 1)[0]: h for label, h in hs.items() if h.config.seed == seed}
    first = layer_stats(firsts)
    if len(first):
        first = first[first["epoch"] == 0][["run", "layer", "act_std", "grad_norm", "update_ratio"]]
        first = first.assign(seed=seed)
    table = _seed_runs(hs, "run")
    curve = _seed_curves(hs, "run")
    summary = {"seeds": seed_values}
    for label in (r for r in DEEP_RUNS if r in runs):
        key = label.replace(" ", "_")
        g_runs = table[table["run"] == label] if len(table) else table
        for metric in ("val", "test"):
            vals = pd.to_numeric(g_runs.get(f"final_{metric}_acc", pd.Series(dtype=float)), errors="coerce")
            summary[f"{key}_{metric}_acc"] = round(float(vals.fillna(0.0).mean()), 4) if len(vals) else None
        h = firsts.get(label)
        summary[f"{key}_seconds_per_epoch"] = round(h.seconds / len(h.epoch), 3) if h is not None and h.epoch else None
        g = first[first["run"] == label].set_index("layer")["grad_norm"] if len(first) else pd.Series(dtype=float)
        ratio = g.get(1, np.nan) / g.get(depth, np.nan) if len(g) else np.nan
        summary[f"{key}_grad_ratio_first_to_last"] = round(float(ratio), 3) if np.isfinite(ratio) else None
        u = first[first["run"] == label].set_index("layer")["update_ratio"] if len(first) else pd.Series(dtype=float)
        u = u[u.index <= depth].dropna()  # hidden layers only
        for name, value in (("first", u.get(1)), ("last", u.get(depth)), ("min", u.min()), ("max", u.max())):
            ok = value is not None and np.isfinite(value)
            summary[f"{key}_update_ratio_{name}"] = float(f"{value:.3g}") if ok and len(u) else None
    summary["comparison"] = _deep_comparison(table)
    tables = {
        "curves": curve,
        "bands": _deep_bands(curve),
        "runs": table,
        "first_epoch_layers": first.reset_index(drop=True),
    }
    return Result(tables=tables, summary=summary, notes=_notes(hs) + _deep_verdict(summary, depth))


def _deep_comparison(table: pd.DataFrame) -> dict | None:
    """With skips against plain (final test accuracy over seeds), or None without both."""
    if not len(table) or not set(DEEP_RUNS) <= set(table["run"]):
        return None
    return compare_seeds(table, "plain", by="run")


def _deep_bands(curve: pd.DataFrame) -> pd.DataFrame:
    return seed_band(curve, ["run", "epoch"], ["val_acc", "test_acc"]) if len(curve) else pd.DataFrame()


def combine_deep50(parts: list, depth: int = 50) -> Result:
    """Join :func:`deep50` results of separate runs: tables stacked, summaries merged, one comparison
    and one verdict."""
    parts = [p for p in parts if p is not None]
    names = {n for p in parts for n in p.tables}
    tables = {n: pd.concat([p.tables[n] for p in parts if n in p.tables], ignore_index=True) for n in sorted(names)}
    summary = {k: v for p in parts for k, v in p.summary.items()}
    if "runs" in tables:
        summary["comparison"] = _deep_comparison(tables["runs"])
    return Result(tables=tables, summary=summary, notes=_deep_verdict(summary, depth))


def _times(x: float) -> str:
    """A ratio for a sentence: 17,400× or 2.89×."""
    return f"{x:,.0f}×" if x >= 100 else f"{x:.3g}×"


def _deep_verdict(s: dict, depth: int) -> list[str]:
    """What the two deep runs show, from their mean final test accuracies, the seed noise and the
    first seed's first-step gradient norms."""
    plain, skips = s.get("plain_test_acc"), s.get("with_skips_test_acc")
    if plain is None or skips is None:
        return []
    cmp = s.get("comparison") or {}
    flag = (cmp.get("beyond_noise") or {}).get("with skips")
    seeds = list(s.get("seeds") or [])
    over = f"mean of {len(seeds)} seeds" if len(seeds) > 1 else "one seed"
    noise = f"the difference is {noise_words(flag)}"
    if plain < 0.5 <= skips:
        text = (
            f"At depth {depth} the plain network ends at {plain:.1%} test accuracy and the one with skips at "
            f"{skips:.1%} ({over}; {noise}): batch norm, He init and Adam are not enough on their own here; "
            "the skip connections make the difference."
        )
    elif plain >= 0.5 and skips >= 0.5:
        text = (
            f"Both trained at depth {depth}: plain {plain:.1%}, with skips {skips:.1%} test accuracy ({over}; {noise})."
        )
    else:
        text = f"At depth {depth}: plain {plain:.1%}, with skips {skips:.1%} ({over}; {noise})."
    rp, rs = s.get("plain_grad_ratio_first_to_last"), s.get("with_skips_grad_ratio_first_to_last")
    if rp is not None and rs is not None:
        at = f" (seed {seeds[0]})" if seeds else ""
        text += (
            f" At the first step{at} the gradient of layer 1 is {_times(rp)} the gradient of "
            f"layer {depth} in the plain network, and {_times(rs)} with skips."
        )
    out = [text]
    u1, un = s.get("plain_update_ratio_first"), s.get("plain_update_ratio_last")
    lo, hi = s.get("plain_update_ratio_min"), s.get("plain_update_ratio_max")
    if None not in (u1, un, lo, hi, rp) and lo > 0:
        same = hi / lo < 2
        ratios = f"the update:data ratio of the plain network is {u1:.2g} at layer 1 and {un:.2g} at layer {depth}"
        step = (
            f"Yet the steps are not bigger there: Adam divides every gradient by its own running size, and {ratios} "
            f"(between {lo:.2g} and {hi:.2g} in every hidden layer)."
            if same
            else f"Adam divides every gradient by its own running size; {ratios}."
        )
        if same and rp >= 10 and plain < 0.5 <= skips:
            step += (
                " What fails is the sensitivity: a gradient that large means the loss reacts far more to the "
                "first layers' weights, so a step of ordinary relative size there changes the input of every "
                "layer above and scrambles what they learned. With skips each block only adds a correction, "
                "and no layer's weights dominate."
            )
        out.append(step)
    return out


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


@experiment("recipe_article", total_epochs=Int(20, 500), patience=Int(1, 100))
def recipe_article(total_epochs: int = 200, patience: int = 15, progress=None) -> Result:
    """The article's full-recipe curve (made-up formulas, not training) and its early stop."""
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
        "epochs_saved": total_epochs - last,  # the article's count: it includes the stopping epoch
        "epochs_run": last + 1,  # epochs 0..last (0-based) ran
        "epochs_not_run": total_epochs - (last + 1),
        "val_loss_at_end": round(float(df["val_loss"].iloc[-1]), 4),
    }
    schedule = df[["epoch", "lr", "train_loss", "val_loss"]]
    return Result(
        tables={"curves": long, "schedule": schedule, "markers": pd.DataFrame(markers)},
        summary=summary,
    )
