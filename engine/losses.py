"""Loss functions."""

from __future__ import annotations

import numpy as np


def softmax_cross_entropy(logits, y):
    """Mean softmax cross-entropy with a stable log-softmax.

    Parameters
    ----------
    logits : ndarray (N, C)
    y : ndarray of int (N,)
        Class indices.

    Returns
    -------
    loss : float
        ``mean(logsumexp(logits) - logits[y])``.
    dlogits : ndarray (N, C)
        ``(softmax(logits) - onehot(y)) / N``.
    """
    logits = np.asarray(logits)
    y = np.asarray(y)
    if logits.ndim != 2 or y.shape != (logits.shape[0],):
        raise ValueError(f"logits must be (N, C) and y (N,); got {logits.shape} and {y.shape}")
    n = logits.shape[0]
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    sums = exp.sum(axis=1, keepdims=True)
    rows = np.arange(n)
    loss = float(np.mean(np.log(sums[:, 0]) - shifted[rows, y]))
    dlogits = exp / sums
    dlogits[rows, y] -= 1.0
    dlogits /= n
    return loss, dlogits
