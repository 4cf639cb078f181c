"""Training loop, its validated configuration and its recorded history."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace

import numpy as np

from engine import fused as fast
from engine import spec as S
from engine.datasets import DATASETS, load, n_train_available
from engine.early_stopping import EarlyStopping
from engine.fused import FUSED, QUIET_BLAS, FusedOptimizer, blas_threads
from engine.init import STRATEGIES
from engine.layers import ACTIVATIONS, Dropout, batch_starts
from engine.losses import softmax_cross_entropy
from engine.network import MLP
from engine.optim import OPTIMIZERS
from engine.schedules import SCHEDULES, lr_at

_EPOCHS = S.Int(1, 500)


def _warmup_hi(values) -> int:
    """warmup_epochs < epochs; only an epochs value that is itself valid bounds it (else epochs' error wins)."""
    try:
        return _EPOCHS.check("epochs", values.get("epochs")) - 1
    except ValueError:
        return _EPOCHS.hi - 1


def _n_train_hi(values) -> int:
    """The whole training split of the chosen dataset (digits when none is chosen yet)."""
    dataset = values.get("dataset", "digits")
    return n_train_available(dataset if dataset in DATASETS else "digits")


#: The parameter spec of :class:`TrainConfig`, in field order: validation, CLI help and slider bounds
#: all come from it. Option lists are the engine's registries, read at each check.
TRAIN_SPEC = {
    "dataset": S.OneOf(DATASETS),
    "n_train": S.Optional(S.Int(10, _n_train_hi), "the whole training split"),
    "depth": S.Int(1, 100),
    "width": S.Int(2, 1024),
    "activation": S.OneOf(ACTIVATIONS),
    "init": S.OneOf(STRATEGIES),
    "batch_norm": S.Bool(),
    "dropout": S.Float(0.0, 0.9),
    "label_noise": S.Float(0.0, 0.5),
    "residual": S.Bool(),
    "optimizer": S.OneOf(OPTIMIZERS),
    "lr": S.Float(1e-6, 10.0),
    "weight_decay": S.Float(0.0, 1.0),
    "schedule": S.OneOf(SCHEDULES),
    "warmup_epochs": S.Optional(S.Int(0, _warmup_hi), "10% of epochs"),
    "batch_size": S.Int(2, 2048),
    "epochs": _EPOCHS,
    "patience": S.Optional(S.Int(1, 500), "no early stopping"),
    "restore_best": S.Bool(),
    "seed": S.Int(0, 2**32 - 1),
}


class _View(Mapping):
    """A read-only view of TRAIN_SPEC, computed on access (so registries and data sizes are current)."""

    def __init__(self, kinds, get):
        self._names = [k for k, p in TRAIN_SPEC.items() if isinstance(getattr(p, "inner", p), kinds)]
        self._get = get

    def __getitem__(self, name):
        if name not in self._names:
            raise KeyError(name)
        return self._get(TRAIN_SPEC[name])

    def __iter__(self):
        return iter(self._names)

    def __len__(self):
        return len(self._names)


#: Allowed ranges (lo, hi) of the numeric fields, derived from TRAIN_SPEC (n_train's is the digits
#: training split, warmup_epochs' is the one at the most epochs allowed). The UI's slider bounds.
LIMITS = _View((S.Int, S.Float), lambda p: p.bounds({"dataset": "digits", "epochs": _EPOCHS.hi}))
#: Allowed names of the choice fields, derived from TRAIN_SPEC (read from the registries on access).
CHOICES = _View(S.OneOf, lambda p: p.choices())


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run. Validates itself against :data:`TRAIN_SPEC`: a bad
    value raises ValueError naming the field and its allowed range.

    ``depth`` counts hidden blocks (Linear [+ BatchNorm] + activation [+ dropout]); the output
    Linear comes on top. ``warmup_epochs=None`` means 10% of ``epochs``; ``patience=None``
    disables early stopping; ``n_train=None`` uses the whole training split. ``label_noise`` is
    the fraction of training labels flipped.
    """

    dataset: str = "digits"
    n_train: int | None = None
    depth: int = 10
    width: int = 128
    activation: str = "relu"
    init: str = "he"
    batch_norm: bool = True
    dropout: float = 0.0
    label_noise: float = 0.0
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
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        for name, value in S.validate(TRAIN_SPEC, values).items():
            object.__setattr__(self, name, value)

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

    ``train_loss``/``train_acc`` are measured in eval mode on the whole training split at the end
    of each epoch (NaN when trained with ``eval_train=False``), like ``val_*`` and ``test_*``;
    ``train_loss_running``/``train_acc_running`` are the running averages over the epoch's
    mini-batches in training mode (dropout on, batch statistics, weights moving). Validation
    chooses (``best_epoch``, early stopping); ``final_val_acc`` and ``final_test_acc`` are of the
    weights the run returns (the restored best ones, or the last). Test never chooses anything.

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
    test_loss: list = field(default_factory=list)
    test_acc: list = field(default_factory=list)
    train_loss_running: list = field(default_factory=list)
    train_acc_running: list = field(default_factory=list)
    layers: list = field(default_factory=list)
    best_epoch: int | None = None
    stopped_epoch: int | None = None
    diverged_epoch: int | None = None
    stop_reason: str | None = None
    seconds: float = 0.0
    final_val_acc: float | None = None
    final_test_acc: float | None = None
    model: MLP | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict:
        """Everything recorded, JSON-able (the model left out)."""
        d = {k: v for k, v in self.__dict__.items() if k != "model"}
        d["config"] = self.config.to_dict()
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


def make_optimizer(configs, params, grads, fused=True):
    """The optimiser that ``configs`` (one TrainConfig, or a stack's) name, over ``params`` and
    ``grads`` (lists of (K, ...) arrays), with each member's lr and weight decay: with ``fused``
    its :data:`engine.fused.FUSED` implementation when the name has one, else the readable
    :data:`engine.optim.OPTIMIZERS` class."""
    configs = [configs] if isinstance(configs, TrainConfig) else list(configs)
    name = configs[0].optimizer
    cls = (FUSED.get(name) if fused else None) or OPTIMIZERS[name]
    return cls(params, grads, lr=[c.lr for c in configs], weight_decay=[c.weight_decay for c in configs])


#: Largest hidden matmul (batch x width x width) that BLAS runs on one thread during training:
#: on smaller ones its second thread costs more (waking, splitting, then spinning idle) than it
#: saves.
BLAS_SINGLE_MAX = 2**21


def step_threads(model: MLP, opt, batch_size: int):
    """Context for the training steps of ``model``: the BLAS threads their forward passes run
    with (an overlapped backward pass runs on one, see :meth:`engine.fused.FusedOptimizer.stepping`).

    One BLAS thread when the matmuls are small, or when the optimiser overlaps its update with
    the backward pass and OpenBLAS's idle threads would keep spinning on the core the update
    needs (:data:`engine.fused.QUIET_BLAS`); otherwise the environment's setting. Never more
    threads than the environment allows.
    """
    width = max(model.sizes[1:-1], default=model.sizes[0])
    small = batch_size * width * width <= BLAS_SINGLE_MAX
    overlap = isinstance(opt, FusedOptimizer) and opt.overlaps(model.layers)
    return blas_threads(1 if small or (overlap and not QUIET_BLAS) else None)


def train_step(model: MLP, opt, xb, yb):
    """One training step on the batch (xb, yb): forward -> loss -> backward -> step.

    Returns (loss, logits), ``loss`` one per member of a stack. A member whose loss is not
    finite keeps its weights (the others step). The fast path's step, the update overlapped
    with the backward pass, is :func:`engine.fused.train_step`."""
    logits = model.forward(xb, training=True)
    loss, dlogits = softmax_cross_entropy(logits, yb)
    diverged = ~np.isfinite(loss)
    if not np.all(diverged):
        model.backward(dlogits, input_grad=False)  # no gradient of the data
        opt.step(skip=diverged)
    return loss, logits


def evaluate(model: MLP, X, y, batch_size=1024):
    """(mean loss, accuracy) in eval mode; for a stack, X (K, N, d) and y (K, N) give two (K,) arrays."""
    loss_sum, correct, n = 0.0, 0, X.shape[-2]
    for i in range(0, n, batch_size):
        logits = model.forward(X[..., i : i + batch_size, :], training=False)
        yb = y[..., i : i + batch_size]
        loss, _ = softmax_cross_entropy(logits, yb)
        loss_sum = loss_sum + loss * logits.shape[-2]
        correct = correct + (logits.argmax(-1) == yb).sum(-1)
    if X.ndim == 2:
        return loss_sum / n, int(correct) / n
    return loss_sum / n, correct / n


def _dead_fraction(act: str, h: np.ndarray) -> np.ndarray:
    """Per member of ``h`` (K, N, n): dead ReLU units (zero for the whole batch) or saturated
    sigmoid/tanh outputs."""
    if act in ("relu", "leaky_relu"):
        return np.mean(np.all(h <= 0, axis=1), axis=-1)
    if act == "sigmoid":
        return np.mean((h < 0.01) | (h > 0.99), axis=(1, 2))
    return np.mean(np.abs(h) > 0.99, axis=(1, 2))


def finite_or_none(x) -> float | None:
    """``float(x)`` if finite, else None (None stays None): a JSON-able number for tables and summaries."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _std(a: np.ndarray) -> np.ndarray:
    """Population standard deviation of each member's ``a[k]``: a float64 mean, then the residuals' squares."""
    a = a.reshape(len(a), -1)
    d = a - (np.add.reduce(a, axis=1, dtype=np.float64) / a.shape[1]).astype(a.dtype)[:, None]
    return np.sqrt(np.einsum("ki,ki->k", d, d) / a.shape[1])


def _diagnose(model: MLP, before: list, epoch: int, act: str) -> list:
    """Per-layer diagnostics of every member after one step, one list of rows per member:
    ``before`` are copies of the stack's weights before the step (overwritten here with the update)."""
    k = model.members
    columns = []
    outs = model.block_outputs + [None]
    for lin, w0, h in zip(model.linears, before, outs):
        data = _std(w0)
        upd = _std(np.subtract(lin.params["W"], w0, out=w0))
        g = lin.grads["W"].reshape(k, -1)
        stats = {"grad_norm": np.sqrt(np.einsum("ki,ki->k", g, g)), "update_ratio": upd / np.where(data > 0, data, 1)}
        if h is not None:
            stats["act_mean"] = h.mean(axis=(1, 2))
            stats["act_std"] = h.std(axis=(1, 2))
            stats["dead_frac"] = _dead_fraction(act, h)
        columns.append((stats, data > 0))
    rows = []
    for m in range(k):
        rows.append(
            [
                {
                    "epoch": epoch,
                    "layer": i + 1,
                    "act_mean": finite_or_none(float(st["act_mean"][m])) if "act_mean" in st else None,
                    "act_std": finite_or_none(float(st["act_std"][m])) if "act_std" in st else None,
                    "dead_frac": float(st["dead_frac"][m]) if "dead_frac" in st else None,
                    "grad_norm": finite_or_none(float(st["grad_norm"][m])),
                    "update_ratio": finite_or_none(float(st["update_ratio"][m])) if positive[m] else None,
                }
                for i, (st, positive) in enumerate(columns)
            ]
        )
    return rows


#: Fields the members of a stack must share (they fix the shapes and the steps); the others
#: (seed, init, lr, weight_decay, dropout, schedule, warmup_epochs, patience, restore_best)
#: may differ per member.
STACK_SHARED = (
    "dataset",
    "n_train",
    "depth",
    "width",
    "activation",
    "batch_norm",
    "residual",
    "optimizer",
    "batch_size",
    "epochs",
)


def stack_key(config: TrainConfig) -> tuple:
    """The values of :data:`STACK_SHARED`: configs with the same key train as one stack."""
    return tuple(getattr(config, f) for f in STACK_SHARED)


def _check_stack(configs) -> list:
    configs = list(configs)
    if not configs:
        raise ValueError("configs must hold at least one TrainConfig; got none")
    for c in configs:
        if not isinstance(c, TrainConfig):
            raise ValueError(f"config must be a TrainConfig; got {type(c).__name__}")
    for name in STACK_SHARED:
        values = {getattr(c, name) for c in configs}
        if len(values) > 1:
            got = ", ".join(map(repr, sorted(values, key=repr)))
            raise ValueError(f"{name} must be the same for every member of a stack; got {got}")
    return configs


def _splits(configs, data) -> list:
    """One Split per member: ``data`` (one Split for all, or one per member), else loaded per seed."""
    if data is None:
        cache = {}
        for c in configs:
            key = (c.seed, c.label_noise)
            if key not in cache:
                cache[key] = load(c.dataset, c.seed, c.n_train, c.label_noise)
        splits = [cache[(c.seed, c.label_noise)] for c in configs]
    elif isinstance(data, (list, tuple)):
        splits = list(data)
        if len(splits) != len(configs):
            raise ValueError(f"data must hold one Split per member ({len(configs)}); got {len(splits)}")
    else:
        splits = [data] * len(configs)
    shapes = {(s.X_train.shape, s.X_val.shape, s.X_test.shape, s.n_classes) for s in splits}
    if len(shapes) > 1:
        raise ValueError(f"data: every member's split must have the same shapes; got {sorted(shapes)}")
    return splits


class _NoDraws:
    """A stand-in generator for a network whose weights are copied in afterwards: zeros, no draws."""

    @staticmethod
    def standard_normal(size):
        return np.zeros(size)


class _Member:
    """What one member of a stack records while it trains (what a lone run keeps)."""

    def __init__(self, config, model, row):
        self.config, self.row = config, row
        self.hist = History(config=config, model=model)
        self.stopper = EarlyStopping(config.patience) if config.patience else None
        self.best = (math.inf, None, None)  # (val loss, epoch, weights)
        self.snapshot = None  # its state when its loss went non-finite (then left as it was)


def train_stacked(configs, on_epoch=None, data=None, dtype=np.float32, fused=True, eval_train=True) -> list:
    """Train K same-shape configs as one stacked network and return one :class:`History` each.

    Parameters
    ----------
    configs : sequence of TrainConfig
        They must agree on :data:`STACK_SHARED` (else ValueError naming the field); seed, init,
        lr, weight_decay, dropout, schedule, warmup_epochs, patience and restore_best may differ.
    on_epoch : callable(epoch, history) -> bool or None, optional
        Called after every completed epoch of each member still training, with that member's
        History (its ``model`` holds the member's current weights); returning False stops that
        member (``stop_reason = "callback"``).
    data : Split or list of Split, optional
        One Split for every member, or one per member; loaded per member seed otherwise.
    dtype : float32 (default) or float64 (for checks against lone runs).
    fused : bool
        The fast path (default): the optimiser :data:`engine.fused.FUSED` registers for the
        name (blocks of columns, threads), else the readable one, and
        :func:`engine.fused.train_step` (one network's update overlapped with the backward
        pass). False: the readable :data:`engine.optim.OPTIMIZERS` class and :func:`train_step`.
    eval_train : bool
        Measure ``train_loss``/``train_acc`` in eval mode on the training split after every epoch
        (default; one forward pass over it, about a sixth of an epoch's cost, see
        ``benchmarks/eval_cost.py``). False leaves them NaN, for callers that never show them.

    Each member gets what it would get alone: its split, its init and dropout masks from
    ``default_rng(seed)``, its data order from ``default_rng([seed, 1])``, its schedule and
    early stopping. A member that stops (diverged, early stopping, callback) leaves the stack;
    its History and ``model`` are what a lone run would return.
    """
    configs = _check_stack(configs)
    dtype = np.dtype(dtype)
    t0 = time.perf_counter()
    splits = _splits(configs, data)
    first = configs[0]
    Xtr = np.stack([s.X_train.astype(dtype) for s in splits])  # (K, N, d)
    ytr = np.stack([s.y_train for s in splits])
    Xva = np.stack([s.X_val.astype(dtype) for s in splits])
    yva = np.stack([s.y_val for s in splits])
    Xte = np.stack([s.X_test.astype(dtype) for s in splits])
    yte = np.stack([s.y_test for s in splits])
    n_features, n_classes = splits[0].n_features, splits[0].n_classes
    rngs = [np.random.default_rng(c.seed) for c in configs]  # init, then dropout masks
    orders = [np.random.default_rng([c.seed, 1]) for c in configs]  # each epoch's permutation
    model = MLP(
        [n_features] + [first.width] * first.depth + [n_classes],
        activation=first.activation,
        init=[c.init for c in configs],
        batch_norm=first.batch_norm,
        dropout=[c.dropout for c in configs],
        residual=first.residual,
        rng=rngs,
        dtype=dtype,
    )
    members = []
    for k, c in enumerate(configs):
        # the member's own network, kept in step with its row of the stack (its weights are copied
        # in, so its init is not drawn again)
        view = MLP(
            model.sizes,
            activation=c.activation,
            init=c.init,
            batch_norm=c.batch_norm,
            dropout=c.dropout,
            residual=c.residual,
            rng=_NoDraws(),
            dtype=dtype,
        )
        for layer in view.layers:
            if isinstance(layer, Dropout):
                layer.rng = rngs[k]
        members.append(_Member(c, view, k))
    opt = make_optimizer(configs, [model.flat_params], [model.flat_grads], fused=fused)
    step = fast.train_step if fused else train_step
    before = [np.empty_like(lin.params["W"]) for lin in model.linears]  # weights before a diagnosed step
    active = list(members)  # row r of the stack is active[r]
    n, bs = Xtr.shape[1], min(first.batch_size, Xtr.shape[1])
    Xflat, yflat = Xtr.reshape(-1, Xtr.shape[2]), ytr.reshape(-1)
    starts = batch_starts(n, bs, first.batch_norm)
    with np.errstate(all="ignore"):
        for epoch in range(first.epochs):
            lrs = [lr_at(m.config.schedule, epoch, m.config.epochs, m.config.lr, m.config.warmup) for m in active]
            opt.lr = np.array(lrs, dtype=float)
            rows = np.array([m.row for m in active])[:, None]  # each member's own data
            offsets = rows * n
            order = np.stack([orders[m.row].permutation(n) for m in active])
            K = len(active)
            loss_sum, correct, seen = np.zeros(K), np.zeros(K, dtype=np.int64), 0
            diag = None
            with step_threads(model, opt, bs):  # the validation pass keeps the default BLAS threads
                for j, s in enumerate(starts):
                    idx = order[:, s : s + bs]
                    at = (idx + offsets).reshape(-1)  # rows of the (K N, d) training data
                    xb, yb = Xflat[at].reshape(len(idx), -1, Xflat.shape[1]), yflat[at].reshape(idx.shape)
                    if j == 0:
                        for buf, lin in zip(before, model.linears):
                            np.copyto(buf, lin.params["W"])
                    loss, logits = step(model, opt, xb, yb)
                    loss = np.reshape(loss, K)
                    if not np.isfinite(loss).all():  # a member diverged: keep its state as a lone run stops
                        for r, m in enumerate(active):
                            if m.snapshot is None and not math.isfinite(loss[r]):
                                m.snapshot = [a.copy() for a in model.member_state(r)]
                        if all(m.snapshot is not None for m in active):
                            break
                    if j == 0:
                        diag = _diagnose(model, before, epoch, first.activation)
                    loss_sum += loss * idx.shape[1]
                    correct += (logits.argmax(-1) == yb).sum(-1)
                    seen += idx.shape[1]
            nan = np.full(K, math.nan)
            if all(m.snapshot is not None for m in active):
                val_loss, val_acc, test_loss, test_acc, tr_loss, tr_acc = (nan,) * 6
            else:
                sel = slice(None) if K == len(members) else rows[:, 0]  # no copy while all train
                val_loss, val_acc = evaluate(model, Xva[sel], yva[sel])
                test_loss, test_acc = evaluate(model, Xte[sel], yte[sel])
                tr_loss, tr_acc = evaluate(model, Xtr[sel], ytr[sel]) if eval_train else (nan, nan)
            leaving = []
            for r, m in enumerate(active):
                hist = m.hist
                if m.snapshot is not None or not math.isfinite(val_loss[r]):
                    hist.diverged_epoch, hist.stop_reason = epoch, "diverged"
                    leaving.append(r)
                    continue
                hist.epoch.append(epoch)
                hist.lr.append(float(lrs[r]))
                hist.train_loss.append(float(tr_loss[r]))
                hist.val_loss.append(float(val_loss[r]))
                hist.train_acc.append(float(tr_acc[r]))
                hist.val_acc.append(float(val_acc[r]))
                hist.test_loss.append(float(test_loss[r]))
                hist.test_acc.append(float(test_acc[r]))
                hist.train_loss_running.append(float(loss_sum[r]) / seen)
                hist.train_acc_running.append(int(correct[r]) / seen)
                hist.layers.extend(diag[r])
                if val_loss[r] < m.best[0]:
                    kept = None
                    if m.stopper is not None:  # the best weights, copied into the same buffers each time
                        kept = m.best[2] or [np.empty_like(a) for a in model.member_state(r)]
                        for dst, src in zip(kept, model.member_state(r)):
                            np.copyto(dst, src)
                    m.best = (float(val_loss[r]), epoch, kept)
                hist.best_epoch = m.best[1]
                if m.stopper is not None and m.stopper.check(val_loss[r], ()):
                    hist.stopped_epoch, hist.stop_reason = epoch, "early_stopping"
                    leaving.append(r)
                    continue
                if on_epoch is not None:
                    hist.model.load_state(model.member_state(r))
                    if on_epoch(epoch, hist) is False:
                        hist.stopped_epoch, hist.stop_reason = epoch, "callback"
                        leaving.append(r)
            if leaving:
                for r in leaving:
                    _finish(active[r], model.member_state(r), t0)
                keep = [r for r in range(len(active)) if r not in leaving]
                active = [active[r] for r in keep]
                if not active:
                    break
                model.select(keep)
                opt.select(keep)
                opt.rebind([model.flat_params], [model.flat_grads])
                before = [np.empty_like(lin.params["W"]) for lin in model.linears]
    for r, m in enumerate(active):
        _finish(m, model.member_state(r), t0)
    return [m.hist for m in members]


def _finish(member: _Member, state: list, t0: float) -> None:
    """Close a member's History as a lone run closes it, its model holding its final weights."""
    hist, config = member.hist, member.config
    hist.model.load_state(member.snapshot if member.snapshot is not None else state)
    if hist.val_acc:
        best = member.best
        restore = member.stopper is not None and config.restore_best and best[2] is not None
        if restore:
            hist.model.load_state(best[2])
        at = best[1] if restore else -1
        hist.final_val_acc, hist.final_test_acc = hist.val_acc[at], hist.test_acc[at]
    if hist.stopped_epoch is None and hist.epoch:
        hist.stopped_epoch = hist.epoch[-1]
    hist.seconds = time.perf_counter() - t0


def train(config: TrainConfig, on_epoch=None, data=None, dtype=np.float32, fused=True, eval_train=True) -> History:
    """Train the MLP that ``config`` describes and return its :class:`History`: a stack of one,
    ``train_stacked([config], on_epoch, data, dtype, fused, eval_train)[0]``.

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
    return train_stacked([config], on_epoch=on_epoch, data=data, dtype=dtype, fused=fused, eval_train=eval_train)[0]
