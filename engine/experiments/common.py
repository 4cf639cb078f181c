"""Shared pieces of the experiments: the registry, the result type, multi-run training."""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from engine.budget import max_members
from engine.spec import Int, validate
from engine.train import History, TrainConfig, stack_key, train_stacked

#: experiment name -> function. Filled by :func:`experiment`.
REGISTRY: dict = {}


def experiment(name: str, **spec):
    """Register a function as experiment ``name``; ``spec`` gives each keyword parameter its type.

    Every keyword parameter but ``progress`` needs a spec (:mod:`engine.spec`): the arguments are
    checked and converted through it, in the signature's order, before the body runs, and the CLI's
    help and parsing come from it. Checks that are not one parameter's range stay in the body.
    """

    def deco(fn):
        sig = inspect.signature(fn)
        names = [k for k, p in sig.parameters.items() if k != "progress" and p.default is not inspect.Parameter.empty]
        missing, extra = set(names) - set(spec), set(spec) - set(names)
        if missing or extra:
            raise TypeError(f"experiment {name}: spec and parameters differ ({sorted(missing)} {sorted(extra)})")
        ordered = {k: spec[k] for k in names}

        @functools.wraps(fn)
        def run(*args, **kwargs):
            bound = sig.bind(*args, **kwargs)
            bound.apply_defaults()
            checked = validate(ordered, dict(bound.arguments))
            return fn(**checked)

        run.experiment_name = name
        run.spec = ordered
        REGISTRY[name] = run
        return run

    return deco


def params_of(fn) -> dict:
    """Keyword parameters (name -> default) of an experiment, without ``progress``."""
    return {
        k: p.default
        for k, p in inspect.signature(fn).parameters.items()
        if k != "progress" and p.default is not inspect.Parameter.empty
    }


class Note(str):
    """A sentence for the page with a ``level``: ``"info"`` (default) or ``"warning"`` (the
    run diverged, the time cap cut it, a setting is out of the lesson's range). It is a
    ``str``, so it prints and compares as its text; the page picks the box from ``level``."""

    LEVELS = ("info", "warning")

    def __new__(cls, text: str, level: str = "info"):
        if level not in cls.LEVELS:
            raise ValueError(f"level must be one of {', '.join(cls.LEVELS)}; got {level!r}")
        note = super().__new__(cls, text)
        note.level = level
        return note

    def __reduce__(self):  # copies keep the level
        return (Note, (str(self), self.level))


def warning(text: str) -> Note:
    """A :class:`Note` at level ``"warning"``."""
    return Note(text, "warning")


def level_of(note) -> str:
    """The level of ``note`` (a plain string is ``"info"``)."""
    return getattr(note, "level", "info")


def spec_of(fn) -> dict:
    """Parameter name -> :class:`engine.spec.Param` of an experiment, in signature order."""
    return dict(fn.spec)


@dataclass
class Result:
    """What an experiment returns: named tidy tables, a JSON-able summary, and notes to show
    (:class:`Note`; a plain string counts as an info note)."""

    tables: dict[str, pd.DataFrame]
    summary: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_json_dict(self, name: str, params: dict) -> dict:
        """``{"experiment", "params", "tables": {name: records}, "summary"}`` with NaN -> None."""
        tables = {
            k: df.astype(object).where(pd.notna(df), None).to_dict(orient="records") for k, df in self.tables.items()
        }
        return {"experiment": name, "params": params, "tables": tables, "summary": self.summary}


def train_many(
    configs: dict[str, TrainConfig], progress=None, data=None, eval_train=True, on_epoch=None
) -> dict[str, History]:
    """Train each labelled config, same-shape configs together as one stack.

    Configs that agree on :data:`engine.train.STACK_SHARED` (they differ only in seed, init, lr,
    weight decay, dropout, schedule, warmup or early stopping) are trained by one
    :func:`engine.train.train_stacked` call (split where one stack would exceed the memory
    budget, :func:`engine.budget.max_members`); the stacks run in the order their first label comes.
    ``progress(fraction, message) -> bool | None`` is called once after every epoch of every
    stack with the overall fraction done; returning False stops that stack (its members keep
    their finished epochs, ``stop_reason = "callback"``) and skips the rest. ``data`` (a Split)
    is given to every run; by default each run loads its own split from its seed.
    ``eval_train=False`` skips the eval-mode pass over the training split (``train_loss`` and
    ``train_acc`` stay NaN), for experiments that never show them.
    ``on_epoch(label, epoch, history)``, when given, is called after every epoch of every member
    still training, with that member's History (its ``model`` holds the member's current weights),
    for experiments that measure the network as it trains; its return value is ignored.
    """
    groups: dict[tuple, list[str]] = {}
    for label, cfg in configs.items():
        groups.setdefault(stack_key(cfg), []).append(label)
    stacks = []
    for labels in groups.values():  # no stack above the memory budget (engine.budget)
        k = max_members(configs[labels[0]])
        stacks.extend(labels[i : i + k] for i in range(0, len(labels), k))
    total = sum(c.epochs for c in configs.values()) or 1
    done, out, stop = 0, {}, False
    for labels in stacks:
        if stop:
            break
        group = [configs[label] for label in labels]
        name = labels[0] if len(labels) == 1 else f"{labels[0]} and {len(labels) - 1} more"
        decided = {}  # epoch -> progress's answer, the same for every member of the stack

        member = {id(configs[label]): label for label in labels}  # History.config is the config given

        def cb(epoch, hist, _name=name, _base=done, _k=len(group), _decided=decided, _member=member):
            if on_epoch is not None:
                on_epoch(_member[id(hist.config)], epoch, hist)
            if progress is None:
                return True
            if epoch not in _decided:
                fraction = (_base + (epoch + 1) * _k) / total
                _decided[epoch] = progress(min(fraction, 1.0), f"{_name}: epoch {epoch + 1}/{hist.config.epochs}")
            return _decided[epoch]

        hists = train_stacked(group, on_epoch=cb, data=data, eval_train=eval_train)
        stop = any(h.stop_reason == "callback" for h in hists)
        out.update(zip(labels, hists))
        done += sum(c.epochs for c in group)
    return {label: out[label] for label in configs if label in out}


