"""Datasets: the UCI 8x8 handwritten digits (real, shipped in ``engine/data``) and 2-D toy sets.

The digits are the 1797 samples scikit-learn bundles (``load_digits``), stored in
``engine/data/digits.npz`` (source and licence in ``engine/data/README.md``). The toy sets are
generated with NumPy alone; moons and circles draw the same points as scikit-learn's
``make_moons`` and ``make_circles`` for the same seed. Nothing needs scikit-learn at run time.

Every dataset gets one deterministic stratified train/validation/test split per seed (60/20/20),
with features standardised by the training split's mean and standard deviation. Validation is
for choosing (early stopping, the best epoch, lr or schedule); test is for reporting, never for
choosing. Label noise, when asked for, flips an exact, seeded share of the training labels only.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

VAL_FRACTION = 0.2  # of all samples
TEST_FRACTION = 0.2  # of all samples
TOY_SAMPLES = 1000

#: name -> one-line description. Single source of truth for UI choices and TrainConfig.
DATASETS = {
    "digits": "8x8 handwritten digits, 1797 images, 10 classes (real data, UCI)",
    "spirals": "three interleaved spirals, 2-D, 3 classes",
    "moons": "two interleaving half-moons, 2-D, 2 classes",
    "circles": "a circle inside a ring, 2-D, 2 classes",
    "xor": "XOR quadrants, 2-D, 2 classes",
}
_SIZES = {"digits": 1797}


@dataclass(frozen=True)
class Split:
    """A train/validation/test split. ``X_*`` are float64 (N, d); ``y_*`` are int64 (N,)."""

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray

    @property
    def n_features(self) -> int:
        return self.X_train.shape[1]

    @property
    def n_classes(self) -> int:
        return int(max(self.y_train.max(), self.y_val.max(), self.y_test.max()) + 1)


def split_sizes(name: str) -> tuple[int, int, int]:
    """(train, validation, test) sizes of ``name``'s split (without loading it)."""
    if name not in DATASETS:
        raise ValueError(f"dataset must be one of {', '.join(DATASETS)}; got {name!r}")
    n = _SIZES.get(name, TOY_SAMPLES)
    n_val, n_test = int(round(n * VAL_FRACTION)), int(round(n * TEST_FRACTION))
    return n - n_val - n_test, n_val, n_test


def n_train_available(name: str) -> int:
    """Size of the training split of ``name`` (without loading it)."""
    return split_sizes(name)[0]


DIGITS_FILE = Path(__file__).parent / "data" / "digits.npz"


@lru_cache(maxsize=1)
def _digits():
    with np.load(DIGITS_FILE, allow_pickle=False) as f:  # images: (1797, 64) uint8 0-16; labels: 0-9
        X, y = f["images"].astype(np.float64), f["labels"].astype(np.int64)
    X.setflags(write=False)
    y.setflags(write=False)
    return X, y


def _shuffled(X, y, rs):
    """Rows of (X, y) in the order ``sklearn.utils.shuffle(X, y, random_state=rs)`` gives."""
    order = np.arange(len(y))
    rs.shuffle(order)
    return X[order], y[order]


def _moons(n, seed, noise=0.2):
    """Two interleaving half-moons: the points of ``sklearn.datasets.make_moons(n, noise=noise,
    random_state=seed)``. A local ``RandomState`` (never the global one) draws them in
    scikit-learn's order, so the shuffle and the noise match it sample for sample."""
    rs = np.random.RandomState(seed)
    n_out = n // 2
    t_out, t_in = np.linspace(0, np.pi, n_out), np.linspace(0, np.pi, n - n_out)
    X = np.column_stack([np.append(np.cos(t_out), 1 - np.cos(t_in)), np.append(np.sin(t_out), 1 - np.sin(t_in) - 0.5)])
    y = np.append(np.zeros(n_out, dtype=np.int64), np.ones(n - n_out, dtype=np.int64))
    X, y = _shuffled(X, y, rs)
    return X + rs.normal(scale=noise, size=X.shape), y


def _circles(n, seed, noise=0.1, factor=0.5):
    """A circle inside a ring: the points of ``sklearn.datasets.make_circles(n, noise=noise,
    factor=factor, random_state=seed)``, drawn the same way as :func:`_moons`."""
    rs = np.random.RandomState(seed)
    n_out = n // 2
    t_out = np.linspace(0, 2 * np.pi, n_out, endpoint=False)
    t_in = np.linspace(0, 2 * np.pi, n - n_out, endpoint=False)
    X = np.column_stack(
        [np.append(np.cos(t_out), np.cos(t_in) * factor), np.append(np.sin(t_out), np.sin(t_in) * factor)]
    )
    y = np.append(np.zeros(n_out, dtype=np.int64), np.ones(n - n_out, dtype=np.int64))
    X, y = _shuffled(X, y, rs)
    return X + rs.normal(scale=noise, size=X.shape), y


