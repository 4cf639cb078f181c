"""Experiments of the initialization page.

``init_forward``: the article's forward pass through a deep stack of bias-free layers, one
strategy at a time, with per-layer statistics and pre-binned histograms.
``init_rules``: the standard deviation every rule gives for a layer shape (the naming table).
``init_training``: a short real training run per strategy on digits, batch norm off, over a few
seeds, with a verdict per strategy computed from the runs.

The variance rule every strategy is judged by: for ``z = a W`` with ``W`` independent of ``a``,
zero-mean, ``Var(z_j) = sum_i E[a_i^2] Var(W_ij) = fan_in * Var(W) * E[a^2]``. The forward
experiment measures both sides per layer (``z_std`` and ``z_std_predicted``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine.budget import check
from engine.experiments.common import Result, curves, experiment, train_many
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
SEEDS_RANGE = (1, 5)


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
    summary = {f"{r['strategy']}@{r['fan_out']}": r["std"] for r in rows}
    return Result(tables={"rules": table, "rules_wide": wide}, summary=summary)


def _verdicts(summary_df: pd.DataFrame) -> tuple[dict, list[str]]:
    """Per init: ``diverged`` (any seed), ``chance`` (mean final val acc < CHANCE_BAND) or ``learned``;
    the best learner and whether its lead over the next is beyond the seed spread (its worst seed
    beats the next one's best). Returns (verdict dict, sentences to show)."""
    status = {}
    for r in summary_df.itertuples():
        if r.diverged_seeds > 0:
            status[r.run] = "diverged"
        elif r.final_val_acc < CHANCE_BAND:
            status[r.run] = "chance"
        else:
            status[r.run] = "learned"
    n_seeds = int(summary_df["seeds"].max()) if len(summary_df) else 0
    out = {"status": status, "n_seeds": n_seeds}
    words = []
    of_seeds = f"{n_seeds} seeds" if n_seeds != 1 else "1 seed"
    diverged = [k for k, v in status.items() if v == "diverged"]
    chance = [k for k, v in status.items() if v == "chance"]
    learned = summary_df[summary_df["run"].map(status) == "learned"].sort_values("final_val_acc", ascending=False)
    seeds_of = dict(zip(summary_df["run"], summary_df["diverged_seeds"]))
    for k in diverged:
        words.append(f"**{k}**: the loss became inf/NaN in {seeds_of[k]} of {n_seeds} seeds; training stopped there.")
    if chance:
        words.append(f"**{', '.join(chance)}**: stayed near chance (below {CHANCE_BAND:.0%} validation accuracy).")
    if len(learned):
        top = learned.iloc[0]
        out["best"] = str(top.run)
        if len(learned) > 1:
            nxt = learned.iloc[1]
            beyond = bool(top.final_val_acc_min > nxt.final_val_acc_max)
            out["best_beyond_noise"] = beyond
            lead = f"**{top.run}** ends best ({top.final_val_acc:.1%} on average over {of_seeds})"
            if n_seeds < 2:
                words.append(f"{lead}; with one seed, its lead over {nxt.run} cannot be told from noise.")
            elif beyond:
                words.append(f"{lead}, ahead of {nxt.run} in every seed: beyond the seed spread.")
            else:
                words.append(
                    f"{lead}, but its seeds overlap with {nxt.run}'s ({nxt.final_val_acc_min:.1%} to "
                    f"{nxt.final_val_acc_max:.1%}): within the seed spread."
                )
        else:
            words.append(f"Only **{top.run}** learns ({top.final_val_acc:.1%} on average over {of_seeds}).")
    return out, words


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
    seed=T["seed"],
    seeds=Int(*SEEDS_RANGE),
)
def init_training(
    inits: tuple = STRATEGIES,
    depth: int = 8,
    width: int = 64,
    activation: str = "relu",
    optimizer: str = "sgd",
    lr: float = 0.1,
    epochs: int = 8,
    n_train: int = 500,
    batch_size: int = 32,
    seed: int = 0,
    seeds: int = 3,
    progress=None,
) -> Result:
    """A short real training run per init strategy on digits (no batch norm, constant lr), for
    ``seeds`` seeds (seed, seed + 1, ...); curves and accuracies are means over the seeds, with
    their min and max, and ``summary["verdict"]`` judges each strategy from those runs."""
    configs = {
        (s, k): TrainConfig(
            dataset="digits",
            n_train=n_train,
            depth=depth,
            width=width,
            activation=activation,
            init=s,
            batch_norm=False,
            optimizer=optimizer,
            lr=lr,
            schedule="constant",
            batch_size=batch_size,
            epochs=epochs,
            seed=seed + k,
        )
        for s in inits
        for k in range(seeds)
    }
    for c in configs.values():
        check(c)
    labelled = train_many({f"{s} (seed {seed + k})": c for (s, k), c in configs.items()}, progress)
    hist = {key: labelled[label] for key, label in zip(configs, labelled)}
    by_init: dict = {}
    for (s, _k), h in hist.items():
        by_init.setdefault(s, []).append(h)
    per_seed = curves({f"{s}|{k}": h for (s, k), h in hist.items()})
    per_seed[["run", "seed"]] = per_seed["run"].str.split("|", expand=True)
    curve = (
        per_seed.groupby(["run", "epoch"], sort=False)
        .agg(
            val_acc=("val_acc", "mean"),
            val_acc_min=("val_acc", "min"),
            val_acc_max=("val_acc", "max"),
            val_loss=("val_loss", "mean"),
            train_loss=("train_loss", "mean"),
            seeds=("val_acc", "size"),
        )
        .reset_index()
    )
    rows = []
    for s, hs in by_init.items():
        finals = [h.final_val_acc for h in hs if h.final_val_acc is not None and h.diverged_epoch is None]
        firsts = [h.val_acc[0] for h in hs if h.val_acc]
        div = [h.diverged_epoch for h in hs if h.diverged_epoch is not None]
        rows.append(
            {
                "run": s,
                "init": s,
                "seeds": len(hs),
                "first_val_acc": float(np.mean(firsts)) if firsts else None,
                "final_val_acc": float(np.mean(finals)) if finals and not div else None,
                "final_val_acc_min": float(min(finals)) if finals and not div else None,
                "final_val_acc_max": float(max(finals)) if finals and not div else None,
                "best_epoch": hs[0].best_epoch,
                "best_val_loss": min(hs[0].val_loss) if hs[0].val_loss else None,
                "diverged_seeds": len(div),
                "diverged_epoch": min(div) if div else None,
            }
        )
    summary_df = pd.DataFrame(rows).astype({"diverged_epoch": "Int64", "best_epoch": "Int64"})
    markers = pd.DataFrame(
        [
            {"run": r.run, "x": int(r.diverged_epoch), "label": f"{r.run}: diverged in epoch {int(r.diverged_epoch)}"}
            for r in summary_df.itertuples()
            if pd.notna(r.diverged_epoch)
        ],
        columns=["run", "x", "label"],
    )
    verdict, words = _verdicts(summary_df)
    notes = []
    if len(hist) < len(configs):
        notes.append(f"Stopped early: {len(hist)} of {len(configs)} runs finished.")
    summary = {
        r.run: {
            "final_val_acc": None if pd.isna(r.final_val_acc) else float(r.final_val_acc),
            "diverged_epoch": None if pd.isna(r.diverged_epoch) else int(r.diverged_epoch),
        }
        for r in summary_df.itertuples()
    }
    summary["verdict"] = verdict
    summary["verdict_text"] = words
    return Result(
        tables={"curves": curve, "summary": summary_df, "markers": markers, "per_seed": per_seed},
        summary=summary,
        notes=notes,
    )
