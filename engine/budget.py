"""A compute budget: what one training run may cost on the shared 2-core demo server."""

from __future__ import annotations

import os

from engine.datasets import n_train_available, split_sizes

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


#: Peak resident memory one run may use (the hosted demo runs several at once).
MAX_BYTES = 2**30

_N_FEATURES = {"digits": (64, 10), "spirals": (2, 3)}


def n_params(config) -> int:
    """Learnable parameters of the MLP that ``config`` describes (Linear W and b, BN gamma and beta)."""
    n_in, n_out = _N_FEATURES.get(config.dataset, (2, 2))
    sizes = [n_in] + [config.width] * config.depth + [n_out]
    weights = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    return weights + n_out + (2 if config.batch_norm else 1) * config.width * config.depth


def peak_bytes(config, baseline: int = 200 * 2**20, members: int = 1) -> float:
    """Peak resident memory of ``train(config)`` (float32), calibrated by benchmarks/memory.py;
    with ``members=K``, of ``train_stacked`` on K such configs.

    26 bytes per parameter (param, grad, Adam's two moments, the diagnostics' copy, early
    stopping's best weights, allocator slack) plus, per hidden unit and per sample of a batch
    (or of an eval-mode pass's chunk, up to 1024 rows of the largest split, if larger), what
    backward keeps: 4 bytes each for the
    activation output, BatchNorm's centred input and the skip sum, 1 for the dropout mask; over
    the Python, NumPy and scikit-learn baseline. Over-predicts measured peaks by 3-15%. A stack
    holds all of that once per member (its arrays carry a member axis), plus each member's copy
    of its data split and its own lone-shaped model for its History: linear in K.
    """
    n, n_val, n_test = split_sizes(config.dataset)
    n_train = config.n_train or n
    batch = max(min(config.batch_size, n_train), min(1024, max(n_train, n_val, n_test)))
    per_unit = 4 * (1 + bool(config.batch_norm) + bool(config.residual)) + (1 if config.dropout else 0)
    one = 26 * n_params(config) + per_unit * batch * config.width * config.depth
    if members > 1:
        n_in = _N_FEATURES.get(config.dataset, (2, 2))[0]
        one += 4 * n_params(config) + 4 * (n_train + n_val + n_test) * n_in  # its own model and split, float32
    return float(baseline + members * one)


def flops(config, members: int = 1) -> float:
    """Approximate FLOPs of a run: per epoch, 6 x training samples x sum(fan_in x fan_out) for
    the steps, plus 2 x that per sample of the eval-mode passes (validation, test and, with
    ``eval_train``, the training split again); ``members`` times that for a stack."""
    n_in, n_out = _N_FEATURES.get(config.dataset, (2, 2))
    _, n_val, n_test = split_sizes(config.dataset)
    n_train = config.n_train or n_train_available(config.dataset)
    macs = n_in * config.width + (config.depth - 1) * config.width**2 + config.width * n_out
    return float(members * config.epochs * (6 * n_train + 2 * (n_train + n_val + n_test)) * macs)


def max_members(config, max_bytes: float = MAX_BYTES) -> int:
    """How many members like ``config`` one stack may train within ``max_bytes`` (at least 1)."""
    base = peak_bytes(config, members=0)
    per_member = peak_bytes(config, members=3) - peak_bytes(config, members=2)
    return max(1, int((max_bytes - base) // per_member))


def check(config, max_flops: float = MAX_FLOPS, max_bytes: float = MAX_BYTES, members: int = 1) -> None:
    """Raise ValueError when ``config`` costs more than ``max_flops`` or ``max_bytes``, saying what to reduce.

    ``max_flops`` bounds each run; with ``members=K`` (a stack of K such runs) ``max_bytes``
    bounds the whole stack, whose memory grows linearly in K.
    """
    f = flops(config)
    if f > max_flops:
        raise ValueError(
            f"this run needs about {f:.2g} FLOPs, over the budget of {max_flops:.2g}: "
            f"reduce depth ({config.depth}), width ({config.width}) or epochs ({config.epochs}) "
            f"by a factor of {f / max_flops:.1f}"
        )
    m = peak_bytes(config, members=members)
    if m > max_bytes:
        what = "this run needs" if members == 1 else f"these {members} runs trained together need"
        fewer = "" if members == 1 else f", or train at most {max_members(config, max_bytes)} of them together"
        raise ValueError(
            f"{what} about {m / 2**20:.0f} MiB of memory, over the budget of {max_bytes / 2**20:.0f} MiB: "
            f"reduce depth ({config.depth}) or width ({config.width}){fewer}"
        )