def train_seeded(configs: dict[tuple, TrainConfig], progress=None, label=str, **kw) -> dict[tuple, History]:
    """:func:`train_many` for configs keyed by ``(variant, seed)``: each runs as "label(variant)
    (seed k)" (its progress message) and comes back under its key; runs that did not finish
    (the time cap) are left out. ``kw`` goes to :func:`train_many`."""
    labels = {key: f"{label(key[0])} (seed {key[1]})" for key in configs}
    trained = train_many({labels[key]: cfg for key, cfg in configs.items()}, progress, **kw)
    return {key: trained[labels[key]] for key in configs if labels[key] in trained}


CURVE_COLUMNS = [
    "run",
    "epoch",
    "lr",
    "train_loss",
    "val_loss",
    "test_loss",
    "train_acc",
    "val_acc",
    "test_acc",
    "train_loss_running",
    "train_acc_running",
]


def curves(histories: dict[str, History]) -> pd.DataFrame:
    """Per-epoch metrics of several runs, one row per (run, epoch)."""

    def column(h, c):  # a series the run did not record (a History built by hand) is NaN
        values = getattr(h, c)
        return values if len(values) or not h.epoch else [np.nan] * len(h.epoch)

    frames = [
        pd.DataFrame({"run": label, **{c: column(h, c) for c in CURVE_COLUMNS[1:]}}) for label, h in histories.items()
    ]
    frames = [f for f in frames if len(f)]
    if frames:
        return pd.concat(frames, ignore_index=True)
    empty = {c: pd.Series(dtype=int if c == "epoch" else float) for c in CURVE_COLUMNS[1:]}
    return pd.DataFrame({"run": pd.Series(dtype=str), **empty})  # typed, so a concat keeps the dtypes


#: Curve columns per split: name shown -> (loss column, accuracy column) of :data:`CURVE_COLUMNS`.
SPLITS = {
    "train": ("train_loss", "train_acc"),
    "validation": ("val_loss", "val_acc"),
    "test": ("test_loss", "test_acc"),
    "train (running, training mode)": ("train_loss_running", "train_acc_running"),
}


def long_curves(wide: pd.DataFrame, splits=("train", "validation"), keys=("epoch",)) -> pd.DataFrame:
    """Per-epoch curves in long format: one row per (``keys``..., split) with ``loss`` and
    ``accuracy``, from wide curves (:func:`curves`' columns); ``splits`` are names of :data:`SPLITS`."""
    keys = [k for k in keys if k in wide.columns]
    parts = []
    for name in splits:
        loss, acc = SPLITS[name]
        part = wide[keys + [loss, acc]].rename(columns={loss: "loss", acc: "accuracy"})
        parts.append(part.assign(split=name))
    cols = keys + ["split", "loss", "accuracy"]
    return pd.concat(parts, ignore_index=True)[cols] if parts else pd.DataFrame(columns=cols)


