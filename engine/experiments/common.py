"""Shared pieces of the experiments: the registry, the result type, multi-run training."""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from engine.budget import max_members
from engine.spec import validate
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


def spec_of(fn) -> dict:
    """Parameter name -> :class:`engine.spec.Param` of an experiment, in signature order."""
    return dict(fn.spec)


@dataclass
class Result:
    """What an experiment returns: named tidy tables, a JSON-able summary, and notes to show."""

    tables: dict[str, pd.DataFrame]
    summary: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_json_dict(self, name: str, params: dict) -> dict:
        """``{"experiment", "params", "tables": {name: records}, "summary"}`` with NaN -> None."""
        tables = {
            k: df.astype(object).where(pd.notna(df), None).to_dict(orient="records") for k, df in self.tables.items()
        }
        return {"experiment": name, "params": params, "tables": tables, "summary": self.summary}


def train_many(configs: dict[str, TrainConfig], progress=None, data=None) -> dict[str, History]:
    """Train each labelled config, same-shape configs together as one stack.

    Configs that agree on :data:`engine.train.STACK_SHARED` (they differ only in seed, init, lr,
    weight decay, dropout, schedule, warmup or early stopping) are trained by one
    :func:`engine.train.train_stacked` call (split where one stack would exceed the memory
    budget, :func:`engine.budget.max_members`); the stacks run in the order their first label comes.
    ``progress(fraction, message) -> bool | None`` is called once after every epoch of every
    stack with the overall fraction done; returning False stops that stack (its members keep
    their finished epochs, ``stop_reason = "callback"``) and skips the rest. ``data`` (a Split)
    is given to every run; by default each run loads its own split from its seed.
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

        def cb(epoch, hist, _name=name, _base=done, _k=len(group), _decided=decided):
            if progress is None:
                return True
            if epoch not in _decided:
                fraction = (_base + (epoch + 1) * _k) / total
                _decided[epoch] = progress(min(fraction, 1.0), f"{_name}: epoch {epoch + 1}/{hist.config.epochs}")
            return _decided[epoch]

        hists = train_stacked(group, on_epoch=cb, data=data)
        stop = any(h.stop_reason == "callback" for h in hists)
        out.update(zip(labels, hists))
        done += sum(c.epochs for c in group)
    return {label: out[label] for label in configs if label in out}


CURVE_COLUMNS = ["run", "epoch", "lr", "train_loss", "val_loss", "train_acc", "val_acc"]


def curves(histories: dict[str, History]) -> pd.DataFrame:
    """Per-epoch metrics of several runs, one row per (run, epoch)."""
    frames = [
        pd.DataFrame({"run": label, **{c: getattr(h, c) for c in CURVE_COLUMNS[1:]}}) for label, h in histories.items()
    ]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=CURVE_COLUMNS)


def layer_stats(histories: dict[str, History]) -> pd.DataFrame:
    """Per-epoch per-layer diagnostics of several runs, one row per (run, epoch, layer)."""
    frames = [pd.DataFrame(h.layers).assign(run=label) for label, h in histories.items() if h.layers]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def run_summary(histories: dict[str, History]) -> pd.DataFrame:
    """One row per run: final/best accuracy, epochs, divergence, seconds."""
    rows = []
    for label, h in histories.items():
        rows.append(
            {
                "run": label,
                "final_val_acc": h.final_val_acc,
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
