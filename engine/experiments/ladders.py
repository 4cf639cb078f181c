"""Ladders: what really lets depth scale, measured over several seeds.

- ``depth_ladder``: final test accuracy against depth for named recipes (naive, LeCun 1998,
  the article's modern recipe, modern + skip connections).
- ``add_one_in``: from the naive recipe, each fix alone, every pair of fixes, then all of them.

Every configuration trains once per seed (``seed``, ``seed + 1``, ...; common's
:func:`~engine.experiments.common.seed_list`), and all runs of the same shape train as one stack
(:func:`~engine.experiments.common.train_many`). The result is the accuracy on the test split, of
the weights each run ends with: nothing is chosen on validation, so validation is only reported. A
difference of means counts as *beyond noise* when it is larger than the min-max spread over seeds
of both sides (common's :func:`~engine.experiments.common.beyond_noise`); with one seed there is
no spread, so no such verdict.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from engine import budget
from engine.datasets import load
from engine.experiments.common import (
    DEFAULT_SEEDS,
    SEED,
    SEEDS,
    Result,
    beyond_noise,
    compare_seeds,
    experiment,
    noise_words,
    seed_list,
    spread,
    train_many,
)
from engine.spec import Int, ListOf, OneOf
from engine.train import RECIPES, TrainConfig
from engine.train import TRAIN_SPEC as T

#: Recipes of the depth ladder (names of :data:`engine.train.RECIPES`) and their labels.
LADDER_RECIPES = {
    "naive": "naive",
    "lecun1998": "1990s (LeCun 1998)",
    "modern": "modern (article)",
    "modern_skips": "modern + skips",
}
DEFAULT_DEPTHS = (5, 10, 20, 50)
#: Deepest plain network the ladders train (skip connections allow the engine's own limit).
DEPTH_MAX = 50
#: Epochs of the depth ladder by default.
LADDER_EPOCHS = 10
#: The ladder Home shows (with ``seeds=DEFAULT_SEEDS`` and the sidebar's seed): 4 recipes at
#: depths 5-50, width 64, 10 epochs on 800 of the 1079 training digits. All seeds of one recipe
#: and depth train as one stack, and no eval pass over the training split is made (nothing here
#: shows it): about 9 s of CPU for 3 seeds, 1.8-2.7 s per recipe (Home calls one recipe at a
#: time). The orderings the lessons rest on hold there over seeds 0-2, beyond seed noise
#: (tests/engine/test_exp_ladders.py).
HOME_LADDER = dict(width=64, dataset="digits", epochs=LADDER_EPOCHS, n_train=800)

#: One fix each, applied to the naive recipe (label -> TrainConfig changes).
FIXES = {
    "ReLU": dict(activation="relu"),
    "He init": dict(init="he"),
    "BN": dict(batch_norm=True),
    "Adam": dict(optimizer="adam", lr=1e-3),
    "skips": dict(residual=True),
}

#: The seed count and first seed of a ladder (seed .. seed + seeds - 1 are trained).
#: The accuracy every ladder reports (validation chooses nothing here; it is only shown beside it).
METRIC = "final_test_acc"
_STAT_COLS = ["mean_test_acc", "min_test_acc", "max_test_acc", "spread", "n_seeds"]


def _acc(v) -> float:
    """An accuracy as a float: a missing or non-finite one (a diverged run) counts as 0."""
    return 0.0 if v is None or not np.isfinite(float(v)) else float(v)


def _r(v):
    return None if v is None else round(float(v), 4)


def _train_grid(configs: dict[tuple, TrainConfig], progress) -> pd.DataFrame:
    """Train every config (key: a tuple of the row's identifying fields) and return one row per
    run that started: ``key``, ``final_test_acc``, ``final_val_acc``, ``diverged_epoch``,
    ``epochs_run``, ``epochs`` (planned), ``finished`` (all epochs run, or diverged) and
    ``seconds``. Same-shape configs (e.g. the seeds of one recipe and depth) train as one stack;
    the ladders never show train figures, so the eval pass over the training split is skipped. A
    run the time cap cut is unfinished; runs after it are missing."""
    for cfg in configs.values():
        budget.check(cfg)
    labels = {" | ".join(map(str, k)): k for k in configs}
    hs = train_many({lab: configs[k] for lab, k in labels.items()}, progress, eval_train=False)
    rows = []
    for lab, h in hs.items():
        rows.append(
            {
                "key": labels[lab],
                "final_test_acc": None if h.final_test_acc is None else round(float(h.final_test_acc), 4),
                "final_val_acc": None if h.final_val_acc is None else round(float(h.final_val_acc), 4),
                "diverged_epoch": h.diverged_epoch,
                "epochs_run": len(h.epoch),
                "epochs": h.config.epochs,
                "finished": len(h.epoch) == h.config.epochs or h.diverged_epoch is not None,
                "seconds": round(h.seconds, 2),
            }
        )
    cols = [
        "key",
        "final_test_acc",
        "final_val_acc",
        "diverged_epoch",
        "epochs_run",
        "epochs",
        "finished",
        "seconds",
    ]
    return pd.DataFrame(rows, columns=cols)


def _cut_note(done: int, planned: int) -> str:
    return (
        f"The time cap stopped this experiment after {done} of {planned} runs: the chart shows the finished "
        "runs, and no verdict is drawn from an unfinished experiment."
    )


def _stats(accs) -> dict:
    """mean, min, max and spread (common's :func:`spread`, None with one seed) of the test
    accuracies over seeds (a diverged run counts 0)."""
    a = np.asarray([_acc(v) for v in accs], float)
    return {
        "mean_test_acc": round(float(a.mean()), 4),
        "min_test_acc": round(float(a.min()), 4),
        "max_test_acc": round(float(a.max()), 4),
        "spread": _r(spread(a)),
        "n_seeds": len(a),
    }


def _and(words: list) -> str:
    """ "a", "a and b", "a, b and c"."""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _pct(x: float) -> str:
    return f"{x:.0%}"


def _seeds_words(seeds: list) -> str:
    """ "seed 0" or "seeds 0, 1, 2"."""
    return f"seed {seeds[0]}" if len(seeds) == 1 else "seeds " + ", ".join(map(str, seeds))


# --------------------------------------------------------------------------- depth ladder


@experiment(
    "depth_ladder",
    depths=ListOf(Int(1, DEPTH_MAX), sort=True),
    recipes=ListOf(OneOf(LADDER_RECIPES)),
    width=T["width"],
    dataset=T["dataset"],
    epochs=T["epochs"],
    n_train=T["n_train"],
    seeds=SEEDS,
    seed=SEED,
)
def depth_ladder(
    depths: tuple = DEFAULT_DEPTHS,
    recipes: tuple = tuple(LADDER_RECIPES),
    width: int = 64,
    dataset: str = "digits",
    epochs: int = LADDER_EPOCHS,
    n_train: int | None = None,
    seeds: int = DEFAULT_SEEDS,
    seed: int = 0,
    progress=None,
) -> Result:
    """Final test accuracy against depth for named recipes, ``seeds`` seeds each
    (``n_train=None``: the whole training split; Home uses :data:`HOME_LADDER`).

    Tables: ``runs`` (one row per recipe, depth and seed), ``ladder`` (per recipe and depth:
    mean, min, max and spread of the test accuracy over seeds, and the difference from the
    article's modern recipe with its ``beyond_noise`` flag). Summary: ``comparison`` (per depth,
    keyed by the depth as a string: common's :func:`compare_seeds` block of every recipe against
    the modern one), ``comparisons`` (per depth: skips vs plain modern, 1990s vs naive, 1990s vs
    modern) and ``deepest_learned`` per recipe; notes say what they show.
    """
    seeds_ = seed_list(seed, seeds)
    shape = dict(width=width, dataset=dataset, epochs=epochs, n_train=n_train)
    configs = {(r, d, s): RECIPES[r].replace(depth=d, seed=s, **shape) for r in recipes for d in depths for s in seeds_}
    runs = _train_grid(configs, progress)
    keys = list(runs["key"]) if len(runs) else []
    runs.insert(0, "recipe", [k[0] for k in keys])
    runs.insert(1, "label", [LADDER_RECIPES[k[0]] for k in keys])
    runs.insert(2, "depth", [int(k[1]) for k in keys])
    runs.insert(3, "seed", [int(k[2]) for k in keys])
    chance = 1 / load(dataset, seed).n_classes
    return ladder_result(runs.drop(columns="key"), chance, planned=len(configs))


def combine_ladder(parts: list) -> Result | None:
    """One depth ladder from :func:`depth_ladder` results of separate calls (e.g. one per recipe,
    so that each gets the whole time cap): their runs stacked, the summary and notes recomputed."""
    parts = [p for p in parts if p is not None]
    if not parts:
        return None
    runs = pd.concat([p.tables["runs"] for p in parts], ignore_index=True)
    return ladder_result(runs, parts[0].summary["chance_acc"], planned=sum(p.summary["planned_runs"] for p in parts))


def ladder_result(runs: pd.DataFrame, chance: float, planned: int | None = None) -> Result:
    """The depth ladder's tables, summary and notes from its ``runs`` (one row per run: recipe,
    label, depth, seed, final_test_acc, finished, ...); ``planned`` runs were asked for.

    The ladder table uses finished runs only. Unless every planned run finished, the summary says
    ``complete: False`` and the only note says so: no verdict from an unfinished ladder."""
    runs = runs.reset_index(drop=True)
    planned = len(runs) if planned is None else planned
    done = runs[runs["finished"].astype(bool)] if "finished" in runs else runs
    complete = len(done) == planned
    accs = {
        (r, int(d)): np.array([_acc(v) for v in g[METRIC]])
        for (r, d), g in done.groupby(["recipe", "depth"], sort=False)
    }
    rows = []
    for (r, d), a in accs.items():
        base = accs.get(("modern", d))
        row = {"recipe": r, "label": LADDER_RECIPES[r], "depth": d, **_stats(a)}
        if r != "modern" and base is not None:
            row["diff_vs_modern"] = round(float(a.mean() - base.mean()), 4)
            row["beyond_noise"] = beyond_noise(a, base)
        else:
            row["diff_vs_modern"], row["beyond_noise"] = None, None
        rows.append(row)
    ladder = pd.DataFrame(rows, columns=["recipe", "label", "depth", *_STAT_COLS, "diff_vs_modern", "beyond_noise"])
    summary = {
        "metric": METRIC,
        "chance_acc": round(chance, 4),
        "seeds": sorted({int(x) for x in runs["seed"]}),
    }
    summary.update(planned_runs=int(planned), finished_runs=len(done), complete=complete)
    learned_at = (1 + chance) / 2
    summary["learned_threshold"] = round(learned_at, 4)
    deepest = {}
    for r in dict.fromkeys(ladder["recipe"]) if len(ladder) else ():
        part = ladder[(ladder["recipe"] == r) & (ladder["mean_test_acc"] >= learned_at)]
        deepest[r] = int(part["depth"].max()) if len(part) else None
    summary["deepest_learned"] = deepest
    # every recipe against the article's modern one, per depth (common's block; JSON keys are strings)
    summary["comparison"] = {
        str(int(d)): compare_seeds(g, "modern", by="recipe", value=METRIC)
        for d, g in done.groupby("depth", sort=True)
        if "modern" in set(g["recipe"])
    }
    comps = []
    for a_name, b_name in COMPARISONS:
        for d in sorted(set(ladder["depth"])) if len(ladder) else ():
            if (a_name, d) in accs and (b_name, d) in accs:
                a, b = accs[(a_name, d)], accs[(b_name, d)]
                comps.append(
                    {
                        "a": a_name,
                        "b": b_name,
                        "depth": int(d),
                        "a_mean": round(float(a.mean()), 4),
                        "b_mean": round(float(b.mean()), 4),
                        "a_spread": _r(spread(a)),
                        "b_spread": _r(spread(b)),
                        "diff": round(float(a.mean() - b.mean()), 4),
                        "beyond_noise": beyond_noise(a, b),
                    }
                )
    summary["comparisons"] = comps
    # a ladder of one recipe compares nothing: its words wait for the other parts (combine_ladder)
    if len(set(runs["recipe"])) < 2:
        notes = []
    else:
        notes = _ladder_notes(summary, learned_at) if complete else [_cut_note(len(done), planned)]
    return Result(tables={"ladder": ladder, "runs": runs}, summary=summary, notes=notes)


#: Pairs (a, b) the depth ladder compares at every depth.
COMPARISONS = (("modern_skips", "modern"), ("lecun1998", "naive"), ("lecun1998", "modern"))
_COMPARISON_WORDS = {
    ("modern_skips", "modern"): "Skip connections on the article's recipe",
    ("lecun1998", "naive"): "The 1990s recipe against the naive one",
    ("lecun1998", "modern"): "The 1990s recipe against the article's modern one",
}


def _ladder_notes(summary: dict, learned_at: float) -> list[str]:
    """Sentences computed from the ladder: the deepest depth each recipe learns at, and each
    comparison at the depth where its gap is largest, with its noise verdict."""
    notes = []
    deepest = summary["deepest_learned"]
    if deepest:
        parts = [f"{LADDER_RECIPES[r]}: {'none' if d is None else f'up to depth {d}'}" for r, d in deepest.items()]
        notes.append(
            f"Deepest network that learns (mean test accuracy at least {learned_at:.0%}): " + "; ".join(parts) + "."
        )
    for a_name, b_name in COMPARISONS:
        rows = [c for c in summary["comparisons"] if (c["a"], c["b"]) == (a_name, b_name)]
        if not rows:
            continue
        c = max(rows, key=lambda c: abs(c["diff"]))
        notes.append(
            f"{_COMPARISON_WORDS[(a_name, b_name)]}: the largest gap is at depth {c['depth']}, "
            f"{_pct(c['a_mean'])} against {_pct(c['b_mean'])} "
            f"({c['diff'] * 100:+.0f} pts, {noise_words(c['beyond_noise'])})."
        )
    return notes


# --------------------------------------------------------------------------- add-one-in ladder
#: Defaults of :func:`add_one_in` (depth 10: ReLU alone and He alone stay near chance, together
#: they learn; see the tests for the margins over three seeds).
ADD_ONE_IN_DEPTH, ADD_ONE_IN_EPOCHS = 10, 20
#: The baseline every add-one-in variant is compared with.
ADD_ONE_IN_BASELINE = "naive"


def add_one_in_variants(base: TrainConfig, fixes=tuple(FIXES)) -> dict[str, TrainConfig]:
    """label -> config: ``base`` (the naive recipe), each fix alone, every pair, all together."""
    out = {"naive": base}
    for f in fixes:
        out[f] = base.replace(**FIXES[f])
    for a, b in itertools.combinations(fixes, 2):
        out[f"{a} + {b}"] = base.replace(**FIXES[a], **FIXES[b])
    if len(fixes) > 2:
        out["all: " + " + ".join(fixes)] = base.replace(**{k: v for f in fixes for k, v in FIXES[f].items()})
    return out


@experiment(
    "add_one_in",
    depth=Int(1, DEPTH_MAX),
    width=T["width"],
    dataset=T["dataset"],
    epochs=T["epochs"],
    fixes=ListOf(OneOf(FIXES)),
    seeds=SEEDS,
    seed=SEED,
)
def add_one_in(
    depth: int = ADD_ONE_IN_DEPTH,
    width: int = 64,
    dataset: str = "digits",
    epochs: int = ADD_ONE_IN_EPOCHS,
    fixes: tuple = tuple(FIXES),
    seeds: int = DEFAULT_SEEDS,
    seed: int = 0,
    progress=None,
) -> Result:
    """From the naive recipe (sigmoid, 0.01 init, SGD 0.1), add each fix alone, then every pair.

    Tables: ``runs`` (one row per variant and seed) and ``variants`` (mean, min, max and spread of
    the test accuracy, the change from naive and its ``beyond_noise`` flag, and for pairs the
    ``interaction``: the pair's gain minus the sum of its two fixes' gains alone). Summary:
    ``comparison`` (common's :func:`compare_seeds` block, every variant against naive). Notes say
    which fixes work alone and which only together, from those numbers.
    """
    seeds_ = seed_list(seed, seeds)
    base = RECIPES["naive"].replace(depth=depth, width=width, dataset=dataset, epochs=epochs)
    variants = add_one_in_variants(base, fixes)
    configs = {(v, s): cfg.replace(seed=s) for v, cfg in variants.items() for s in seeds_}
    runs = _train_grid(configs, progress)
    chance = 1 / load(dataset, seed).n_classes
    return add_one_in_result(runs, fixes, chance, planned=len(configs))


def _kind(v: str) -> str:
    if v == ADD_ONE_IN_BASELINE:
        return "baseline"
    if v.startswith("all: "):
        return "all"
    return "pair" if " + " in v else "alone"


def add_one_in_result(runs: pd.DataFrame, fixes: tuple, chance: float, planned: int | None = None) -> Result:
    """Tables, summary and notes of :func:`add_one_in` from its ``runs`` (``key`` = (variant, seed));
    as :func:`ladder_result`, only finished runs count, and an unfinished experiment draws no verdict."""
    runs = runs.copy()
    runs.insert(0, "variant", [k[0] for k in runs["key"]])
    runs.insert(1, "seed", [int(k[1]) for k in runs["key"]])
    runs = runs.drop(columns="key").reset_index(drop=True)
    planned = len(runs) if planned is None else planned
    done = runs[runs["finished"].astype(bool)] if "finished" in runs else runs
    accs = {v: np.array([_acc(x) for x in g[METRIC]]) for v, g in done.groupby("variant", sort=False)}
    base_name = ADD_ONE_IN_BASELINE
    if base_name not in accs:
        empty = pd.DataFrame(columns=["variant", "kind", *_STAT_COLS])
        summary = {
            "metric": METRIC,
            "chance_acc": round(chance, 4),
            "complete": False,
            "planned_runs": planned,
            "finished_runs": len(done),
        }
        return Result(tables={"variants": empty, "runs": runs}, summary=summary, notes=[_cut_note(len(done), planned)])
    naive = accs[base_name]
    rows = []
    for v, a in accs.items():
        kind = _kind(v)
        row = {"variant": v, "kind": kind, **_stats(a)}
        row["gain_vs_naive"] = round(float(a.mean() - naive.mean()), 4) if v != base_name else None
        row["beyond_noise"] = beyond_noise(a, naive) if v != base_name else None
        row["interaction"], row["interaction_beyond_noise"] = None, None
        parts = v.split(" + ") if kind == "pair" else ()
        if parts and all(p in accs for p in parts):
            x, y = accs[parts[0]], accs[parts[1]]
            inter = (a.mean() - naive.mean()) - (x.mean() - naive.mean()) - (y.mean() - naive.mean())
            row["interaction"] = round(float(inter), 4)
            spreads = [spread(z) for z in (a, x, y, naive)]
            row["interaction_beyond_noise"] = None if None in spreads else bool(abs(inter) > max(spreads))
        rows.append(row)
    table = pd.DataFrame(rows)
    complete = len(done) == planned
    summary = {
        "metric": METRIC,
        "chance_acc": round(chance, 4),
        "planned_runs": int(planned),
        "finished_runs": len(done),
        "complete": complete,
        "naive_test_acc": round(float(naive.mean()), 4),
        "seeds": sorted({int(x) for x in runs["seed"]}),
        "comparison": compare_seeds(done, base_name, by="variant", value=METRIC),
        "alone_beyond_noise": [
            r["variant"] for r in rows if r["kind"] == "alone" and r["beyond_noise"] and r["gain_vs_naive"] > 0
        ],
        "interacting_pairs": [
            r["variant"] for r in rows if r["kind"] == "pair" and r["interaction_beyond_noise"] and r["interaction"] > 0
        ],
    }
    notes = _add_one_in_notes(table, summary) if complete else [_cut_note(len(done), planned)]
    return Result(tables={"variants": table, "runs": runs}, summary=summary, notes=notes)


def _add_one_in_notes(table: pd.DataFrame, summary: dict) -> list[str]:
    """What the add-one-in ladder shows, computed from its table."""
    by = table.set_index("variant")
    notes = []
    alone = table[table["kind"] == "alone"]
    helped = summary["alone_beyond_noise"]
    one_seed = len(summary["seeds"]) < 2
    if len(alone):
        lifts = ", ".join(f"{v} {_pct(by.loc[v, 'mean_test_acc'])}" for v in alone["variant"])
        start = f"Alone, from the naive recipe's {_pct(summary['naive_test_acc'])} test accuracy: {lifts}. "
        if one_seed:
            notes.append(start + f"Which of these is more than seed noise is not measured ({noise_words(None)}).")
        elif helped:
            verb = "lifts" if len(helped) == 1 else "lift"
            notes.append(start + f"Only {_and(helped)} {verb} it by more than seed noise.")
        else:
            notes.append(start + "No single fix lifts it by more than seed noise.")
    pairs = table[(table["kind"] == "pair") & table["interaction"].notna()]
    if len(pairs):
        # the largest interaction, among those beyond noise when there are any
        pool = pairs[pairs["variant"].isin(summary["interacting_pairs"])] if summary["interacting_pairs"] else pairs
        top = pool.loc[pool["interaction"].astype(float).idxmax()]
        a, b = top["variant"].split(" + ")
        together = (
            f"{a} alone gives {_pct(by.loc[a, 'mean_test_acc'])} and {b} alone "
            f"{_pct(by.loc[b, 'mean_test_acc'])}; {a} + {b} together give {_pct(top['mean_test_acc'])}: "
            f"{100 * top['interaction']:+.0f} points against the sum of their gains alone "
            f"({noise_words(top['interaction_beyond_noise'])})."
        )
        if summary["interacting_pairs"]:
            n = len(summary["interacting_pairs"])
            notes.append(
                f"Fixes interact: {together} {n} of {len(pairs)} pairs do more together than their parts, "
                "by more than seed noise."
            )
        elif one_seed:
            notes.append(f"The largest interaction: {together}")
        else:
            notes.append(
                f"No pair does more than its two fixes added, beyond seed noise (largest: {a} + {b}, "
                f"{100 * top['interaction']:+.0f} points, {noise_words(top['interaction_beyond_noise'])})."
            )
    return notes
