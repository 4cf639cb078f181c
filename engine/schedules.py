"""Learning-rate schedules: pure functions of a 0-based epoch, vectorised over arrays."""

from __future__ import annotations

import numpy as np


def _out(x):
    """Return a Python float for scalar input, an array otherwise."""
    return float(x) if np.ndim(x) == 0 else x


def constant(epoch, initial_lr):
    """lr = initial_lr."""
    return _out(np.zeros_like(np.asarray(epoch, dtype=float)) + initial_lr)


def step_decay(epoch, initial_lr, decay=0.5, step_size=30):
    """lr = initial_lr * decay ** (epoch // step_size)  (torch ``StepLR``)."""
    e = np.asarray(epoch)
    return _out(initial_lr * decay ** (e // step_size))


def exponential(epoch, initial_lr, gamma=0.95):
    """lr = initial_lr * gamma ** epoch  (torch ``ExponentialLR``)."""
    return _out(initial_lr * gamma ** np.asarray(epoch, dtype=float))


def cosine(epoch, total_epochs, initial_lr, min_lr=1e-6):
    """lr = min_lr + (initial_lr - min_lr)(1 + cos(pi epoch / total)) / 2  (Loshchilov & Hutter, 2017)."""
    e = np.asarray(epoch, dtype=float)
    return _out(min_lr + 0.5 * (initial_lr - min_lr) * (1 + np.cos(np.pi * e / total_epochs)))


def warmup_cosine(epoch, warmup_epochs, total_epochs, initial_lr):
    """Linear warmup ``initial_lr * epoch / warmup`` then cosine over the remaining epochs (Goyal et al., 2017)."""
    e = np.asarray(epoch, dtype=float)
    if warmup_epochs <= 0:
        return cosine(e, total_epochs, initial_lr)
    warm = initial_lr * e / warmup_epochs
    cos = cosine(e - warmup_epochs, total_epochs - warmup_epochs, initial_lr)
    return _out(np.where(e < warmup_epochs, warm, cos))


#: schedule name -> short description. Single source of truth for UI choices and TrainConfig.
SCHEDULES = {
    "constant": "fixed learning rate",
    "step": "halve every 30% of the epochs (step decay)",
    "exponential": "multiply by 0.95 each epoch",
    "cosine": "cosine decay to 1e-6",
    "warmup_cosine": "linear warmup, then cosine decay",
}


def lr_at(name, epoch, total_epochs, initial_lr, warmup_epochs=0):
    """Learning rate of schedule ``name`` for a training run of ``total_epochs`` epochs.

    This is how :func:`engine.train.train` uses the schedules. Step decay halves every
    ``max(1, round(0.3 * total_epochs))`` epochs. Warmup is evaluated one epoch ahead
    (``epoch + 1``) so the first epoch does not run at lr = 0, and ends at ``initial_lr``
    on epoch ``warmup_epochs - 1``.
    """
    if name == "constant":
        return constant(epoch, initial_lr)
    if name == "step":
        return step_decay(epoch, initial_lr, 0.5, max(1, round(0.3 * total_epochs)))
    if name == "exponential":
        return exponential(epoch, initial_lr)
    if name == "cosine":
        return cosine(epoch, total_epochs, initial_lr)
    if name == "warmup_cosine":
        e = np.asarray(epoch, dtype=float)
        if warmup_epochs <= 0:
            return cosine(e, total_epochs, initial_lr)
        return _out(
            np.where(
                e < warmup_epochs,
                initial_lr * (e + 1) / warmup_epochs,
                cosine(e - warmup_epochs + 1, total_epochs - warmup_epochs + 1, initial_lr),
            )
        )
    raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}; got {name!r}")
