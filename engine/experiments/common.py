"""Shared pieces of the experiments: the registry, the result type, multi-run training."""

from __future__ import annotations

import inspect
import numbers
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from engine.train import History, TrainConfig, train

#: experiment name -> function. Filled by :func:`experiment`.
REGISTRY: dict = {}


def experiment(name: str):
    """Register a function as experiment ``name`` (its keyword defaults are its CLI params)."""

    def deco(fn):
        REGISTRY[name] = fn
        fn.experiment_name = name
        return fn

    return deco


def check_int(name: str, value, lo: int, hi: int) -> int:
    """``value`` as an int in [lo, hi], or a ValueError naming ``name`` and the range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not lo <= value <= hi:
        raise ValueError(f"{name} must be an integer in [{lo}, {hi}]; got {value!r}")
    return int(value)


def check_choices(name: str, values, allowed) -> tuple:
    """``values`` (one name or several) as a tuple of distinct names from ``allowed``, in order."""
    if isinstance(values, str):
        values = (values,)
    values = tuple(values)
    if not values:
        raise ValueError(f"{name} must name at least one of {', '.join(allowed)}; got none")
    for v in values:
        if v not in allowed:
            raise ValueError(f"{name} must be chosen from {', '.join(allowed)}; got {v!r}")
    return tuple(dict.fromkeys(values))


def params_of(fn) -> dict:
    """Keyword parameters (name -> default) of an experiment, without ``progress``."""
    return {
        k: p.default
        for k, p in inspect.signature(fn).parameters.items()
        if k != "progress" and p.default is not inspect.Parameter.empty
    }


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


def train_many(configs: dict[str, TrainConfig], progress=None) -> dict[str, History]:
    """Train each labelled config in turn.

    ``progress(fraction, message) -> bool | None`` is called after every epoch of every run with
    the overall fraction done; returning False stops the current run and skips the rest.
    """
    total = sum(c.epochs for c in configs.values()) or 1
    done, out, stop = 0, {}, False
    for label, cfg in configs.items():
        if stop:
            break

        def cb(epoch, hist, _label=label, _base=done):
            if progress is None:
                return True
            return progress((_base + epoch + 1) / total, f"{_label}: epoch {epoch + 1}/{hist.config.epochs}")

        h = train(cfg, on_epoch=cb)
        stop = h.stop_reason == "callback"
        out[label] = h
        done += cfg.epochs
    return out


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