def layer_stats(histories: dict[str, History]) -> pd.DataFrame:
    """Per-epoch per-layer diagnostics of several runs, one row per (run, epoch, layer)."""
    frames = [pd.DataFrame(h.layers).assign(run=label) for label, h in histories.items() if h.layers]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def run_summary(histories: dict[str, History]) -> pd.DataFrame:
    """One row per run: its seed, final validation and test accuracy (of the weights it returns),
    best epoch, last eval-mode train accuracy, epochs, divergence, seconds."""
    rows = []
    for label, h in histories.items():
        rows.append(
            {
                "run": label,
                "seed": h.config.seed,
                "final_val_acc": h.final_val_acc,
                "final_test_acc": h.final_test_acc,
                "best_epoch": h.best_epoch,
                "best_val_loss": min(h.val_loss) if h.val_loss else None,
                "last_train_acc": h.train_acc[-1] if h.train_acc else None,
                "epochs_run": len(h.epoch),
                "diverged_epoch": h.diverged_epoch,
                "stop_reason": h.stop_reason,
                "seconds": round(h.seconds, 3),
            }
        )
    return pd.DataFrame(rows)


def finite_only(df: pd.DataFrame) -> pd.DataFrame:
    """Replace inf with NaN so nothing infinite reaches a table or chart."""
    return df.replace([np.inf, -np.inf], np.nan)


# --------------------------------------------------------------------------- seeds and noise
#: Most seeds one comparison runs (``seeds`` parameters are checked against it).
MAX_SEEDS = 10
#: Seeds every comparison runs by default (the first is the sidebar's seed).
DEFAULT_SEEDS = 3
#: The spec of a comparison's ``seeds`` and of its first ``seed`` (every seed it runs stays a valid seed).
SEEDS = Int(1, MAX_SEEDS)
SEED = Int(0, 2**32 - 1 - MAX_SEEDS)


def seed_list(seed: int, seeds: int) -> list[int]:
    """The seeds of a comparison: ``seed, seed + 1, ..., seed + seeds - 1``."""
    seeds = SEEDS.check("seeds", seeds)
    seed = SEED.check("seed", seed)
    return [seed + i for i in range(seeds)]


def spread(values) -> float | None:
    """The min-max range of ``values`` over seeds; None with fewer than two."""
    a = np.asarray(values, float)
    return float(np.ptp(a)) if len(a) >= 2 else None


def beyond_noise(a, b) -> bool | None:
    """True when |mean(a) - mean(b)| exceeds the larger min-max spread over seeds of the two;
    None with fewer than two values on either side (noise not measured)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 2 or len(b) < 2:
        return None
    return bool(abs(a.mean() - b.mean()) > max(np.ptp(a), np.ptp(b)))


def noise_words(flag: bool | None) -> str:
    """The words a page shows for a :func:`beyond_noise` flag."""
    return {True: "bigger than seed noise", False: "within seed noise", None: "one seed: no noise estimate"}[flag]


def compare_seeds(table: pd.DataFrame, baseline, by: str = "variant", value: str = "final_test_acc") -> dict:
    """Each variant of a per-seed ``table`` (one row per variant and seed) against ``baseline``.

    Returns the JSON-able block every comparison's summary carries::

        {"metric": value, "baseline": baseline, "seeds": [...],
         "mean": {variant: mean}, "spread": {variant: min-max range or None},
         "diff": {variant: mean - baseline's mean}, "beyond_noise": {variant: bool or None}}

    A missing value (a diverged or unfinished run) counts as 0 accuracy when ``value`` is an
    accuracy, else it is left out. ``beyond_noise`` is None for the baseline itself and with one seed.
    """
    if baseline not in set(table[by]):
        raise ValueError(f"baseline {baseline!r} is not among the {by} values {sorted(set(table[by]), key=str)}")
    fill = 0.0 if value.endswith("acc") else np.nan
    groups = {}
    for v, g in table.groupby(by, sort=False):
        vals = pd.to_numeric(g[value], errors="coerce").astype(float).fillna(fill).to_numpy()
        groups[v] = vals[np.isfinite(vals)]
    base = groups[baseline]
    block = {"metric": value, "baseline": baseline, "seeds": sorted(int(s) for s in set(table["seed"]))}
    block["mean"] = {v: round(float(a.mean()), 4) if len(a) else None for v, a in groups.items()}
    block["spread"] = {v: None if spread(a) is None else round(spread(a), 4) for v, a in groups.items()}
    block["diff"] = {
        v: round(float(a.mean() - base.mean()), 4) if len(a) and len(base) else None for v, a in groups.items()
    }
    block["beyond_noise"] = {v: None if v == baseline else beyond_noise(a, base) for v, a in groups.items()}
    return block


def seed_band(df: pd.DataFrame, keys, values) -> pd.DataFrame:
    """Mean and min-max over seeds of each column in ``values``, per combination of ``keys``:
    columns ``keys + [v, v_min, v_max for v in values] + ["n_seeds"]``."""
    keys, values = list(keys), list(values)
    df = df.assign(**{v: pd.to_numeric(df[v], errors="coerce").astype(float) for v in values})  # None -> NaN
    g = df.groupby(keys, sort=False)
    out = g[values].mean()
    for v in values:
        out[f"{v}_min"], out[f"{v}_max"] = g[v].min(), g[v].max()
    out["n_seeds"] = g.size()
    return out.reset_index()
