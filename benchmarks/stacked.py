"""Stacked training: K seeds as one stacked run, against one run, K lone runs and torch.func.

On digits (depth 10, batch 64, 5 epochs, Adam, BatchNorm, the default warmup-cosine schedule),
each round times, in one process and in a rotating order:

* ``one``: ``engine.train.train`` for seed 0 alone;
* ``stack``: ``engine.train.train_stacked`` on seeds 0..K-1 (each member on its own split);
* ``lone``: ``train`` on those K seeds one after another;
* ``torch``: PyTorch training the same K members with ``torch.func`` (``stack_module_state`` +
  ``vmap(functional_call)``, its model-ensembling recipe, BatchNorm's running statistics
  stacked with the buffers), one ``torch.optim.Adam`` over the stacked parameters, the same
  batches, a running training-loss/accuracy tally and, every epoch, eval-mode passes over the
  training, validation and test splits (as the engine does).

Everything runs on the same threads: NumPy's BLAS and ``torch.set_num_threads`` both get
``--threads`` (default 1: the engine runs these small matmuls on one thread anyway). The table
gives, per width, the median over rounds of the per-round ratios and their range (min-max):
a ratio measured within one round cancels the slow drifts of a shared machine. Times are
wall-clock; ``--cpu`` uses the process's CPU time instead (steadier when other processes
share the cores: every side here is single-threaded).

``--breakdown`` times instead one training step (``engine.fused.train_step``, the fast path)
of one network and of the stack of K, and the step's matrix products alone (the forward
``x @ W``, the backward ``dy @ W.T`` and ``x.T @ dy`` of every Linear, on arrays of the same
shapes), the minimum over rounds of 50 steps each: how much of the stack's cost over one
network's is the K matmuls, which no element-wise saving can remove.

    python benchmarks/stacked.py                       # widths 32, 64, 128; 7 rounds
    python benchmarks/stacked.py --widths 64 --rounds 11 --json /tmp/stacked.json
    python benchmarks/stacked.py --breakdown --widths 32,64 --cpu
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _configs(width, k, epochs):
    from engine.train import TrainConfig

    base = TrainConfig(depth=10, width=width, batch_size=64, epochs=epochs, batch_norm=True, optimizer="adam")
    return [base.replace(seed=s) for s in range(k)]


def _torch_trainer(configs, splits):
    """A function that trains ``configs`` with torch.func as one vmapped ensemble; returns val accs."""
    import copy

    import numpy as np
    import torch
    import torch.nn.functional as F
    from torch import nn
    from torch.func import functional_call, stack_module_state, vmap

    from engine.layers import batch_starts
    from engine.schedules import lr_at

    cfg = configs[0]
    k = len(configs)
    Xtr = torch.from_numpy(np.stack([s.X_train.astype(np.float32) for s in splits]))
    ytr = torch.from_numpy(np.stack([s.y_train for s in splits]))
    Xva = torch.from_numpy(np.stack([s.X_val.astype(np.float32) for s in splits]))
    yva = torch.from_numpy(np.stack([s.y_val for s in splits]))
    Xte = torch.from_numpy(np.stack([s.X_test.astype(np.float32) for s in splits]))
    yte = torch.from_numpy(np.stack([s.y_test for s in splits]))
    n, bs = Xtr.shape[1], cfg.batch_size
    starts = batch_starts(n, bs)
    rows = torch.arange(k)[:, None]

    def net(seed):
        torch.manual_seed(seed)
        layers, fan_in = [], Xtr.shape[2]
        for _ in range(cfg.depth):
            lin = nn.Linear(fan_in, cfg.width, bias=False)
            nn.init.kaiming_normal_(lin.weight, nonlinearity="relu")
            layers += [lin, nn.BatchNorm1d(cfg.width), nn.ReLU()]
            fan_in = cfg.width
        return nn.Sequential(*layers, nn.Linear(fan_in, int(ytr.max()) + 1))

    def run():
        models = [net(c.seed) for c in configs]
        params, buffers = stack_module_state(models)
        base = copy.deepcopy(models[0]).to("meta")

        def forward(p, b, x):
            return functional_call(base, (p, b), (x,))

        opt = torch.optim.Adam(list(params.values()), lr=cfg.lr)
        gens = [torch.Generator().manual_seed(c.seed) for c in configs]
        accs = None
        for epoch in range(cfg.epochs):
            for group in opt.param_groups:
                group["lr"] = float(lr_at(cfg.schedule, epoch, cfg.epochs, cfg.lr, cfg.warmup))
            base.train()
            order = torch.stack([torch.randperm(n, generator=g) for g in gens])
            loss_sum, correct, seen = torch.zeros(k), torch.zeros(k), 0
            for s in starts:
                idx = order[:, s : s + bs]
                xb, yb = Xtr[rows, idx], ytr[rows, idx]
                logits = vmap(forward)(params, buffers, xb)
                losses = F.cross_entropy(logits.flatten(0, 1), yb.flatten(), reduction="none").view(k, -1).mean(1)
                opt.zero_grad(set_to_none=True)
                losses.sum().backward()
                opt.step()
                with torch.no_grad():
                    loss_sum += losses.detach() * idx.shape[1]
                    correct += (logits.argmax(-1) == yb).sum(1)
                    seen += idx.shape[1]
            base.eval()  # the engine's end-of-epoch passes: train (eval mode), test, validation
            with torch.no_grad():
                for X, y in ((Xtr, ytr), (Xte, yte), (Xva, yva)):
                    logits = vmap(forward)(params, buffers, X)
                    accs = (logits.argmax(-1) == y).float().mean(1)
        return accs.tolist()

    return run


def _step_and_matmuls(width, members):
    """(one training step, the step's matmuls alone) of a stack of ``members``, as two functions."""
    import numpy as np

    from engine.fused import FusedAdam, train_step
    from engine.network import MLP

    rng = np.random.default_rng(0)
    sizes = [64] + [width] * 10 + [10]
    model = MLP(sizes, batch_norm=True, rng=[np.random.default_rng(i) for i in range(members)])
    opt = FusedAdam([model.flat_params], [model.flat_grads], lr=[1e-4] * members)
    xb = rng.standard_normal((members, 64, sizes[0])).astype(np.float32)
    yb = rng.integers(0, sizes[-1], (members, 64))
    layers = [
        (
            rng.standard_normal((members, a, b)).astype(np.float32),  # W
            rng.standard_normal((members, 64, a)).astype(np.float32),  # x
            rng.standard_normal((members, 64, b)).astype(np.float32),  # dy
        )
        for a, b in zip(sizes[:-1], sizes[1:])
    ]

    def step():
        train_step(model, opt, xb, yb)

    def matmuls():
        for W, x, _ in layers:
            np.matmul(x, W)
        for i in reversed(range(len(layers))):
            W, x, dy = layers[i]
            np.matmul(x.mT, dy)
            if i:  # training skips the data's gradient
                np.matmul(dy, W.mT)

    return step, matmuls


def _breakdown(width, k, rounds, clock, steps=50):
    """{1: {"step", "matmuls"}, k: {...}}: seconds per step, the minimum over ``rounds`` rounds of
    ``steps`` steps, the four timings interleaved in every round."""
    fns = {(m, name): fn for m in (1, k) for name, fn in zip(("step", "matmuls"), _step_and_matmuls(width, m))}
    times = {key: [] for key in fns}
    for _ in range(rounds + 1):  # the first round warms up
        for key, fn in fns.items():
            t0 = clock()
            for _ in range(steps):
                fn()
            times[key].append((clock() - t0) / steps)
    out = {1: {}, k: {}}
    for (m, name), v in times.items():
        out[m][name] = min(v[1:])
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--widths", default="32,64,128", help="comma-separated widths")
    ap.add_argument("--k", type=int, default=5, help="members of the stack")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=7, help="interleaved rounds per width")
    ap.add_argument("--threads", type=int, default=1, help="BLAS and torch threads")
    ap.add_argument("--cpu", action="store_true", help="time the process's CPU time, not the wall clock")
    ap.add_argument("--no-torch", action="store_true", help="skip the torch.func side")
    ap.add_argument("--breakdown", action="store_true", help="time one step and its matmuls alone, K = 1 and K")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args(argv)

    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    # isort: off
    import engine  # noqa: F401 - first: it sets OpenBLAS's spin before NumPy loads it
    import numpy as np

    # isort: on
    from threadpoolctl import threadpool_limits

    threadpool_limits(args.threads, user_api="blas")
    from engine.datasets import load
    from engine.train import train, train_stacked

    torch = None
    if not args.no_torch:
        import torch

        torch.set_num_threads(args.threads)
    clock = time.process_time if args.cpu else time.perf_counter
    if args.breakdown:
        k = args.k
        print(f"one training step (Adam, BN, depth 10, batch 64), min of {args.rounds} rounds of 50 steps, ms")
        print(
            f"| width | one: step | one: matmuls | stack of {k}: step | stack: matmuls | step {k}/1 "
            f"| matmuls {k}/1 | rest {k}/1 |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        rows = []
        for width in [int(w) for w in args.widths.split(",")]:
            b = _breakdown(width, k, args.rounds, clock)
            one, st = b[1], b[k]
            rest = (st["step"] - st["matmuls"]) / (one["step"] - one["matmuls"])
            rows.append({"width": width, "one": one, "stack": st})
            print(
                f"| {width} | {one['step'] * 1e3:.3f} | {one['matmuls'] * 1e3:.3f} | {st['step'] * 1e3:.3f} "
                f"| {st['matmuls'] * 1e3:.3f} | {st['step'] / one['step']:.2f} | {st['matmuls'] / one['matmuls']:.2f} "
                f"| {rest:.2f} |",
                flush=True,
            )
        if args.json:
            Path(args.json).write_text(json.dumps(rows, indent=1))
        return
    results = []
    for width in [int(w) for w in args.widths.split(",")]:
        configs = _configs(width, args.k, args.epochs)
        splits = [load("digits", c.seed) for c in configs]
        sides = {
            "one": lambda cs=configs, ss=splits: train(cs[0], data=ss[0]).val_acc[-1],
            "stack": lambda cs=configs, ss=splits: [h.val_acc[-1] for h in train_stacked(cs, data=ss)],
            "lone": lambda cs=configs, ss=splits: [train(c, data=s).val_acc[-1] for c, s in zip(cs, ss)],
        }
        if torch is not None:
            sides["torch"] = _torch_trainer(configs, splits)
        names = list(sides)
        for fn in sides.values():  # warm-up
            fn()
        times = {name: [] for name in names}
        accs = {}
        for r in range(args.rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                t0 = clock()
                accs[name] = sides[name]()
                times[name].append(clock() - t0)
        rounds = list(zip(*(times[name] for name in names)))
        per = {name: i for i, name in enumerate(names)}
        ratios = {
            "stack_over_one": [t[per["stack"]] / t[per["one"]] for t in rounds],
            "lone_over_stack": [t[per["lone"]] / t[per["stack"]] for t in rounds],
        }
        if torch is not None:
            ratios["stack_over_torch"] = [t[per["stack"]] / t[per["torch"]] for t in rounds]
        row = {
            "width": width,
            "k": args.k,
            "seconds": {name: statistics.median(v) for name, v in times.items()},
            "ratios": {key: statistics.median(v) for key, v in ratios.items()},
            "spread": {key: (min(v), max(v)) for key, v in ratios.items()},
            "val_acc": accs,
        }
        results.append(row)
        print(
            f"width {width:4d}: one {row['seconds']['one']:.3f} s, stack of {args.k} {row['seconds']['stack']:.3f} s, "
            f"{args.k} lone {row['seconds']['lone']:.3f} s"
            + (f", torch.func {row['seconds']['torch']:.3f} s" if torch is not None else ""),
            flush=True,
        )
    labels = {
        "stack_over_one": f"stack of {args.k} / one run",
        "lone_over_stack": f"{args.k} lone runs / stack (speed-up)",
        "stack_over_torch": "stack / torch.func (engine / torch)",
    }
    print()
    print(
        f"digits, depth 10, batch 64, {args.epochs} epochs, K = {args.k}, {args.threads} thread(s), "
        f"{'CPU' if args.cpu else 'wall'} time, median of {args.rounds} rounds (min-max)"
    )
    print("| width | " + " | ".join(labels[key] for key in results[0]["ratios"]) + " |")
    print("|---|" + "---|" * len(results[0]["ratios"]))
    for row in results:
        cells = [
            f"{row['ratios'][key]:.2f} ({row['spread'][key][0]:.2f}-{row['spread'][key][1]:.2f})"
            for key in row["ratios"]
        ]
        print(f"| {row['width']} | " + " | ".join(cells) + " |")
    if args.json:
        meta = {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "machine": platform.machine(),
            "torch": getattr(torch, "__version__", None),
            "threads": args.threads,
            "cpu_time": args.cpu,
            "date": time.strftime("%Y-%m-%d"),
        }
        Path(args.json).write_text(json.dumps({"meta": meta, "results": results}, indent=1))


if __name__ == "__main__":
    main()
