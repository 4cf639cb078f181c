"""Early stopping on the validation loss (Prechelt, 1998)."""

from __future__ import annotations

import math

import numpy as np


class EarlyStopping:
    """Stop when the validation loss has not improved for ``patience`` checks.

    Improvement means ``val_loss < best_loss - min_delta``. On improvement the weights are
    copied (never referenced) into ``best_weights``.

    Attributes
    ----------
    best_loss : float
    best_epoch : int or None
        0-based index of the ``check`` call that set ``best_loss``.
    best_weights : list of ndarray or None
    counter : int
        Checks since the last improvement.
    """

    def __init__(self, patience=10, min_delta=0.0):
        if isinstance(patience, bool) or int(patience) != patience or patience < 1:
            raise ValueError(f"patience must be an integer >= 1; got {patience!r}")
        if not (math.isfinite(min_delta) and min_delta >= 0):
            raise ValueError(f"min_delta must be a finite number >= 0; got {min_delta!r}")
        self.patience, self.min_delta = int(patience), float(min_delta)
        self.best_loss = math.inf
        self.best_epoch = None
        self.best_weights = None
        self.counter = 0
        self._calls = 0

    def check(self, val_loss, weights=()):
        """Record one epoch's validation loss; return True when training should stop."""
        epoch, self._calls = self._calls, self._calls + 1
        if val_loss < self.best_loss - self.min_delta:
            self.best_loss, self.best_epoch, self.counter = float(val_loss), epoch, 0
            self.best_weights = [np.array(w, copy=True) for w in weights]
            return False
        self.counter += 1
        return self.counter >= self.patience


def stop_epoch(val_losses, patience, min_delta=0.0):
    """Replay :class:`EarlyStopping` over a recorded curve.

    Returns
    -------
    (stop, best) : tuple of int or None
        The 0-based epoch at which training would stop (None if it never stops) and the best
        epoch seen up to then.
    """
    es = EarlyStopping(patience, min_delta)
    for epoch, loss in enumerate(val_losses):
        if es.check(loss):
            return epoch, es.best_epoch
    return None, es.best_epoch
