"""Loss functions."""

from __future__ import annotations

import numpy as np


def softmax_cross_entropy(logits, y):
    """Mean softmax cross-entropy with a stable log-softmax.

    Parameters
    ----------
    logits : ndarray (N, C), or (K, N, C) for a stack of K members
    y : ndarray of int (N,), or (K, N)
        Class indices.

    Returns
    -------
    loss : float, or ndarray (K,) of each member's loss
        ``mean(logsumexp(logits) - logits[y])``.
    dlogits : ndarray (N, C), or (K, N, C)
        ``(softmax(logits) - onehot(y)) / N``.
    """
    logits = np.asarray(logits)
    y = np.asarray(y)
    if logits.ndim not in (2, 3) or y.shape != logits.shape[:-1]:
        raise ValueError(f"logits must be (N, C) and y (N,), or (K, N, C) and (K, N); got {logits.shape} and {y.shape}")
    n = logits.shape[-2]
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    sums = exp.sum(axis=-1, keepdims=True)
    if logits.ndim == 2:
        rows = np.arange(n)
        loss = float(np.mean(np.log(sums[:, 0]) - shifted[rows, y]))
        dlogits = exp / sums
        dlogits[rows, y] -= 1.0
    else:  # (K, N, C): index the flat arrays (one 1-D gather is faster than three index arrays)
        at_y = np.arange(0, y.size * logits.shape[-1], logits.shape[-1]) + y.reshape(-1)
        loss = np.mean(np.log(sums[..., 0]) - shifted.reshape(-1)[at_y].reshape(y.shape), axis=-1)
        dlogits = exp / sums
        dlogits.reshape(-1)[at_y] -= 1.0
    dlogits /= n
    return loss, dlogits
