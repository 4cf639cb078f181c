"""Experiments of the initialization page.

``init_forward``: the article's forward pass through a deep stack of bias-free layers, one
strategy at a time, with per-layer statistics and pre-binned histograms.
``init_rules``: the standard deviation every rule gives for a layer shape (the naming table).
``init_training``: a short real training run per strategy on digits, batch norm off, over a few
seeds, with a verdict per strategy computed from the runs (validation picks, test reports) and
each strategy against he in seed-noise terms.

The variance rule every strategy is judged by: for ``z = a W`` with ``W`` independent of ``a``,
zero-mean, ``Var(z_j) = sum_i E[a_i^2] Var(W_ij) = fan_in * Var(W) * E[a^2]``. The forward
experiment measures both sides per layer (``z_std`` and ``z_std_predicted``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine.budget import check
from engine.experiments.common import (
    DEFAULT_SEEDS,
    SEED,
    SEEDS,
    Result,
    compare_seeds,
    curves,
    experiment,
    finite_only,
    noise_words,
    seed_band,
    seed_list,
    train_seeded,
)
from engine.init import GAINS, STRATEGIES, init_std, init_weights
from engine.layers import ACTIVATIONS
from engine.spec import Bool, Int, ListOf, OneOf
from engine.train import TRAIN_SPEC as T
from engine.train import TrainConfig

#: The article reseeds NumPy with 42 before drawing each strategy's weights.
ARTICLE_WEIGHT_SEED = 42
MAX_DEPTH = 100
WIDTH_RANGE = (2, 512)
SAMPLES_RANGE = (2, 2000)
BINS_RANGE = (5, 100)
FAN_RANGE = (1, 100000)
#: Label of the extra forward run with tanh's gain: xavier's std times GAINS["tanh"] = 5/3.
TANH_GAIN = "xavier×5/3"
#: Verdict thresholds of init_training: a run "stays at chance" below CHANCE_BAND (chance is 0.1).
CHANCE_BAND = 0.2


def _stats(a: np.ndarray) -> dict:
    """Mean and std computed on a rescaled copy (so 1e-160 does not underflow when squared),
    units that output exactly zero for every sample, and the fraction of zero outputs."""
    if not np.isfinite(a).all():
        return {"mean": None, "std": None, "dead": None, "zero_frac": None}
    scale = float(np.max(np.abs(a)))
    if scale == 0.0:
        mean = std = 0.0
    else:
        b = a / scale
        mean, std = float(b.mean()) * scale, float(b.std()) * scale
    return {
        "mean": mean,
        "std": std,
        "dead": int(np.all(a == 0, axis=0).sum()),
        "zero_frac": float(np.mean(a == 0)),
    }


def _rms(a: np.ndarray) -> float | None:
    """sqrt(E[a^2]) computed on a rescaled copy (no underflow), None if anything is non-finite."""
    if not np.isfinite(a).all():
        return None
    scale = float(np.max(np.abs(a)))
    return 0.0 if scale == 0.0 else float(np.sqrt(np.mean((a / scale) ** 2))) * scale


def forward_stack(
    X,
    strategy: str,
    depth: int,
    width: int,
    activation: str = "relu",
    seed: int = ARTICLE_WEIGHT_SEED,
    gain: float = 1.0,
    pre: list | None = None,
):
    """Push ``X`` (N, d) through ``depth`` bias-free layers ``a = f(a @ W)`` of ``width`` units.

    Weights come from :func:`engine.init.init_weights` (std times ``gain``) with a fresh
    ``RandomState(seed)``, in the article's draw order. Returns the list of ``depth`` activations
    (float64); the pre-activations ``z = a @ W`` are appended to ``pre`` when a list is given.
    """
    rng = np.random.RandomState(seed)
    f = ACTIVATIONS[activation]
    a, outs = np.asarray(X, dtype=np.float64), []
    with np.errstate(all="ignore"):
        for _ in range(depth):
            z = a @ init_weights(strategy, a.shape[1], width, rng, gain)
            if pre is not None:
                pre.append(z)
            a = f(z)
            outs.append(a)
    return outs


@experiment(
    "init_forward",
    strategies=ListOf(OneOf(STRATEGIES)),
    depth=Int(1, MAX_DEPTH),
    width=Int(*WIDTH_RANGE),
    activation=OneOf(ACTIVATIONS),
    n_samples=Int(*SAMPLES_RANGE),
    hist_layers=ListOf(Int(1, MAX_DEPTH), min_len=0, unique=False),
    bins=Int(*BINS_RANGE),
    seed=Int(0, 2**32 - 1),
    tanh_gain=Bool(),
)
def init_forward(
    strategies: tuple = ("small", "large", "he"),
    depth: int = 20,
    width: int = 64,
    activation: str = "relu",
    n_samples: int = 100,
    hist_layers: tuple = (1, 10, 20),
    bins: int = 30,
    seed: int = 0,
    tanh_gain: bool = False,
    progress=None,
) -> Result:
    """Activations through a deep bias-free stack per init strategy: per-layer mean/std/dead units.

    ``tanh_gain`` adds a run labelled :data:`TANH_GAIN`: xavier's std times 5/3 (torch's
    ``calculate_gain("tanh")``). Per layer, ``z_std`` is the measured std of the pre-activations
    and ``z_std_predicted`` = sqrt(fan_in) * std(W) * sqrt(E[a_in^2]), the variance rule
    (``in_rms`` is sqrt(E[a_in^2]) of the layer's input). Histograms leave out exact zeros (ReLU's
    inactive half), counted in ``zeros_left_out``.
    """
    shown = sorted({h for h in hist_layers if h <= depth})
    # The input: N(0, 1) samples with ``width`` features, from the page seed (the article's X is unseeded).
    X = np.random.RandomState(seed).standard_normal((n_samples, width))
    runs = [(s, s, 1.0) for s in strategies]
    if tanh_gain:
        runs.append((TANH_GAIN, "xavier", GAINS["tanh"]))
    rows, final, hists, overflow = [], [], [], {}
    for n, (s, rule, gain) in enumerate(runs):
        pre = []
        outs = forward_stack(X, rule, depth, width, activation, gain=gain, pre=pre)
        w_std = init_std(rule, width, width, gain)
        for i, (a, z) in enumerate(zip(outs, pre), start=1):
            st = _stats(a)
            in_rms = _rms(X if i == 1 else outs[i - 2])
            z_std = _stats(z)["std"]
            rows.append(
                {
                    "strategy": s,
                    "layer": i,
                    **st,
                    "z_std": z_std,
                    "z_std_predicted": None if in_rms is None else float(np.sqrt(width)) * w_std * in_rms,
                    "in_rms": in_rms,
                }
            )
            if st["std"] is None and s not in overflow:
                overflow[s] = i
            if i in shown and st["std"] is not None:
                v = a.ravel()
                nonzero = v[v != 0]
                counts, edges = np.histogram(nonzero if len(nonzero) else v, bins=bins)
                hists.append(
                    pd.DataFrame(
                        {
                            "strategy": s,
                            "layer": i,
                            "bin_start": edges[:-1],
                            "bin_end": edges[1:],
                            "count": counts,
                            "zeros_left_out": int(len(v) - len(nonzero)) if len(nonzero) else 0,
                        }
                    )
                )
        last = _stats(outs[-1])
        final.append({"strategy": s, "mean": last["mean"], "std": last["std"], "dead": last["dead"], "units": width})
        if progress is not None and progress((n + 1) / len(runs), s) is False:
            break
    layers = pd.DataFrame(rows).astype(
        {
            "mean": float,
            "std": float,
            "zero_frac": float,
            "dead": "Int64",
            "z_std": float,
            "z_std_predicted": float,
            "in_rms": float,
        }
    )
    final_df = pd.DataFrame(final).astype({"mean": float, "std": float, "dead": "Int64"})
    hist_df = (
        pd.concat(hists, ignore_index=True)
        if hists
        else pd.DataFrame(columns=["strategy", "layer", "bin_start", "bin_end", "count", "zeros_left_out"])
    )
    notes = []
    dropped = sorted({h for h in hist_layers if h > depth})
    if dropped:
        notes.append(f"Histogram layers {', '.join(map(str, dropped))} are deeper than the stack ({depth}); skipped.")
    for s, i in overflow.items():
        notes.append(f"{s}: activations overflowed float64 at layer {i}; deeper layers are left out.")
    summary = {}
    for r in final:
        lay = layers[layers["strategy"] == r["strategy"]]
        first, last = lay.iloc[0], lay.iloc[-1]
        m, sd = r["mean"], r["std"]
        # share of E[a^2] (what the next layer's variance is made of) that is the constant mean
        big = None if m is None or sd is None else max(abs(m), sd)
        mean_share = None if not big else (m / big) ** 2 / ((m / big) ** 2 + (sd / big) ** 2)
        summary[r["strategy"]] = {
            "mean": m,
            "std": sd,
            "dead": r["dead"],
            "units": width,
            "first_std": None if pd.isna(first["std"]) else float(first["std"]),
            "last_z_std": None if pd.isna(last["z_std"]) else float(last["z_std"]),
            "mean_share_of_square": None if mean_share is None else float(mean_share),
        }
    return Result(tables={"final": final_df, "layers": layers, "histograms": hist_df}, summary=summary, notes=notes)


@experiment("init_rules", fan_in=Int(*FAN_RANGE), fan_outs=ListOf(Int(*FAN_RANGE)))
def init_rules(fan_in: int = 256, fan_outs: tuple = (256, 64, 10), progress=None) -> Result:
    """Standard deviation of every init rule for a layer with fan_in inputs and each fan_out."""
    rows = [
        {"strategy": s, "fan_in": fan_in, "fan_out": fo, "std": init_std(s, fan_in, fo)}
        for s in STRATEGIES
        for fo in fan_outs
    ]
    table = pd.DataFrame(rows)
    wide = table.pivot(index="strategy", columns="fan_out", values="std").reindex(list(STRATEGIES))
    wide.columns = [f"std (fan_out={c})" for c in wide.columns]
    wide = wide.reset_index()
    summary = {f"{r['strategy']}_{r['fan_out']}": r["std"] for r in rows}  # e.g. "he_256"
    return Result(tables={"rules": table, "rules_wide": wide}, summary=summary)


#: The baseline every init of :func:`init_training` is compared with.
BASELINE = "he"


def _verdicts(summary_df: pd.DataFrame, cmp: dict | None) -> tuple[dict, list[str]]:
    """Per init: ``diverged`` (any seed), ``chance`` (mean final test acc < CHANCE_BAND) or ``learned``.

    Validation picks the best learner (highest mean final validation accuracy); its test accuracy is
    the result. Each init is compared with he through ``cmp`` (:func:`compare_seeds` on final test
    accuracy), and the words come from its ``beyond_noise`` flags (:func:`noise_words`).
    Returns (verdict dict, sentences to show)."""
    status = {}
    for r in summary_df.itertuples():
        if r.diverged_seeds > 0:
            status[r.run] = "diverged"
        elif r.final_test_acc < CHANCE_BAND:
            status[r.run] = "chance"
        else:
            status[r.run] = "learned"
    n_seeds = int(summary_df["seeds"].max()) if len(summary_df) else 0
    out = {"status": status, "n_seeds": n_seeds}
    words = []
    diverged = [k for k, v in status.items() if v == "diverged"]
    chance = [k for k, v in status.items() if v == "chance"]
    learned = summary_df[summary_df["run"].map(status) == "learned"].sort_values("final_val_acc", ascending=False)
    seeds_of = dict(zip(summary_df["run"], summary_df["diverged_seeds"]))
    for k in diverged:
        words.append(f"**{k}**: the loss became inf/NaN in {seeds_of[k]} of {n_seeds} seeds; training stopped there.")
    if chance:
        words.append(f"**{', '.join(chance)}**: stayed near chance (below {CHANCE_BAND:.0%} test accuracy).")
    if len(learned):  # validation chooses; the test accuracy of its choice is reported
        top = learned.iloc[0]
        out["best"] = str(top.run)
        out["best_test_acc"] = float(top.final_test_acc)
        words.append(
            f"Validation picks **{top.run}** (highest mean validation accuracy); its test accuracy is "
            f"**{top.final_test_acc:.1%}**."
        )
    if cmp is not None:
        base = cmp["baseline"]
        parts = []
        for v, flag in cmp["beyond_noise"].items():
            if v == base:
                continue
            d = cmp["diff"][v]
            what = "diverged, counted as 0 %" if status.get(v) == "diverged" else f"{cmp['mean'][v]:.1%}"
            parts.append(f"**{v}** {what} ({d * 100:+.1f} pts: {noise_words(flag)})")
        if parts:
            words.append(
                f"Against **{base}** ({cmp['mean'][base]:.1%} test accuracy, mean of {n_seeds} seed"
                f"{'s' if n_seeds != 1 else ''}): " + "; ".join(parts) + "."
            )
        out["beyond_noise"] = {v: f for v, f in cmp["beyond_noise"].items() if v != base}
    return out, words


#: Page defaults of :func:`init_training`: 8 ReLU layers of 64 without BN, SGD at 0.1 for 8 epochs on
#: 500 digits. He learns; small stays at chance and large diverges, far beyond seed noise.
DEFAULT_DEPTH, DEFAULT_EPOCHS = 8, 8


@experiment(
    "init_training",
    inits=ListOf(OneOf(STRATEGIES)),
    depth=T["depth"],
    width=T["width"],
    activation=T["activation"],
    optimizer=T["optimizer"],
    lr=T["lr"],
    epochs=T["epochs"],
    n_train=T["n_train"].inner,
    batch_size=T["batch_size"],
    seed=SEED,
    seeds=SEEDS,
)
def init_training(
    inits: tuple = STRATEGIES,
    depth: int = DEFAULT_DEPTH,
    width: int = 64,
    activation: str = "relu",
    optimizer: str = "sgd",
    lr: float = 0.1,
    epochs: int = DEFAULT_EPOCHS,
    n_train: int = 500,
    batch_size: int = 32,
    seed: int = 0,
    seeds: int = DEFAULT_SEEDS,
    progress=None,
) -> Result:
    """A short real training run per init strategy on digits (no batch norm, constant lr), for
    ``seeds`` seeds (seed, seed + 1, ...), all (init, seed) runs in one stack.

    Tables: ``runs`` (one row per init and seed: final validation and test accuracy; a diverged run
    has none), ``per_seed`` (per epoch and seed), ``curves`` (per init and epoch: mean and min/max
    over seeds), ``summary`` (per init), ``markers`` (divergence). ``summary["comparison"]``: final
    test accuracy of each init against he (:func:`compare_seeds`; None when he is not trained);
    ``summary["verdict"]`` judges each init from those runs (validation picks, test reports)."""
    seed_values = seed_list(seed, seeds)
    base = TrainConfig(
        dataset="digits",
        n_train=n_train,
        depth=depth,
        width=width,
        activation=activation,
        batch_norm=False,
        optimizer=optimizer,
        lr=lr,
        schedule="constant",
        batch_size=batch_size,
        epochs=epochs,
        seed=seed,
    )
    configs = {(s, k): base.replace(init=s, seed=k) for s in inits for k in seed_values}
    for c in configs.values():
        check(c)
    hist = train_seeded(configs, progress)
    frames = [curves({s: h}).assign(seed=k) for (s, k), h in hist.items()]
    per_seed = finite_only(pd.concat(frames, ignore_index=True)) if frames else pd.DataFrame(columns=["run", "seed"])
    per_seed.insert(1, "init", per_seed["run"])
    cols = ["val_acc", "test_acc", "val_loss", "train_loss"]
    curve = (
        seed_band(per_seed, ["run", "epoch"], cols).rename(columns={"n_seeds": "seeds"})
        if len(per_seed)
        else pd.DataFrame(columns=["run", "epoch", *cols, "seeds"])
    )
    ok = {key: h.diverged_epoch is None for key, h in hist.items()}
    runs = pd.DataFrame(
        [
            {
                "init": s,
                "seed": k,
                "first_val_acc": h.val_acc[0] if h.val_acc else None,
                "final_val_acc": h.final_val_acc if ok[(s, k)] else None,
                "final_test_acc": h.final_test_acc if ok[(s, k)] else None,
                "best_epoch": h.best_epoch,
                "epochs_run": len(h.epoch),
                "diverged_epoch": h.diverged_epoch,
            }
            for (s, k), h in hist.items()
        ],
        columns=["init", "seed", "first_val_acc", "final_val_acc", "final_test_acc", "best_epoch", "epochs_run",
                 "diverged_epoch"],
    ).astype({"diverged_epoch": "Int64", "final_val_acc": float, "final_test_acc": float})  # fmt: skip
    rows = []
    for s in inits:
        g = runs[runs["init"] == s]
        if not len(g):
            continue
        div = g["diverged_epoch"].dropna()
        fine = not len(div)
        rows.append(
            {
                "run": s,
                "init": s,
                "seeds": len(g),
                "first_val_acc": float(g["first_val_acc"].mean()),
                "final_val_acc": float(g["final_val_acc"].mean()) if fine else None,
                "final_test_acc": float(g["final_test_acc"].mean()) if fine else None,
                "final_test_acc_min": float(g["final_test_acc"].min()) if fine else None,
                "final_test_acc_max": float(g["final_test_acc"].max()) if fine else None,
                "diverged_seeds": len(div),
                "diverged_epoch": int(div.min()) if len(div) else None,
            }
        )
    summary_df = pd.DataFrame(rows).astype({"diverged_epoch": "Int64"})
    markers = pd.DataFrame(
        [
            {"run": r.run, "x": int(r.diverged_epoch), "label": f"{r.run}: diverged in epoch {int(r.diverged_epoch)}"}
            for r in summary_df.itertuples()
            if pd.notna(r.diverged_epoch)
        ],
        columns=["run", "x", "label"],
    )
    cmp = compare_seeds(runs, BASELINE, by="init") if BASELINE in set(runs["init"]) else None
    verdict, words = _verdicts(summary_df, cmp)
    notes = []
    if len(hist) < len(configs):
        notes.append(f"Stopped early: {len(hist)} of {len(configs)} runs finished.")
    summary = {
        r.run: {
            "final_val_acc": None if pd.isna(r.final_val_acc) else float(r.final_val_acc),
            "final_test_acc": None if pd.isna(r.final_test_acc) else float(r.final_test_acc),
            "diverged_epoch": None if pd.isna(r.diverged_epoch) else int(r.diverged_epoch),
        }
        for r in summary_df.itertuples()
    }
    summary.update(seeds=seed_values, comparison=cmp, verdict=verdict, verdict_text=words)
    return Result(
        tables={"curves": curve, "summary": summary_df, "runs": runs, "markers": markers, "per_seed": per_seed},
        summary=summary,
        notes=notes,
    )
