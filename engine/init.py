"""Weight initialisation strategies.

Every strategy draws ``rng.standard_normal((fan_in, fan_out))`` and scales it, so passing
``np.random.RandomState(42)`` in the article's draw order reproduces the article's tables.
"""

from __future__ import annotations

import numpy as np


def _std_small(fan_in: int, fan_out: int) -> float:
    """std = 0.01 (the article's "small")."""
    return 0.01


def _std_large(fan_in: int, fan_out: int) -> float:
    """std = 1 (the article's "large")."""
    return 1.0


def _std_xavier(fan_in: int, fan_out: int) -> float:
    """std = sqrt(1/fan_in): the article's "Xavier", which is LeCun et al. (1998)."""
    return float(np.sqrt(1.0 / fan_in))


def _std_glorot(fan_in: int, fan_out: int) -> float:
    """std = sqrt(2/(fan_in+fan_out)): Glorot & Bengio (2010), torch's ``xavier_normal_``."""
    return float(np.sqrt(2.0 / (fan_in + fan_out)))


def _std_he(fan_in: int, fan_out: int) -> float:
    """std = sqrt(2/fan_in): He et al. (2015), torch's ``kaiming_normal_`` (fan_in, relu)."""
    return float(np.sqrt(2.0 / fan_in))


#: strategy name -> function (fan_in, fan_out) -> standard deviation. Single source of truth.
STD = {
    "small": _std_small,
    "large": _std_large,
    "xavier": _std_xavier,
    "glorot": _std_glorot,
    "he": _std_he,
}
STRATEGIES = tuple(STD)

#: Recommended gains per non-linearity, as torch's ``nn.init.calculate_gain``: a strategy's std is
#: multiplied by ``gain``. tanh's 5/3 makes up for tanh squashing a unit-variance input (PyTorch's
#: choice); relu's sqrt(2) turns "xavier" into "he".
GAINS = {"linear": 1.0, "sigmoid": 1.0, "tanh": 5.0 / 3.0, "relu": float(np.sqrt(2.0))}
GAIN_RANGE = (0.0, 10.0)

#: One-line descriptions for the UI.
DESCRIPTIONS = {
    "small": "0.01 · N(0, 1)",
    "large": "N(0, 1)",
    "xavier": "N(0, 1/fan_in)  (the article's Xavier = LeCun)",
    "glorot": "N(0, 2/(fan_in+fan_out))  (Glorot's own rule, torch xavier_normal_)",
    "he": "N(0, 2/fan_in)  (Kaiming He, for ReLU)",
}


def _check_gain(gain) -> float:
    """``gain`` as a float in (0, 10], or a ValueError naming the field and its range."""
    lo, hi = GAIN_RANGE
    ok = isinstance(gain, (int, float, np.floating, np.integer)) and not isinstance(gain, bool)
    if not ok or not np.isfinite(gain) or not lo < gain <= hi:
        raise ValueError(f"gain must be a number in ({lo:g}, {hi:g}]; got {gain!r}")
    return float(gain)


def init_std(strategy: str, fan_in: int, fan_out: int, gain: float = 1.0) -> float:
    """Standard deviation that ``strategy`` uses for a (fan_in, fan_out) weight matrix, times ``gain``.

    ``init_std("xavier", n, m, GAINS["tanh"])`` = (5/3)/sqrt(n), torch's
    ``kaiming_normal_(w, mode="fan_in", nonlinearity="tanh")``.
    """
    if strategy not in STD:
        raise ValueError(f"init must be one of {', '.join(STRATEGIES)}; got {strategy!r}")
    if int(fan_in) < 1 or int(fan_out) < 1:
        raise ValueError(f"fan_in and fan_out must be >= 1; got {fan_in}, {fan_out}")
    gain = _check_gain(gain)
    std = STD[strategy](int(fan_in), int(fan_out))
    return std if gain == 1.0 else std * gain


def init_weights(strategy: str, fan_in: int, fan_out: int, rng, gain: float = 1.0) -> np.ndarray:
    """Draw a weight matrix.

    Parameters
    ----------
    strategy : str
        One of :data:`STRATEGIES`.
    fan_in, fan_out : int
        Input and output width.
    rng : numpy.random.Generator or numpy.random.RandomState
        Source of randomness (``standard_normal`` is called once).
    gain : float
        Multiplies the strategy's std (see :data:`GAINS`); 1 leaves it as is.

    Returns
    -------
    ndarray of shape (fan_in, fan_out), float64
    """
    std = init_std(strategy, fan_in, fan_out, gain)
    return rng.standard_normal((int(fan_in), int(fan_out))) * std
