"""Training loop, its validated configuration and its recorded history."""

from __future__ import annotations

import math
import numbers
import time
from dataclasses import asdict, dataclass, field, fields, replace

import numpy as np

from engine.datasets import DATASETS, load, n_train_available
from engine.early_stopping import EarlyStopping
from engine.init import STRATEGIES
from engine.layers import ACTIVATIONS
from engine.losses import softmax_cross_entropy
from engine.network import MLP
from engine.optim import OPTIMIZERS, QUIET_BLAS, blas_threads
from engine.schedules import SCHEDULES, lr_at

#: Allowed ranges, shown in error messages and used by the UI for slider bounds.
LIMITS = {
    "n_train": (10, 1438),
    "depth": (1, 100),
    "width": (2, 1024),
    "dropout": (0.0, 0.9),
    "lr": (1e-6, 10.0),
    "weight_decay": (0.0, 1.0),
    "warmup_epochs": (0, 499),
    "batch_size": (2, 2048),
    "epochs": (1, 500),
    "patience": (1, 500),
    "seed": (0, 2**32 - 1),
}
CHOICES = {
    "dataset": tuple(DATASETS),
    "activation": tuple(ACTIVATIONS),
    "init": STRATEGIES,
    "optimizer": tuple(OPTIMIZERS),
    "schedule": tuple(SCHEDULES),
}
_INTS = {"n_train", "depth", "width", "warmup_epochs", "batch_size", "epochs", "patience", "seed"}
_FLOATS = {"dropout", "lr", "weight_decay"}
_BOOLS = {"batch_norm", "residual", "restore_best"}
_OPTIONAL = {"n_train", "warmup_epochs", "patience"}


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run. Validates itself: a bad value raises ValueError
    naming the field and its allowed range.

    ``depth`` counts hidden blocks (Linear [+ BatchNorm] + activation [+ dropout]); the output
    Linear comes on top. ``warmup_epochs=None`` means 10% of ``epochs``; ``patience=None``
    disables early stopping; ``n_train=None`` uses the whole training split.
    """

    dataset: str = "digits"
    n_train: int | None = None
    depth: int = 10
    width: int = 128
    activation: str = "relu"
    init: str = "he"
    batch_norm: bool = True
    dropout: float = 0.0
    residual: bool = False
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    schedule: str = "warmup_cosine"
    warmup_epochs: int | None = None
    batch_size: int = 64
    epochs: int = 40
    patience: int | None = None
    restore_best: bool = True
    seed: int = 0

    def __post_init__(self):
        for f in fields(self):
            name, value = f.name, getattr(self, f.name)
            if value is None and name in _OPTIONAL:
                continue
            if name in CHOICES:
                if not isinstance(value, str) or value not in CHOICES[name]:
                    raise ValueError(f"{name} must be one of {', '.join(CHOICES[name])}; got {value!r}")
            elif name in _BOOLS:
                if not isinstance(value, (bool, np.bool_)):
                    raise ValueError(f"{name} must be True or False; got {value!r}")
                object.__setattr__(self, name, bool(value))
            else:
                lo, hi = LIMITS[name]
                if name == "n_train":
                    hi = n_train_available(self.dataset)
                e_lo, e_hi = LIMITS["epochs"]
                epochs_ok = isinstance(self.epochs, numbers.Integral) and not isinstance(self.epochs, bool)
                if name == "warmup_epochs" and epochs_ok and e_lo <= self.epochs <= e_hi:
                    # only an epochs value that is itself valid bounds the warmup (else epochs' error wins)
                    hi = int(self.epochs) - 1
                kind = "an integer" if name in _INTS else "a number"
                ok_type = (
                    isinstance(value, numbers.Integral) and not isinstance(value, bool)
                    if name in _INTS
                    else isinstance(value, numbers.Real) and not isinstance(value, bool)
                )
                if not ok_type or not math.isfinite(value) or not lo <= value <= hi:
                    raise ValueError(f"{name} must be {kind} in [{lo}, {hi}]; got {value!r}")
                object.__setattr__(self, name, int(value) if name in _INTS else float(value))

    @property
    def warmup(self) -> int:
        """Warmup epochs actually used (None -> 10% of epochs)."""
        return self.warmup_epochs if self.warmup_epochs is not None else int(round(0.1 * self.epochs))

    def replace(self, **changes) -> "TrainConfig":
        """A validated copy with ``changes``."""
        return replace(self, **changes)

    def to_dict(self) -> dict:
        return asdict(self)


#: Named presets (hidden-layer shape and epochs are TrainConfig's defaults; ``replace`` them).
#:
#: - ``naive``: sigmoid + 0.01·N(0, 1) init + plain SGD 0.1 at a constant rate. A strawman: it fails
#:   at depth for its tiny init, not for its decade.
#: - ``lecun1998``: the 1990s recipe of LeCun et al. (1998), *Efficient BackProp*: tanh + std
#:   1/sqrt(fan_in) (``xavier``) + plain SGD 0.1 at a constant rate.
#: - ``modern``: the article's recipe, ReLU + He init + batch norm + Adam 1e-3 with warmup + cosine.
#: - ``modern_skips``: ``modern`` with skip connections (each hidden block adds its input).
#: - ``classic``: the former name of ``naive`` (the same object), kept for one release.
RECIPES = {
    "naive": TrainConfig(
        activation="sigmoid", init="small", batch_norm=False, optimizer="sgd", lr=0.1, schedule="constant"
    ),
    "lecun1998": TrainConfig(
        activation="tanh", init="xavier", batch_norm=False, optimizer="sgd", lr=0.1, schedule="constant"
    ),
    "modern": TrainConfig(
        activation="relu", init="he", batch_norm=True, optimizer="adam", lr=1e-3, schedule="warmup_cosine"
    ),
}
RECIPES["modern_skips"] = RECIPES["modern"].replace(residual=True)
RECIPES["classic"] = RECIPES["naive"]  # deprecated alias of "naive"


@dataclass
class History:
    """What a run recorded. Per-epoch lists have one entry per completed (finite) epoch.

    ``layers`` holds one dict per (epoch, hidden block or output layer) with ``epoch, layer,
    act_mean, act_std, dead_frac, grad_norm, update_ratio`` (measured on the first mini-batch of
    the epoch; ``dead_frac`` is dead ReLU units, or saturated units for sigmoid/tanh).
    """

    config: TrainConfig
    epoch: list = field(default_factory=list)
    lr: list = field(default_factory=list)
    train_loss: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    train_acc: list = field(default_factory=list)
    val_acc: list = field(default_factory=list)
    layers: list = field(default_factory=list)
    best_epoch: int | None = None
    stopped_epoch: int | None = None
    diverged_epoch: int | None = None
    stop_reason: str | None = None
    seconds: float = 0.0
    final_val_acc: float | None = None
    model: MLP | None = field(default=None, repr=False, compare=False)

    def to_dict(self, include_layers=True) -> dict:
        d = {k: v for k, v in self.__dict__.items() if k != "model"}
        d["config"] = self.config.to_dict()
        if not include_layers:
            d.pop("layers")
        return d


def build_model(config: TrainConfig, n_features: int, n_classes: int, dtype=np.float32) -> MLP:
    """The MLP that ``config`` describes, initialised from ``config.seed``."""
    return MLP(
        [n_features] + [config.width] * config.depth + [n_classes],
        activation=config.activation,
        init=config.init,
        batch_norm=config.batch_norm,
        dropout=config.dropout,
        residual=config.residual,
        rng=np.random.default_rng(config.seed),
        dtype=dtype,
    )


def make_optimizer(config: TrainConfig):
    """The optimiser that ``config`` names."""
    return OPTIMIZERS[config.optimizer](config.lr, config.weight_decay)


#: Largest hidden matmul (batch x width x width) that BLAS runs on one thread during training:
#: on smaller ones its second thread costs more (waking, splitting, then spinning idle) than it
#: saves.
BLAS_SINGLE_MAX = 2**21


def step_threads(model: MLP, opt, batch_size: int):
    """Context for the training steps of ``model``: the BLAS threads their forward passes run
    with (an overlapped backward pass runs on one, see :meth:`engine.optim.Optimizer.stepping`).

    One BLAS thread when the matmuls are small, or when the optimiser overlaps its update with
    the backward pass and OpenBLAS's idle threads would keep spinning on the core the update
    needs (:data:`engine.optim.QUIET_BLAS`); otherwise the environment's setting. Never more
    threads than the environment allows.
    """
    width = max(model.sizes[1:-1], default=model.sizes[0])
    small = batch_size * width * width <= BLAS_SINGLE_MAX
    return blas_threads(1 if small or (opt.overlaps(model.layers) and not QUIET_BLAS) else None)


def train_step(model: MLP, opt, xb, yb):
    """One training step on the batch (xb, yb): forward, loss, backward and the optimiser's
    update (overlapping the backward pass, on one BLAS thread: see
    :meth:`engine.optim.Optimizer.stepping`). Returns (loss, logits); a non-finite loss skips
    the update."""
    logits = model.forward(xb, training=True)
    loss, dlogits = softmax_cross_entropy(logits, yb)
    if math.isfinite(loss):
        with opt.stepping(model.layers) as ready:
            model.backward(dlogits, on_block=ready)
    return loss, logits


def evaluate(model: MLP, X, y, batch_size=1024):
    """(mean loss, accuracy) in eval mode."""
    loss_sum, correct = 0.0, 0
    for i in range(0, len(X), batch_size):
        logits = model.forward(X[i : i + batch_size], training=False)
        loss, _ = softmax_cross_entropy(logits, y[i : i + batch_size])
        loss_sum += loss * len(logits)
        correct += int((logits.argmax(1) == y[i : i + batch_size]).sum())
    return loss_sum / len(X), correct / len(X)


def _dead_fraction(act: str, h: np.ndarray) -> float:
    """Dead ReLU units (zero for the whole batch) or saturated sigmoid/tanh outputs."""
    if act in ("relu", "leaky_relu"):
        return float(np.mean(np.all(h <= 0, axis=0)))
    if act == "sigmoid":
        return float(np.mean((h < 0.01) | (h > 0.99)))
    return float(np.mean(np.abs(h) > 0.99))


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _std(a: np.ndarray) -> float:
    """Population standard deviation of all of ``a``: a float64 mean, then one BLAS dot of the residuals."""
    a = a.reshape(-1)
    d = a - a.dtype.type(float(np.add.reduce(a, dtype=np.float64)) / a.size)
    return math.sqrt(float(np.dot(d, d)) / a.size)


def _diagnose(model: MLP, before: list, epoch: int, act: str) -> list:
    """Per-layer diagnostics after one step: ``before`` are copies of the weights before the step
    (overwritten here with the update)."""
    rows = []
    outs = model.block_outputs + [None]
    for i, (lin, w0, h) in enumerate(zip(model.linears, before, outs)):
        data = _std(w0)
        upd = _std(np.subtract(lin.params["W"], w0, out=w0))
        rows.append(
            {
                "epoch": epoch,
                "layer": i + 1,
                "act_mean": _finite(float(h.mean())) if h is not None else None,
                "act_std": _finite(float(h.std())) if h is not None else None,
                "dead_frac": _dead_fraction(act, h) if h is not None else None,
                "grad_norm": _finite(float(np.linalg.norm(lin.grads["W"]))),
                "update_ratio": _finite(upd / data) if data > 0 else None,
            }
        )
    return rows


def train(config: TrainConfig, on_epoch=None, data=None) -> History:
    """Train the MLP that ``config`` describes and return its :class:`History`.

    Parameters
    ----------
    config : TrainConfig
    on_epoch : callable(epoch, history) -> bool or None, optional
        Called after every completed epoch; returning False stops the run
        (``stop_reason = "callback"``).
    data : engine.datasets.Split, optional
        Pre-loaded data (must match ``config``); loaded from ``config`` otherwise.

    Training stops at the first non-finite loss (``diverged_epoch``), keeping only finite numbers.
    With ``patience`` set it stops early and, if ``restore_best``, restores the best weights.
    """
    if not isinstance(config, TrainConfig):
        raise ValueError(f"config must be a TrainConfig; got {type(config).__name__}")
    t0 = time.perf_counter()
    split = data if data is not None else load(config.dataset, config.seed, config.n_train)
    dtype = np.float32
    Xtr, ytr = split.X_train.astype(dtype), split.y_train
    Xva, yva = split.X_val.astype(dtype), split.y_val
    model = build_model(config, split.n_features, split.n_classes, dtype)
    opt = make_optimizer(config)
    before = [np.empty_like(lin.params["W"]) for lin in model.linears]  # weights before a diagnosed step
    rng = np.random.default_rng([config.seed, 1])
    hist = History(config=config, model=model)
    stopper = EarlyStopping(config.patience) if config.patience else None
    best = (math.inf, None, None)  # (val loss, epoch, weights)
    n, bs = len(Xtr), min(config.batch_size, len(Xtr))
    starts = list(range(0, n, bs))
    if config.batch_norm and n - starts[-1] < 2 and len(starts) > 1:
        starts.pop()  # a BatchNorm batch of one sample is undefined: drop that remainder
    with np.errstate(all="ignore"):
        for epoch in range(config.epochs):
            opt.lr = lr_at(config.schedule, epoch, config.epochs, config.lr, config.warmup)
            order = rng.permutation(n)
            loss_sum, correct, seen, diverged, diag = 0.0, 0, 0, False, None
            with step_threads(model, opt, bs):  # the validation pass keeps the default BLAS threads
                for j, s in enumerate(starts):
                    idx = order[s : s + bs]
                    xb, yb = Xtr[idx], ytr[idx]
                    if j == 0:
                        for buf, lin in zip(before, model.linears):
                            np.copyto(buf, lin.params["W"])
                    loss, logits = train_step(model, opt, xb, yb)
                    if not math.isfinite(loss):
                        diverged = True
                        break
                    if j == 0:
                        diag = _diagnose(model, before, epoch, config.activation)
                    loss_sum += loss * len(idx)
                    correct += int((logits.argmax(1) == yb).sum())
                    seen += len(idx)
            val_loss, val_acc = evaluate(model, Xva, yva) if not diverged else (math.nan, 0.0)
            if diverged or not math.isfinite(val_loss):
                hist.diverged_epoch, hist.stop_reason = epoch, "diverged"
                break
            hist.epoch.append(epoch)
            hist.lr.append(float(opt.lr))
            hist.train_loss.append(loss_sum / seen)
            hist.val_loss.append(val_loss)
            hist.train_acc.append(correct / seen)
            hist.val_acc.append(val_acc)
            hist.layers.extend(diag)
            if val_loss < best[0]:
                kept = None
                if stopper is not None:  # the best weights, copied into the same buffers each time
                    kept = best[2] or [np.empty_like(a) for a in model.state()]
                    for dst, src in zip(kept, model.state()):
                        np.copyto(dst, src)
                best = (val_loss, epoch, kept)
            hist.best_epoch = best[1]
            if stopper is not None and stopper.check(val_loss, ()):
                hist.stopped_epoch, hist.stop_reason = epoch, "early_stopping"
                break
            if on_epoch is not None and on_epoch(epoch, hist) is False:
                hist.stopped_epoch, hist.stop_reason = epoch, "callback"
                break
    if hist.val_acc:
        restore = stopper is not None and config.restore_best and best[2] is not None
        if restore:
            model.load_state(best[2])
        hist.final_val_acc = hist.val_acc[best[1]] if restore else hist.val_acc[-1]
    if hist.stopped_epoch is None and hist.epoch:
        hist.stopped_epoch = hist.epoch[-1]
    hist.seconds = time.perf_counter() - t0
    return hist
