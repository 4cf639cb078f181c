"""A compute budget: what one training run may cost on the shared 2-core demo server."""

from __future__ import annotations

import os

from engine.datasets import n_train_available

#: Floating-point operations one run may use (forward + backward + update, all epochs).
#: About 20-40 s of this engine on one core of the reference machine (see README, Performance).
MAX_FLOPS = 2.5e11
#: Wall-clock cap the app enforces on every run through ``on_epoch`` (override with the
#: environment variable TRAINING_EXPLORER_MAX_SECONDS, e.g. lower in the fuzz tests).
MAX_SECONDS = 45.0


def max_seconds() -> float:
    """The time cap in force: ``TRAINING_EXPLORER_MAX_SECONDS`` if set and valid, else MAX_SECONDS."""
    try:
        value = float(os.environ.get("TRAINING_EXPLORER_MAX_SECONDS", MAX_SECONDS))
    except ValueError:
        return MAX_SECONDS
    return value if 0 < value <= 3600 else MAX_SECONDS

_N_FEATURES = {"digits": (64, 10), "spirals": (2, 3)}


def flops(config) -> float:
    """Approximate FLOPs of a run: 6 x samples x epochs x sum(fan_in x fan_out) (+ validation)."""
    n_in, n_out = _N_FEATURES.get(config.dataset, (2, 2))
    n_train = config.n_train or n_train_available(config.dataset)
    n_val = n_train_available(config.dataset) // 4
    macs = n_in * config.width + (config.depth - 1) * config.width**2 + config.width * n_out
    return float(config.epochs * (6 * n_train + 2 * n_val) * macs)


def check(config, max_flops: float = MAX_FLOPS) -> None:
    """Raise ValueError when ``config`` costs more than ``max_flops``, saying what to reduce."""
    f = flops(config)
    if f > max_flops:
        raise ValueError(
            f"this run needs about {f:.2g} FLOPs, over the budget of {max_flops:.2g}: "
            f"reduce depth ({config.depth}), width ({config.width}) or epochs ({config.epochs}) "
            f"by a factor of {f / max_flops:.1f}"
        )
