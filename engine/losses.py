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
    at_y = (np.arange(n), y) if logits.ndim == 2 else (np.arange(len(y))[:, None], np.arange(n), y)
    loss = np.mean(np.log(sums[..., 0]) - shifted[at_y], axis=-1)
    dlogits = exp / sums
    dlogits[at_y] -= 1.0
    dlogits /= n
    return (float(loss) if logits.ndim == 2 else loss), dlogits