def _spirals(n, rng, classes=3, noise=0.2):
    """Interleaved Archimedean spirals."""
    per = n // classes
    X, y = [], []
    for c in range(classes):
        r = np.linspace(0.05, 1.0, per)
        t = np.linspace(c * 2 * np.pi / classes, c * 2 * np.pi / classes + 3.5, per)
        t = t + rng.standard_normal(per) * noise
        X.append(np.column_stack([r * np.sin(t), r * np.cos(t)]))
        y.append(np.full(per, c))
    return np.concatenate(X), np.concatenate(y)


def _xor(n, rng, noise=0.1):
    X = rng.uniform(-1, 1, size=(n, 2))
    y = ((X[:, 0] > 0) ^ (X[:, 1] > 0)).astype(np.int64)
    return X + rng.standard_normal(X.shape) * noise, y


def _raw(name, rng):
    if name == "digits":
        return _digits()
    seed = int(rng.integers(2**31 - 1))
    if name == "moons":
        return _moons(TOY_SAMPLES, seed)
    if name == "circles":
        return _circles(TOY_SAMPLES, seed)
    if name == "spirals":
        X, y = _spirals(TOY_SAMPLES - TOY_SAMPLES % 3, rng)
        extra = TOY_SAMPLES - len(y)
        return np.concatenate([X, X[:extra]]), np.concatenate([y, y[:extra]])
    return _xor(TOY_SAMPLES, rng)


def stratified_split(y, val_fraction, rng, n_val=None):
    """Indices (train, val) with each class split in the same proportion (``n_val`` in val if given)."""
    train, val = [], []
    classes = np.unique(y)
    n_val_total = int(round(len(y) * val_fraction)) if n_val is None else int(n_val)
    val_fraction = n_val_total / len(y)
    # per-class quota, then fix rounding so the total is exact
    counts = np.array([(y == c).sum() for c in classes])
    quota = np.floor(counts * val_fraction).astype(int)
    for i in np.argsort(-(counts * val_fraction - quota))[: n_val_total - quota.sum()]:
        quota[i] += 1
    for c, q in zip(classes, quota):
        idx = rng.permutation(np.flatnonzero(y == c))
        val.append(idx[:q])
        train.append(idx[q:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(val))


def flip_labels(y, fraction, n_classes, rng):
    """A copy of ``y`` with exactly ``round(fraction * len(y))`` labels, chosen by ``rng``, each
    changed to a different class drawn uniformly from the other ``n_classes - 1``."""
    y = np.array(y, copy=True)
    n_flip = int(round(fraction * len(y)))
    if n_flip:
        idx = rng.choice(len(y), size=n_flip, replace=False)
        shift = rng.integers(1, n_classes, size=n_flip)  # 1..C-1: never the same class
        y[idx] = (y[idx] + shift) % n_classes
    return y


def load(name="digits", seed=0, n_train=None, label_noise=0.0):
    """Load ``name`` with the split for ``seed``.

    Parameters
    ----------
    name : str
        One of :data:`DATASETS`.
    seed : int
        Seeds the split (and the toy data's noise).
    n_train : int or None
        Keep only a stratified subset of this many training samples (for overfitting demos).
    label_noise : float in [0, 0.5]
        Flip this share of the *training* labels (exactly ``round(label_noise * n_train)`` of
        them, seeded by ``seed``) to another class; validation and test keep their clean labels,
        and the split is the one ``label_noise=0`` gives.

    Returns
    -------
    Split
    """
    available, n_val, n_test = split_sizes(name)
    if n_train is not None and not 10 <= n_train <= available:
        raise ValueError(f"n_train must be in [10, {available}] for {name}; got {n_train}")
    if not isinstance(label_noise, (int, float, np.floating)) or not 0.0 <= label_noise <= 0.5:
        raise ValueError(f"label_noise must be a number in [0, 0.5]; got {label_noise!r}")
    rng = np.random.default_rng(seed)
    X, y = _raw(name, rng)
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.int64)
    rest, te = stratified_split(y, TEST_FRACTION, rng, n_val=n_test)
    tr, va = stratified_split(y[rest], VAL_FRACTION, rng, n_val=n_val)
    tr, va = rest[tr], rest[va]
    if n_train is not None and n_train < len(tr):
        sub, _ = stratified_split(y[tr], 1 - n_train / len(tr), rng)
        tr = tr[np.sort(sub)][:n_train]
    mean = X[tr].mean(axis=0)
    std = X[tr].std(axis=0)
    std[std < 1e-8] = 1.0
    y_train = y[tr]
    if label_noise:
        y_train = flip_labels(y_train, label_noise, int(y.max()) + 1, np.random.default_rng([seed, 2]))
    return Split(name, (X[tr] - mean) / std, y_train, (X[va] - mean) / std, y[va], (X[te] - mean) / std, y[te])
